//! The identity of code compiled ahead of time: what must be equal for a
//! compiled module to be right for this runtime on this machine.

/// How youki-wamrc compiles (see its `options()`): LLVM optimisation and
/// size levels 3, software bounds checks on every memory access, stack
/// bounds checks, code for this machine's CPU. Change it whenever the
/// compiler's options change, so that older cache entries stop matching.
pub const AOT_OPTIONS: &str = "o3s3-bounds-stack-hostcpu";

/// `wamr<version>-aot<format>-<arch>-<cpu>-<options>`: the runtime's WAMR
/// version and AOT format, the architecture, a fingerprint of the CPU
/// (code compiled for one CPU may use instructions another lacks) and
/// [`AOT_OPTIONS`]. Cheap: youki computes it at every `create`.
pub fn aot_identity(wamr_version: &str, aot_format: u32) -> String {
    format!(
        "wamr{wamr_version}-aot{aot_format}-{}-{:016x}-{AOT_OPTIONS}",
        std::env::consts::ARCH,
        cpu_fingerprint()
    )
}

/// FNV-1a over the CPU's vendor, family/model/stepping and feature bits
/// (CPUID leaves 0, 1 and 7), leaving out the per-core APIC id.
#[cfg(target_arch = "x86_64")]
fn cpu_fingerprint() -> u64 {
    use std::arch::x86_64::__cpuid_count;
    #[allow(unused_unsafe)]
    // SAFETY: every x86_64 CPU has CPUID; leaves 0, 1 and 7 only read
    // identification and feature registers (an unsupported leaf 7 reads as
    // zeros or as the highest leaf, the same on every call).
    let words = unsafe {
        let vendor = __cpuid_count(0, 0);
        let signature = __cpuid_count(1, 0);
        let extended = __cpuid_count(7, 0);
        [
            vendor.ebx,
            vendor.edx,
            vendor.ecx,
            signature.eax,
            signature.ecx,
            signature.edx,
            extended.ebx,
            extended.ecx,
            extended.edx,
        ]
    };
    fnv1a(words.iter().flat_map(|w| w.to_le_bytes()))
}

/// Elsewhere the compiler's target is the architecture's baseline only in
/// name; without a portable CPU id the fingerprint is the architecture's.
#[cfg(not(target_arch = "x86_64"))]
fn cpu_fingerprint() -> u64 {
    fnv1a(std::env::consts::ARCH.bytes())
}

/// FNV-1a, 64 bits: a cheap, stable hash (not for adversarial input).
pub(crate) fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_names_version_format_architecture_and_options() {
        let id = aot_identity("2.4.3", 6);
        assert!(
            id.starts_with(&format!("wamr2.4.3-aot6-{}-", std::env::consts::ARCH)),
            "{id}"
        );
        assert!(id.ends_with(AOT_OPTIONS), "{id}");
        assert_eq!(id, aot_identity("2.4.3", 6), "the identity is stable");
        assert_ne!(id, aot_identity("2.4.4", 6));
    }
}
