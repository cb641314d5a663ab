//! Where container state lives: `--root`, else `/run/youki` as root, else a
//! per-user directory for rootless use (the order runc uses).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use libcontainer::syscall::syscall::create_syscall;
use libcontainer::utils::{create_dir_all_with_mode, rootless_required};
use nix::sys::stat::Mode;
use nix::unistd::getuid;

const ROOTFUL_STATE_ROOT: &str = "/run/youki";

pub fn determine(root_flag: Option<PathBuf>) -> Result<PathBuf> {
    let uid = getuid().as_raw();
    if let Some(path) = root_flag {
        create_private_dir(&path, uid)?;
        return path
            .canonicalize()
            .with_context(|| format!("failed to resolve state root {}", path.display()));
    }

    let rootless = rootless_required(&*create_syscall())
        .context("failed to tell whether youki runs rootless")?;
    if !rootless {
        let path = PathBuf::from(ROOTFUL_STATE_ROOT);
        create_private_dir(&path, uid)?;
        return Ok(path);
    }

    let candidates = [
        std::env::var_os("XDG_RUNTIME_DIR").map(|dir| PathBuf::from(dir).join("youki")),
        Some(PathBuf::from(format!("/run/user/{uid}/youki"))),
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".youki/run")),
        Some(std::env::temp_dir().join(format!("youki-{uid}"))),
    ];
    for path in candidates.into_iter().flatten() {
        if create_private_dir(&path, uid).is_ok() {
            return Ok(path);
        }
    }
    bail!("no usable state root: pass --root")
}

fn create_private_dir(path: &Path, uid: u32) -> Result<()> {
    create_dir_all_with_mode(path, uid, Mode::S_IRWXU)
        .with_context(|| format!("failed to create state root {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_root_is_created_and_canonical() {
        let tmp = tempfile::tempdir().unwrap();
        let wanted = tmp.path().join("a/../state");
        let got = determine(Some(wanted)).unwrap();
        assert_eq!(got, tmp.path().canonicalize().unwrap().join("state"));
        assert!(got.is_dir());
    }
}
