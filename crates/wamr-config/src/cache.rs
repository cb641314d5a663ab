//! The layout of the node's cache of compiled modules, which youki reads and
//! writes (on a miss) and `youki-wamrc --precompile` fills ahead of time:
//! `<dir>/<module sha256>-<identity>.aot`, with the SHA-256 of its bytes in
//! `<...>.sha256` beside it, in a directory only its owner (root, on a
//! node) can write.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The cache directory, if not [`DEFAULT_CACHE_DIR`] (for tests and for
/// nodes that keep caches elsewhere).
pub const CACHE_DIR_ENV: &str = "YOUKI_WAMR_AOT_CACHE";
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/youki/wamr-aot";

/// `$YOUKI_WAMR_AOT_CACHE`, else [`DEFAULT_CACHE_DIR`].
pub fn cache_dir() -> PathBuf {
    std::env::var_os(CACHE_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR), PathBuf::from)
}

/// A module's SHA-256, which keys its entries.
pub fn module_sha256(wasm: &[u8]) -> [u8; 32] {
    Sha256::digest(wasm).into()
}

/// Where the code compiled from the module with this hash, of this
/// identity ([`crate::aot_identity`]), is kept.
pub fn entry_path(dir: &Path, module_sha256: &[u8; 32], identity: &str) -> PathBuf {
    dir.join(format!("{}-{identity}.aot", hex(module_sha256)))
}

/// Where the SHA-256 of an entry's bytes is kept, beside the entry.
pub fn digest_path(entry: &Path) -> PathBuf {
    entry.with_extension("sha256")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Records the SHA-256 of the entry as it is now, once it has been written
/// by the compiler: code is run only if it still has it ([`check_digest`]).
/// One write of 64 bytes: a torn one only fails the check, and the entry is
/// compiled again.
pub fn record_digest(entry: &Path) -> Result<(), String> {
    let code = std::fs::read(entry).map_err(|e| format!("{}: {e}", entry.display()))?;
    let path = digest_path(entry);
    std::fs::write(&path, hex(&Sha256::digest(&code)))
        .map_err(|e| format!("could not write {}: {e}", path.display()))
}

/// Whether `code`, read from `entry`, has the digest recorded for it: a
/// flipped bit in an entry, or an entry without a digest, is not run.
pub fn check_digest(entry: &Path, code: &[u8]) -> Result<(), String> {
    let path = digest_path(entry);
    let recorded = std::fs::read_to_string(&path)
        .map_err(|e| format!("no digest for the entry ({}: {e})", path.display()))?;
    if recorded.trim() != hex(&Sha256::digest(code)) {
        return Err(format!(
            "its bytes do not have the digest recorded in {}",
            path.display()
        ));
    }
    Ok(())
}

/// Creates the directory (mode 0700) if need be, and refuses one that
/// anyone but its owner, this process's user, could write: its files are
/// native code that runs in containers.
pub fn prepare_cache_dir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("could not create the cache {}: {e}", dir.display()))?;
    let metadata = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: geteuid cannot fail and has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if !metadata.is_dir() || metadata.uid() != euid || metadata.permissions().mode() & 0o022 != 0 {
        return Err(format!(
            "the cache {} must be a directory that only its owner, this user, can write",
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("aot");
        prepare_cache_dir(&cache).unwrap();
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare_cache_dir(&cache).unwrap_err();
        assert!(err.contains("only its owner"), "{err}");
    }

    #[test]
    fn an_entry_runs_only_with_the_digest_recorded_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("e.aot");
        std::fs::write(&entry, b"\0aot code").unwrap();
        let err = check_digest(&entry, b"\0aot code").unwrap_err();
        assert!(err.contains("no digest"), "{err}");
        record_digest(&entry).unwrap();
        check_digest(&entry, b"\0aot code").unwrap();
        let err = check_digest(&entry, b"\0aot cod3").unwrap_err();
        assert!(err.contains("do not have the digest"), "{err}");
    }

    #[test]
    fn entries_are_named_by_hash_and_identity() {
        let entry = entry_path(Path::new("/c"), &module_sha256(b""), "id");
        assert_eq!(
            entry,
            Path::new("/c/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855-id.aot")
        );
    }
}
