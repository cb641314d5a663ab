//! AOT code mapped from its file rather than read into the heap.
//!
//! WAMR keeps an AOT module's buffer for the module's life (see
//! `Runtime::load_checked`). Mapped copy-on-write from the cache file, its
//! pages are that file's page cache, which every container running the same
//! module shares, instead of a private heap copy in each.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// A private, writable (copy-on-write) mapping of a whole file.
#[derive(Debug)]
pub struct MappedCode {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: MappedCode owns its mapping alone (nothing else holds the pointer
// until it is handed to WAMR together with the MappedCode), and has no
// interior mutability: moving it to another thread moves sole ownership.
unsafe impl Send for MappedCode {}

impl MappedCode {
    /// Maps `file`, which must not be empty.
    pub fn map(file: &File) -> std::io::Result<Self> {
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| std::io::Error::other("file too large to map"))?;
        if len == 0 {
            return Err(std::io::Error::other("empty file"));
        }
        // SAFETY: a fresh mapping chosen by the kernel, of a file descriptor
        // that is open for the call; the mapping outlives the descriptor.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| std::io::Error::other("null mapping"))?;
        Ok(Self { ptr, len })
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is len bytes, readable, and lives as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for MappedCode {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping map() made, once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_reads_the_file_and_writes_stay_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code");
        std::fs::write(&path, b"\0aot-code").unwrap();
        let mut code = MappedCode::map(&File::open(&path).unwrap()).unwrap();
        assert_eq!(code.as_slice(), b"\0aot-code");
        // SAFETY: the first byte of a live, writable mapping.
        unsafe { *code.as_mut_ptr() = b'X' };
        assert_eq!(code.as_slice()[0], b'X');
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"\0aot-code",
            "the file is untouched"
        );
        std::fs::write(&path, b"").unwrap();
        assert!(MappedCode::map(&File::open(&path).unwrap()).is_err());
    }
}
