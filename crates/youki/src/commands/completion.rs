use std::io;

use anyhow::Result;
use clap::{Args, Command};
use clap_complete::{Shell, generate};

#[derive(Debug, Args)]
pub struct Completion {
    /// the shell to generate the completion script for
    #[arg(long = "shell", short = 's', value_enum)]
    pub shell: Shell,
}

/// Prints a completion script for the given shell on standard output.
pub fn completion(args: Completion, app: &mut Command) -> Result<()> {
    let name = app.get_name().to_owned();
    generate(args.shell, app, name, &mut io::stdout());
    Ok(())
}
