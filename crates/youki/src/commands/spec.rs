use std::fs::OpenOptions;
use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use nix::unistd::{getegid, geteuid};
use oci_spec::runtime::Spec;

/// Writes a default `config.json` into the bundle (the current directory by
/// default); `--rootless` maps the caller's user into a user namespace.
pub fn spec(args: liboci_cli::Spec) -> Result<()> {
    let spec = if args.rootless {
        Spec::rootless(geteuid().as_raw(), getegid().as_raw())
    } else {
        Spec::default()
    };
    let path = args.bundle.unwrap_or_default().join("config.json");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    let mut writer = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut writer, &spec)?;
    writer.flush()?;
    Ok(())
}
