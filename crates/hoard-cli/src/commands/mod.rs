//! One module per group of commands; [`run()`] dispatches a parsed command line.

mod config;
mod docs;
mod entry;
mod maintain;
mod run;
mod survey;
mod verify;

use std::io::Write;

use crate::cli::{Cli, Command, ConfigCommand};
use crate::context::Settings;
use crate::error::{CliError, CliResult, Status};
use crate::output::Output;

/// Runs the command `cli` names.
pub(crate) fn run(cli: &Cli, out: Output) -> CliResult {
    // The commands that need no configuration (and must work when it is broken).
    match &cli.command {
        Command::Completions { shell } => return write_stdout(&docs::completions(*shell)),
        Command::Man { command } => return write_stdout(&docs::man(command)?),
        Command::Config(ConfigCommand::Path) => return config::path(cli.config.as_deref(), out),
        Command::Config(ConfigCommand::New { path }) => {
            return config::new(path.as_deref(), cli.config.as_deref(), out);
        }
        _ => {}
    }
    let settings = Settings::load(cli, out)?;
    match &cli.command {
        Command::Put { key, file } => entry::put(&settings, out, key, file.as_deref()),
        Command::Get { key, output } => entry::get(&settings, out, key, output.as_deref()),
        Command::Rm { key } => entry::rm(&settings, out, key),
        Command::Run { key, command } => run::run(&settings, out, key.as_deref(), command),
        Command::Inspect { key, format } => entry::inspect(&settings, out, key, format.json),
        Command::Ls { format } => survey::ls(&settings, out, format.json),
        Command::Stats { zero, format } => survey::stats(&settings, out, *zero, format.json),
        Command::Verify { repair, format } => verify::verify(&settings, out, *repair, format.json),
        Command::Gc {
            max_size,
            max_files,
            format,
        } => maintain::gc(&settings, out, *max_size, *max_files, format.json),
        Command::Evict {
            older_than,
            namespace,
            format,
        } => maintain::evict(&settings, out, *older_than, namespace.as_ref(), format.json),
        Command::Clear { format } => maintain::clear(&settings, out, format.json),
        Command::Recompress { level, format } => {
            maintain::recompress(&settings, out, *level, format.json)
        }
        Command::Config(ConfigCommand::Show) => config::show(&settings),
        // Handled above, before the configuration is loaded.
        Command::Config(ConfigCommand::Path | ConfigCommand::New { .. })
        | Command::Completions { .. }
        | Command::Man { .. } => Ok(Status::Success),
    }
}

fn write_stdout(bytes: &[u8]) -> CliResult {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::output(&e))?;
    Ok(Status::Success)
}
