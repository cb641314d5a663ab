//! A binary module's sections, read without WAMR:
//!
//! - [`check`] bounds what loading can cost before WAMR allocates anything:
//!   WAMR allocates for what a module declares (a section, a vector of
//!   entries) before it finds out the file does not hold it, so a small
//!   file could make it allocate many times its size;
//! - [`memory_limits`] tells the module's memory, which the export API only
//!   describes when it is exported, for an embedder that caps memory.
//!
//! The reader never trusts a declared length beyond the bytes it has.

/// The limits of a linear memory, in 64 KiB pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    pub initial_pages: u64,
    pub max_pages: Option<u64>,
}

const MAGIC: &[u8; 4] = b"\0asm";
const SECTION_IMPORT: u8 = 2;
const SECTION_MEMORY: u8 = 5;
const SECTION_CUSTOM: u8 = 0;
/// The last section id the binary format knows (tag, from exception handling).
const SECTION_LAST: u8 = 13;
/// More sections than any module has: the format allows one of each id but
/// custom ones, and toolchains write a handful of those.
const MAX_SECTIONS: usize = 1024;

/// Checks that every section lies within the module, that custom sections
/// hold their name, that there are not more sections than [`MAX_SECTIONS`],
/// and that no section declares more entries than it has bytes. Errors use
/// WAMR's words for what WAMR would also find.
pub fn check(module: &[u8]) -> Result<(), String> {
    let mut reader = Reader { bytes: module };
    if module.len() < 4 || reader.take(4)? != MAGIC {
        return Err("magic header not detected".to_owned());
    }
    if reader.take(4)? != [1, 0, 0, 0] {
        return Err("unknown binary version".to_owned());
    }
    let mut sections = 0;
    while !reader.bytes.is_empty() {
        sections += 1;
        if sections > MAX_SECTIONS {
            return Err(format!("more than {MAX_SECTIONS} sections"));
        }
        let id = reader.byte()?;
        if id > SECTION_LAST {
            return Err(format!("unknown section id {id}"));
        }
        let size = usize::try_from(reader.leb()?).map_err(|_| "section too large")?;
        let mut section = Reader {
            bytes: reader.take(size)?,
        };
        match id {
            SECTION_CUSTOM => section.name()?,
            // start (8) holds an index, data count (12) a count of another
            // section's entries; the others begin with a vector of entries,
            // each at least a byte long.
            8 | 12 => {}
            _ => {
                let size = section.bytes.len();
                let count = section.leb()?;
                if count > size as u64 {
                    return Err(format!(
                        "section {id} declares {count} entries in {size} bytes"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The module's first memory, defined or imported; `Ok(None)` when it has none.
pub fn memory_limits(module: &[u8]) -> Result<Option<MemoryLimits>, String> {
    let mut reader = Reader { bytes: module };
    if reader.take(4)? != MAGIC {
        return Err("not a binary module".to_owned());
    }
    reader.take(4)?; // version
    while !reader.bytes.is_empty() {
        let id = reader.byte()?;
        let size = usize::try_from(reader.leb()?).map_err(|_| "section too large")?;
        let mut section = Reader {
            bytes: reader.take(size)?,
        };
        match id {
            SECTION_IMPORT => {
                if let Some(limits) = section.imported_memory()? {
                    return Ok(Some(limits));
                }
            }
            SECTION_MEMORY => {
                return if section.leb()? == 0 {
                    Ok(None)
                } else {
                    section.limits().map(Some)
                };
            }
            // Sections come in order: past memories, there are none.
            id if id != SECTION_CUSTOM && id > SECTION_MEMORY => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        if len > self.bytes.len() {
            return Err("unexpected end".to_owned());
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    /// An unsigned LEB128 number of at most 64 bits.
    fn leb(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("integer too long".to_owned())
    }

    fn name(&mut self) -> Result<(), String> {
        let len = usize::try_from(self.leb()?).map_err(|_| "name too long")?;
        self.take(len).map(drop)
    }

    fn limits(&mut self) -> Result<MemoryLimits, String> {
        let flags = self.leb()?;
        let initial_pages = self.leb()?;
        let max_pages = if flags & 1 == 1 {
            Some(self.leb()?)
        } else {
            None
        };
        Ok(MemoryLimits {
            initial_pages,
            max_pages,
        })
    }

    /// Walks the import section; the first imported memory's limits.
    fn imported_memory(&mut self) -> Result<Option<MemoryLimits>, String> {
        for _ in 0..self.leb()? {
            self.name()?;
            self.name()?;
            match self.byte()? {
                // function: a type index
                0x00 => drop(self.leb()?),
                // table: an element type, then limits
                0x01 => {
                    self.byte()?;
                    self.limits()?;
                }
                0x02 => return self.limits().map(Some),
                // global: a value type and mutability
                0x03 => drop(self.take(2)?),
                // tag: an attribute and a type index
                0x04 => {
                    self.byte()?;
                    self.leb()?;
                }
                kind => return Err(format!("unknown import kind {kind:#x}")),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(wat: &str) -> Option<MemoryLimits> {
        memory_limits(&wat::parse_str(wat).unwrap()).unwrap()
    }

    #[test]
    fn defined_exported_or_not() {
        let exported = limits(r#"(module (memory (export "memory") 3 10))"#);
        assert_eq!(
            exported,
            Some(MemoryLimits {
                initial_pages: 3,
                max_pages: Some(10)
            })
        );
        let hidden =
            limits(r#"(module (type (func)) (func (type 0)) (table 1 funcref) (memory 1200))"#);
        assert_eq!(
            hidden,
            Some(MemoryLimits {
                initial_pages: 1200,
                max_pages: None
            })
        );
    }

    #[test]
    fn imported_after_other_imports() {
        let imported = limits(
            r#"(module
                (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
                (import "env" "t" (table 1 2 funcref))
                (import "env" "g" (global i32))
                (import "env" "memory" (memory 17 20)))"#,
        );
        assert_eq!(
            imported,
            Some(MemoryLimits {
                initial_pages: 17,
                max_pages: Some(20)
            })
        );
    }

    #[test]
    fn check_bounds_what_loading_costs() {
        let valid = wat::parse_str(
            r#"(module (memory (export "memory") 1) (func (export "_start")) (@custom "x" "y"))"#,
        )
        .unwrap();
        assert_eq!(check(&valid), Ok(()));
        assert_eq!(
            check(b"#!/bin/sh"),
            Err("magic header not detected".to_owned())
        );
        assert_eq!(
            check(b"\0asm\x02\0\0\0"),
            Err("unknown binary version".to_owned())
        );
        let mut truncated = valid.clone();
        truncated.truncate(valid.len() - 3);
        assert_eq!(check(&truncated), Err("unexpected end".to_owned()));
        // A header and zeros: empty custom sections without a name, which
        // WAMR would allocate for, one by one.
        let mut zeros = b"\0asm\x01\0\0\0".to_vec();
        zeros.resize(1 << 20, 0);
        assert_eq!(check(&zeros), Err("unexpected end".to_owned()));
        // Many well-formed custom sections.
        let mut many = b"\0asm\x01\0\0\0".to_vec();
        for _ in 0..=MAX_SECTIONS {
            many.extend_from_slice(&[0, 2, 1, b'x']);
        }
        assert_eq!(
            check(&many),
            Err(format!("more than {MAX_SECTIONS} sections"))
        );
        // A function section that declares a billion functions in 6 bytes.
        let huge = b"\0asm\x01\0\0\0\x03\x05\x80\x94\xeb\xdc\x03".to_vec();
        assert_eq!(
            check(&huge),
            Err("section 3 declares 1000000000 entries in 5 bytes".to_owned())
        );
    }

    #[test]
    fn none_and_malformed() {
        assert_eq!(limits(r#"(module (func (export "_start")))"#), None);
        assert!(memory_limits(b"#!/bin/sh").is_err());
        let mut truncated = wat::parse_str(r#"(module (memory 1))"#).unwrap();
        truncated.pop();
        assert!(memory_limits(&truncated).is_err());
        // A declared size beyond the file is an error, not a read past its end.
        assert!(memory_limits(b"\0asm\x01\0\0\0\x05\xff\xff\xff\xff\x0f").is_err());
    }
}
