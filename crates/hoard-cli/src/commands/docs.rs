//! `hoard completions SHELL` and `hoard man [COMMAND]`, both generated from the clap
//! definition so that they cannot drift from the parser.

use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::Cli;
use crate::error::{CliError, CliResult};

/// The completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "hoard", &mut buf);
    buf
}

/// What the generated page of the top command lacks, in roff: how keys are made, where the
/// configuration comes from, and the exit statuses (clap's `after_long_help` would render
/// as a section titled EXTRA).
const MAIN_PAGE_SECTIONS: &str = r#".SH KEYS
KEY is any string. It is hashed with the configured key hasher inside the namespace,
exactly as the library's \fBCache::key\fR does for a byte string, so the command and the
programs using the cache see the same entries.
.SH ENVIRONMENT
.TP
\fBHOARD_CONFIG\fR
The configuration file to read instead of the platform location; it must exist.
.TP
\fBHOARD_CACHE_DIR\fR
The cache directory when neither \fB\-\-dir\fR nor the configuration's \fBdirectory\fR
key names one; an absolute path.
.TP
\fBXDG_CONFIG_HOME\fR, \fBXDG_CACHE_HOME\fR
Where the platform locations below are (by default ~/.config and ~/.cache). On Windows
the known folders \fB%APPDATA%\fR and \fB%LOCALAPPDATA%\fR take their place.
.SH FILES
.TP
~/.config/hoard/config.toml
The configuration file: a [cache] table in the format of wasmtime's cache. If it does
not exist, the defaults apply; \fBhoard config new\fR writes one listing every key.
.TP
~/.cache/hoard
The default cache directory.
.SH "EXIT STATUS"
.TP
0
Success; for \fBget\fR and \fBinspect\fR, a hit.
.TP
1
A miss for \fBget\fR or \fBinspect\fR; bad entries found by \fBverify\fR without
\fB\-\-repair\fR.
.TP
2
A usage error, an unreadable configuration or an I/O failure. One line on stderr names
the path or key. Also \fBgc\fR, \fBevict\fR and \fBstats \-\-zero\fR when another process
holds the lock they need for more than 2 s: "busy: DIR/state/cleanup.lock is held by
another process".
.TP
\fBrun\fR
The status of the command it ran (128 + N when signal N ended it), or 0 on a hit; 2 when
the command cannot be started.
"#;

/// The man page of the top command, or of the command at `path` (`["config", "new"]`).
pub(crate) fn man(path: &[String]) -> CliResult<Vec<u8>> {
    let mut root = Cli::command();
    // Building sets the subcommands' display names (`hoard-gc`) that titles the pages.
    root.build();
    let mut cmd = &root;
    for name in path {
        cmd = cmd.find_subcommand(name).ok_or_else(|| {
            let known: Vec<&str> = cmd
                .get_subcommands()
                .map(clap::Command::get_name)
                .filter(|n| *n != "help")
                .collect();
            CliError::new(format!(
                "no command `{}`: the commands are {}",
                path.join(" "),
                known.join(", ")
            ))
        })?;
    }
    let page = Man::new(cmd.clone()).source(format!("hoard {}", env!("CARGO_PKG_VERSION")));
    let mut buf = Vec::new();
    let failed = |e: std::io::Error| CliError::new(format!("cannot render the man page: {e}"));
    if !path.is_empty() {
        page.render(&mut buf).map_err(failed)?;
        return Ok(buf);
    }
    page.render_title(&mut buf).map_err(failed)?;
    page.render_name_section(&mut buf).map_err(failed)?;
    page.render_synopsis_section(&mut buf).map_err(failed)?;
    page.render_description_section(&mut buf).map_err(failed)?;
    page.render_options_section(&mut buf).map_err(failed)?;
    page.render_subcommands_section(&mut buf).map_err(failed)?;
    buf.extend_from_slice(MAIN_PAGE_SECTIONS.as_bytes());
    page.render_version_section(&mut buf).map_err(failed)?;
    Ok(buf)
}
