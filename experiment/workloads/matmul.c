// CPU-bound workload for experiment/compute.py: multiplies two 256x256
// integer matrices 8 times and prints a checksum, so that no engine can skip
// the work. Built as a WASI module and as a static native binary.
#include <stdint.h>
#include <stdio.h>

#define N 256
#define ROUNDS 8

static int32_t a[N][N], b[N][N], c[N][N];

int main(void) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            a[i][j] = (i * 31 + j * 17) % 97;
            b[i][j] = (i * 13 + j * 7) % 89;
        }
    uint32_t checksum = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                int32_t sum = 0;
                for (int k = 0; k < N; k++)
                    sum += a[i][k] * b[k][j];
                c[i][j] = sum;
            }
        checksum = checksum * 31u + (uint32_t)c[round][N - 1 - round];
        a[round][round] += 1;
    }
    printf("checksum %u\n", checksum);
    return 0;
}
