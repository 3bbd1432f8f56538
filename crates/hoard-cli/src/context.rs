//! From options to an open cache: which configuration, which directory, which namespace,
//! and whether the directory may be opened at all.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use hoard::evict::Janitor;
use hoard::{Cache, CacheBuilder, CacheConfig, FsOptions, FsStore, Namespace};

use crate::cli::Cli;
use crate::error::{CliError, CliResult};
use crate::output::Output;

/// The names hoard itself puts at the root of a cache directory (hoard-fs's layout). A
/// directory holding anything else and no `v1/` is not a cache, and is not opened: opening
/// would drop a `CACHEDIR.TAG` into it, and backup tools skip a directory so tagged.
const OWN_ROOT_NAMES: [&str; 3] = ["CACHEDIR.TAG", "v1", "state"];

/// The configuration in effect and where it came from.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The configuration, with `--dir` and `--namespace` applied.
    pub(crate) config: CacheConfig,
    /// The file it was read from; `None` for the defaults.
    pub(crate) file: Option<PathBuf>,
    /// The cache directory.
    pub(crate) dir: PathBuf,
    /// `--namespace`, which also restricts the commands that look at the whole cache.
    pub(crate) only: Option<Namespace>,
}

impl Settings {
    /// Loads the configuration the options and the environment point at.
    pub(crate) fn load(cli: &Cli, out: Output) -> CliResult<Self> {
        let (mut config, file) = match &cli.config {
            Some(path) => (CacheConfig::load(path)?, Some(path.clone())),
            None => {
                let config = CacheConfig::load_default()?;
                // load_default read this file if it exists, else used the defaults.
                let file = CacheConfig::default_config_path()
                    .ok()
                    .filter(|p| p.is_file());
                (config, file)
            }
        };
        if let Some(dir) = &cli.dir {
            let dir = std::path::absolute(dir)
                .map_err(|e| CliError::file("cannot resolve the directory", dir, &e))?;
            config.directory = Some(dir);
        }
        if let Some(ns) = &cli.namespace {
            config.namespace = ns.as_str().to_owned();
        }
        config.validate()?;
        let dir = config.cache_dir()?;
        match &file {
            Some(f) => out.detail(&format!("configuration: {}", f.display())),
            None => out.detail("configuration: the defaults (no configuration file)"),
        }
        out.detail(&format!("cache directory: {}", dir.display()));
        Ok(Self {
            config,
            file,
            dir,
            only: cli.namespace.clone(),
        })
    }

    /// Whether entries of `ns` are in the scope of a whole-cache command.
    pub(crate) fn includes(&self, ns: &Namespace) -> bool {
        self.only.as_ref().is_none_or(|only| only == ns)
    }

    /// Opens the cache, creating its directory if needed (for `put`).
    pub(crate) fn open_or_create(&self) -> CliResult<Opened> {
        if let DirState::Foreign = dir_state(&self.dir)? {
            return Err(self.foreign());
        }
        self.open()
    }

    /// Opens the cache if there is one: a directory that does not exist yet (or is empty)
    /// is left alone and `None` returned, since reading an empty cache needs no directory.
    pub(crate) fn open_existing(&self) -> CliResult<Option<Opened>> {
        match dir_state(&self.dir)? {
            DirState::Foreign => Err(self.foreign()),
            DirState::Missing | DirState::Empty => Ok(None),
            DirState::Cache => self.open().map(Some),
        }
    }

    fn foreign(&self) -> CliError {
        CliError::new(format!(
            "{} is not a hoard cache directory: it holds other files and no v1/ directory; \
             pass the cache's own directory with --dir",
            self.dir.display()
        ))
    }

    fn open(&self) -> CliResult<Opened> {
        let cache = CacheBuilder::from_config(&self.config)?.build()?;
        // A second handle on the same directory, for what the cache does not expose: entry
        // paths and listings with their frames. Both resolve every path beneath the root.
        let store = FsStore::open_with(
            &self.dir,
            FsOptions::new()
                .durability(self.config.durability)
                .group_shared(self.config.group_shared),
        )?;
        Ok(Opened { cache, store })
    }
}

/// An open cache directory.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The cache, as a program configured like this one sees it (its worker running).
    pub(crate) cache: Cache,
    /// The same directory as a store.
    pub(crate) store: FsStore,
}

impl Opened {
    /// The maintenance operations, with the configuration's limits and the cache's codecs.
    pub(crate) fn janitor(&self) -> CliResult<&Janitor> {
        self.cache.worker().map(|w| w.janitor()).ok_or_else(|| {
            CliError::new(format!(
                "the eviction worker of {} did not start, so maintenance cannot run",
                self.store.root().display()
            ))
        })
    }
}

enum DirState {
    Missing,
    Empty,
    Cache,
    Foreign,
}

fn dir_state(dir: &Path) -> CliResult<DirState> {
    let cannot = |e: &std::io::Error| CliError::file("cannot inspect cache directory", dir, e);
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DirState::Missing),
        Err(e) => return Err(cannot(&e)),
        // A symlink or a file: the store refuses it with the precise reason.
        Ok(m) if !m.is_dir() => return Ok(DirState::Cache),
        Ok(_) => {}
    }
    // A `v1/` anywhere makes it a cache, whatever the listing order (alphabetical on
    // Windows, hashed on ext4): other names seen before it do not decide.
    let (mut empty, mut foreign) = (true, false);
    for entry in std::fs::read_dir(dir).map_err(|e| cannot(&e))? {
        let name = entry.map_err(|e| cannot(&e))?.file_name();
        if name == OsStr::new("v1") {
            return Ok(DirState::Cache);
        }
        foreign |= !OWN_ROOT_NAMES.iter().any(|own| name == OsStr::new(own));
        empty = false;
    }
    Ok(if foreign {
        DirState::Foreign
    } else if empty {
        DirState::Empty
    } else {
        DirState::Cache
    })
}

/// The decoders of every codec built into the command (plugin codecs are not known to it),
/// made once per process: a zstd codec carries its pool of contexts.
pub(crate) fn decoders() -> &'static hoard::Decoders {
    static DECODERS: std::sync::OnceLock<hoard::Decoders> = std::sync::OnceLock::new();
    DECODERS.get_or_init(hoard::builtin_decoders)
}
