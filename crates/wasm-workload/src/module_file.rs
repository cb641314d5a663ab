//! Reading a module file, for every engine, the way a runtime must read a
//! file that a container image chose: only a regular file, opened without
//! blocking (a FIFO would hang `youki create`), never a device (`/dev/zero`
//! would grow the process without bound), and never more than a limit.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use oci_spec::runtime::Spec;

use crate::{NOT_FOUND, parse_size};

/// Caps the size of a module file (bytes, with `K`/`M`/`G` suffixes).
pub const MAX_MODULE_SIZE_ANNOTATION: &str = "io.youki.wasm.max-module-size";
/// The cap without the annotation.
pub const DEFAULT_MAX_MODULE_SIZE: u64 = 256 * 1024 * 1024;
/// Under a memory limit a module may be at most this fraction of it: an
/// engine holds the binary and its own form of the code (WAMR's fast
/// interpreter: the binary and about four times its size; see wamr.rs).
const MEMORY_LIMIT_SHARE: u64 = 5;

/// The most bytes the container's module may have: the annotation's value
/// or the default, and no more than a fifth of the memory limit.
pub fn max_size(spec: &Spec) -> Result<u64, String> {
    let configured = match spec
        .annotations()
        .as_ref()
        .and_then(|annotations| annotations.get(MAX_MODULE_SIZE_ANNOTATION))
    {
        Some(value) => parse_size(MAX_MODULE_SIZE_ANNOTATION, value)?,
        None => DEFAULT_MAX_MODULE_SIZE,
    };
    Ok(match memory_limit(spec) {
        Some(limit) => configured.min(limit / MEMORY_LIMIT_SHARE),
        None => configured,
    })
}

/// `linux.resources.memory.limit`, when it sets one.
pub fn memory_limit(spec: &Spec) -> Option<u64> {
    spec.linux()
        .as_ref()
        .and_then(|linux| linux.resources().as_ref())
        .and_then(|resources| resources.memory().as_ref())
        .and_then(|memory| memory.limit())
        .and_then(|limit| u64::try_from(limit).ok())
        .filter(|&limit| limit > 0)
}

/// Opens `path` for reading if it is a regular file, without blocking.
fn open_regular(path: &Path) -> Result<(std::fs::File, u64), String> {
    let not_regular = |kind: std::fs::FileType| {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a fifo"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        format!("it is {what}, not a regular file")
    };
    // Refused before it is opened: opening a device or a fifo can block or
    // act on it.
    let kind = std::fs::metadata(path)
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => NOT_FOUND.to_owned(),
            _ => err.to_string(),
        })?
        .file_type();
    if !kind.is_file() {
        return Err(not_regular(kind));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|err| err.to_string())?;
    // It may have been swapped since: check what was opened.
    let metadata = file.metadata().map_err(|err| err.to_string())?;
    if !metadata.file_type().is_file() {
        return Err(not_regular(metadata.file_type()));
    }
    Ok((file, metadata.len()))
}

/// The bytes of the module file at `path`, at most `max`.
pub fn read(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let (file, len) = open_regular(path)?;
    read_opened(file, len, max)
}

/// The bytes of an open regular file of `len` bytes, at most `max`.
pub fn read_opened(file: std::fs::File, len: u64, max: u64) -> Result<Vec<u8>, String> {
    let too_large = |size: u64| {
        format!(
            "it is {}, over the {} a module may have here \
             ({MAX_MODULE_SIZE_ANNOTATION}, at most a fifth of the memory limit)",
            mib(size),
            mib(max)
        )
    };
    if len > max {
        return Err(too_large(len));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // One byte more than allowed tells a file that grew since.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| err.to_string())?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Whether the file at `path` starts with the Wasm binary magic. Anything
/// that is not a regular file is not a module.
pub fn has_wasm_magic(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    open_regular(path)
        .and_then(|(mut file, _)| file.read_exact(&mut magic).map_err(|err| err.to_string()))
        .is_ok_and(|()| &magic == b"\0asm")
}

/// Bytes as MiB with one decimal, for messages.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read_and_never_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("m.wasm");
        std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
        assert_eq!(read(&module, 8).unwrap().len(), 8);
        assert!(has_wasm_magic(&module));
        let err = read(&module, 7).unwrap_err();
        assert!(err.starts_with("it is 0.0 MiB, over the 0.0 MiB"), "{err}");

        // A fifo would block open(); a device would never end.
        let fifo = dir.path().join("fifo.wasm");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(
            read(&fifo, 8).unwrap_err(),
            "it is a fifo, not a regular file"
        );
        assert!(!has_wasm_magic(&fifo));
        assert_eq!(
            read(Path::new("/dev/zero"), 8).unwrap_err(),
            "it is a device, not a regular file"
        );
        assert_eq!(
            read(dir.path(), 8).unwrap_err(),
            "it is a directory, not a regular file"
        );
        // Through a link, what it points to counts.
        let link = dir.path().join("zero.wasm");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert_eq!(
            read(&link, 8).unwrap_err(),
            "it is a device, not a regular file"
        );
        assert_eq!(read(&dir.path().join("none"), 8).unwrap_err(), NOT_FOUND);
    }
}
