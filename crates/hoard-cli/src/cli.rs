//! The command line, as clap sees it: the single definition that parsing, `--help`, the
//! shell completions and the man page are all generated from.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgGroup, Args, Parser, Subcommand};
use hoard::Namespace;

/// What `--help` and the man page say after the options: the contract scripts rely on.
const AFTER_HELP: &str = "\
KEY is any string: it is hashed with the configured key hasher inside the namespace, exactly as \
the library's Cache::key does, so the command and programs see the same entries.

Without --dir and --config, the configuration file is $HOARD_CONFIG, else \
~/.config/hoard/config.toml ($XDG_CONFIG_HOME; on Windows %APPDATA%\\hoard\\config.toml) if it \
exists (else the defaults), and the cache directory is the file's `directory`, else \
$HOARD_CACHE_DIR, else ~/.cache/hoard ($XDG_CACHE_HOME; on Windows %LOCALAPPDATA%\\hoard).

Exit status: 0 success (and a hit for get); 1 a miss for get or inspect, or bad entries found \
by verify without --repair; 2 a usage error, an unreadable configuration or an I/O failure; \
run: the command's own status (128 + N if signal N ended it), 0 on a hit.";

/// Operate a hoard cache directory: store and fetch entries, list and verify them, trim the
/// cache to its limits, evict old entries and recompress.
#[derive(Debug, Parser)]
#[command(name = "hoard", version, after_long_help = AFTER_HELP)]
pub(crate) struct Cli {
    /// The cache directory [default: the configuration's `directory`, else $HOARD_CACHE_DIR,
    /// else ~/.cache/hoard; on Windows %LOCALAPPDATA%\hoard]
    #[arg(long, value_name = "DIR", global = true)]
    pub(crate) dir: Option<PathBuf>,

    /// The configuration file [default: $HOARD_CONFIG, else ~/.config/hoard/config.toml if it
    /// exists; on Windows %APPDATA%\hoard\config.toml]
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) config: Option<PathBuf>,

    /// The namespace KEY lives in [default: the configuration's]; ls, stats, verify, clear and
    /// recompress then look at this namespace only (without it: every namespace)
    #[arg(long, value_name = "NS", value_parser = parse_namespace)]
    pub(crate) namespace: Option<Namespace>,

    /// Say more on stderr: where the configuration and the cache are, timings
    #[arg(short, long, action = ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub(crate) verbose: u8,

    /// Say nothing on stderr but errors: no progress bars, notes or warnings
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,

    /// The operation
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The operations.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Store FILE's bytes (standard input for - or no FILE) under KEY
    Put {
        /// The key
        key: String,
        /// The file to store; - for standard input
        #[arg(value_name = "FILE|-")]
        file: Option<PathBuf>,
    },

    /// Write the bytes stored under KEY to standard output or FILE; exit 1 on a miss
    Get {
        /// The key
        key: String,
        /// Write to FILE (created or truncated, only on a hit) instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },

    /// Remove the entry for KEY
    Rm {
        /// The key
        key: String,
    },

    /// Run CMD once per key: print its standard output stored under KEY (the command line by
    /// default) without running it, or run it and store what it printed if it exited 0
    Run {
        /// The key [default: the command line, each argument's bytes length-prefixed]; `hoard
        /// get KEY` then prints the stored output
        #[arg(long)]
        key: Option<String>,
        /// The command and its arguments, after `--`
        #[arg(
            value_name = "CMD",
            required = true,
            last = true,
            num_args = 1..,
            value_parser = clap::value_parser!(std::ffi::OsString)
        )]
        command: Vec<std::ffi::OsString>,
    },

    /// Show where the entry for KEY lives and every field of its frame header
    Inspect {
        /// The key
        key: String,
        #[command(flatten)]
        format: Format,
    },

    /// List the entries: digest, namespace, sizes, codec, level, creation and last use
    Ls {
        #[command(flatten)]
        format: Format,
    },

    /// Summarise the cache: entries, sizes, compression, limits, namespaces, ages, and the
    /// lifetime counters of every process that used it
    Stats {
        /// Then zero the lifetime counters (the figures shown are those they held, read and
        /// zeroed under one lock so that no count is lost in between)
        #[arg(short, long)]
        zero: bool,
        #[command(flatten)]
        format: Format,
    },

    /// Check every entry's frame, checksum and payload; list the bad ones (exit 1 if any)
    Verify {
        /// Remove the entries that fail verification
        #[arg(long)]
        repair: bool,
        #[command(flatten)]
        format: Format,
    },

    /// Clean up now: evict the least recently used entries until the cache is within its
    /// limits (the configured ones, or those given), and sweep stale temp files
    Gc {
        /// The size limit (e.g. 512Mi, 2G) instead of `files-total-size-soft-limit`
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
        /// The entry count limit (e.g. 10000, 64K) instead of `file-count-soft-limit`
        #[arg(long, value_name = "N", value_parser = parse_count)]
        max_files: Option<u64>,
        #[command(flatten)]
        format: Format,
    },

    /// Evict the entries last used more than DUR ago, or every entry of a namespace
    #[command(group(ArgGroup::new("what").required(true).args(["older_than", "namespace"])))]
    Evict {
        /// Evict entries (of every namespace) last used longer ago than DUR (e.g. 30d, 12h)
        #[arg(long, value_name = "DUR", value_parser = parse_duration)]
        older_than: Option<Duration>,
        /// Evict every entry of namespace NS
        #[arg(long, value_name = "NS", value_parser = parse_namespace)]
        namespace: Option<Namespace>,
        #[command(flatten)]
        format: Format,
    },

    /// Remove every entry (hoard's own files only: anything else in the directory stays)
    Clear {
        #[command(flatten)]
        format: Format,
    },

    /// Recompress every entry with zstd at level N and report the bytes saved
    Recompress {
        /// The zstd level, from -131072 (fastest) to 22 (smallest)
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        level: i32,
        #[command(flatten)]
        format: Format,
    },

    /// Create, show or locate the configuration file
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Print the completion script for SHELL (source it, or install it where SHELL looks)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },

    /// Print the man page hoard(1), or a command's (hoard man gc: hoard-gc(1)), in roff;
    /// read it with `hoard man | man -l -`
    Man {
        /// The command whose page to print (`gc`, `config new`)
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
    },
}

/// `hoard config ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Write a configuration file listing every key with its default, commented out; never
    /// overwrites
    New {
        /// Where [default: --config, else $HOARD_CONFIG, else the platform location]
        path: Option<PathBuf>,
    },
    /// Print the configuration in effect (file, environment and options applied) as TOML
    Show,
    /// Print the path of the configuration file that is read
    Path,
}

/// `--json`, shared by the commands that report something.
#[derive(Clone, Copy, Debug, Args)]
pub(crate) struct Format {
    /// Print JSON (one object; the schema is in the crate README) instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

fn parse_namespace(text: &str) -> Result<Namespace, hoard::Error> {
    Namespace::new(text)
}

fn parse_size(text: &str) -> Result<u64, hoard::Error> {
    hoard::units::parse_size(text)
}

fn parse_count(text: &str) -> Result<u64, hoard::Error> {
    hoard::units::parse_count(text)
}

fn parse_duration(text: &str) -> Result<Duration, hoard::Error> {
    hoard::units::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn evict_needs_exactly_one_criterion() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|c| c.command);
        assert!(parse(&["hoard", "evict"]).is_err());
        assert!(parse(&["hoard", "evict", "--older-than", "1d", "--namespace", "a"]).is_err());
        assert!(matches!(
            parse(&["hoard", "evict", "--older-than", "2h"]),
            Ok(Command::Evict { older_than: Some(d), namespace: None, .. }) if d.as_secs() == 7200
        ));
        assert!(parse(&["hoard", "evict", "--older-than", "2 weeks"]).is_err());
    }

    #[test]
    fn global_options_go_anywhere_but_the_namespace_goes_first() {
        let cli = Cli::try_parse_from(["hoard", "--namespace", "n1", "get", "k", "--dir", "/d"])
            .expect("valid");
        assert_eq!(cli.dir, Some(PathBuf::from("/d")));
        assert_eq!(cli.namespace.as_ref().map(Namespace::as_str), Some("n1"));
        assert!(Cli::try_parse_from(["hoard", "--namespace", "../x", "ls"]).is_err());
        assert!(Cli::try_parse_from(["hoard", "-v", "-q", "ls"]).is_err());
        let cli = Cli::try_parse_from(["hoard", "recompress", "--level", "-5"]).expect("valid");
        assert!(matches!(cli.command, Command::Recompress { level: -5, .. }));
        let cli = Cli::try_parse_from(["hoard", "run", "--key", "k", "--", "cc", "-c", "--x"])
            .expect("valid");
        assert!(
            matches!(&cli.command, Command::Run { key: Some(k), command } if k == "k" && command.len() == 3)
        );
        assert!(Cli::try_parse_from(["hoard", "run", "--key", "k"]).is_err());
        let cli = Cli::try_parse_from(["hoard", "stats", "-z", "--json"]).expect("valid");
        assert!(matches!(
            cli.command,
            Command::Stats {
                zero: true,
                format: Format { json: true }
            }
        ));
    }
}
