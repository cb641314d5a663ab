// A real program's work for experiment/compute.py: zstd (the library, from
// the zstd.c amalgamation that the `zstandard` sdist on PyPI ships, fetched
// by compute.py, never stored here) compresses and decompresses 24 MiB of
// generated text, checks the round trip and prints the sizes and a checksum.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zstd.h"

#define INPUT_SIZE (24u << 20)
#define LEVEL 6

static const char *words[] = {
    "container", "runtime", "module", "memory", "linear", "stack", "trap",
    "sandbox", "kernel", "cgroup", "namespace", "pod", "node", "engine",
    "interpreter", "compiler", "cache", "the", "a", "of", "and", "to", "in",
};

int main(void) {
    char *input = malloc(INPUT_SIZE);
    size_t bound = ZSTD_compressBound(INPUT_SIZE);
    char *packed = malloc(bound);
    char *unpacked = malloc(INPUT_SIZE);
    if (!input || !packed || !unpacked) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    uint32_t state = 12345;
    size_t at = 0;
    while (at < INPUT_SIZE) {
        state = state * 1103515245u + 12345u;
        const char *word = words[(state >> 16) % (sizeof words / sizeof *words)];
        size_t len = strlen(word);
        if (at + len + 1 > INPUT_SIZE)
            break;
        memcpy(input + at, word, len);
        at += len;
        input[at++] = ((state >> 8) & 15) == 0 ? '\n' : ' ';
    }
    memset(input + at, '.', INPUT_SIZE - at);

    size_t packed_size = ZSTD_compress(packed, bound, input, INPUT_SIZE, LEVEL);
    if (ZSTD_isError(packed_size)) {
        fprintf(stderr, "compress: %s\n", ZSTD_getErrorName(packed_size));
        return 1;
    }
    size_t unpacked_size = ZSTD_decompress(unpacked, INPUT_SIZE, packed, packed_size);
    if (ZSTD_isError(unpacked_size) || unpacked_size != INPUT_SIZE ||
        memcmp(input, unpacked, INPUT_SIZE) != 0) {
        fprintf(stderr, "round trip failed\n");
        return 1;
    }
    uint32_t checksum = 0;
    for (size_t i = 0; i < packed_size; i++)
        checksum = checksum * 31u + (uint8_t)packed[i];
    printf("checksum %u: %u bytes to %zu at level %d and back\n", checksum, INPUT_SIZE,
           packed_size, LEVEL);
    return 0;
}
