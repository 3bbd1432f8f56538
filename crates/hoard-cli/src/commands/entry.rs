//! The commands on one entry, named by KEY: `put`, `get`, `rm`, `inspect`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Seek, Write};
#[cfg(unix)]
use std::os::fd::AsFd;
#[cfg(windows)]
use std::os::windows::io::AsHandle;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoard::frame::FrameHeader;
use hoard::{ErrorKind, Key};
use serde::Serialize;

use crate::context::Settings;
use crate::error::{CliError, CliResult, Status};
use crate::human;
use crate::output::{Output, print, print_json};
use crate::scan::{self, Verdict};

/// `hoard put KEY [FILE|-]`.
pub(crate) fn put(
    settings: &Settings,
    out: Output,
    key_text: &str,
    file: Option<&Path>,
) -> CliResult {
    // Read first: a missing or oversized input then leaves the cache untouched.
    let data = read_input(file, settings.config.max_entry_size, out)?;
    let opened = settings.open_or_create()?;
    let key = opened.cache.key(key_text);
    opened
        .cache
        .try_put(&key, &data)
        .map_err(|e| CliError::hoard(format_args!("cannot store key {key_text:?}"), &e))?;
    Ok(Status::Success)
}

/// The bytes of `file` (standard input for `-` or none), at most `max` of them.
///
/// An input whose size is known (a regular file, named or redirected to standard input) is
/// refused from that size before anything is read. Any other (a pipe, a device such as
/// `/dev/zero`) is read through `Read::take` up to one byte past the cap and refused at
/// that byte: it never costs more memory than the largest value the cache would take.
fn read_input(file: Option<&Path>, max: u64, out: Output) -> CliResult<Vec<u8>> {
    match file.filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            let f = File::open(path).map_err(|e| CliError::file("cannot open input", path, &e))?;
            let meta = f
                .metadata()
                .map_err(|e| CliError::file("cannot inspect input", path, &e))?;
            let known = meta.is_file().then_some(meta.len());
            read_bounded(f, known, max, &format!("input {}", path.display()), |e| {
                CliError::file("cannot read input", path, e)
            })
        }
        None => {
            let stdin = io::stdin();
            if stdin.is_terminal() {
                out.note("reading the value from standard input (end it with Ctrl-D)");
            }
            read_bounded(stdin.lock(), stdin_len(), max, "standard input", |e| {
                CliError::new(format!(
                    "cannot read standard input: {}",
                    crate::error::lowercase_first(&e.to_string())
                ))
            })
        }
    }
}

/// What is left to read of standard input when it is a regular file (`< file`): its size
/// past the current offset. `None` for a pipe, a terminal or a device.
fn stdin_len() -> Option<u64> {
    #[cfg(unix)]
    let duplicate = io::stdin().as_fd().try_clone_to_owned().ok()?;
    #[cfg(windows)]
    let duplicate = io::stdin().as_handle().try_clone_to_owned().ok()?;
    let mut f = File::from(duplicate);
    let meta = f.metadata().ok().filter(std::fs::Metadata::is_file)?;
    // The duplicate shares the offset: asking for it moves nothing.
    let at = f.stream_position().ok()?;
    Some(meta.len().saturating_sub(at))
}

/// Reads `input` (called `what` in messages), at most `max` bytes: refused at once when its
/// `known` length is above, otherwise as soon as a byte past `max` arrives.
fn read_bounded(
    input: impl Read,
    known: Option<u64>,
    max: u64,
    what: &str,
    read_failed: impl FnOnce(&io::Error) -> CliError,
) -> CliResult<Vec<u8>> {
    let refuse = |size: &str| {
        CliError::new(format!(
            "{what} {size} the {max}-byte max entry size (`max-entry-size`); nothing was stored"
        ))
    };
    let mut data = Vec::new();
    if let Some(len) = known {
        if len > max {
            return Err(refuse(&format!("is {len} bytes, above")));
        }
        // Exactly the input's size, so the value costs no more memory than itself.
        data.try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
            .map_err(|_| CliError::new(format!("cannot allocate {len} bytes for {what}")))?;
    }
    input
        .take(max.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| read_failed(&e))?;
    if data.len() as u64 > max {
        return Err(refuse("is larger than"));
    }
    Ok(data)
}

/// `hoard get KEY [-o FILE]`.
pub(crate) fn get(
    settings: &Settings,
    out: Output,
    key_text: &str,
    output: Option<&Path>,
) -> CliResult {
    let namespace = &settings.config.namespace;
    // With a remote tier, an empty local cache can still hit (and keeps the backfill).
    let opened = if settings.config.remote.is_some() {
        Some(settings.open_or_create()?)
    } else {
        settings.open_existing()?
    };
    let Some(opened) = opened else {
        out.note(&format!(
            "miss: no entry for key {key_text:?} in namespace {namespace} (the cache at {} is empty)",
            settings.dir.display()
        ));
        return Ok(Status::Negative);
    };
    let key = opened.cache.key(key_text);
    // The cache removes an entry that fails verification and counts a removal that failed
    // (a symlinked directory on its path, which hoard never removes through; a cache this
    // user cannot write) as an error: the only way to tell which happened.
    let errors_before = opened.cache.stats().errors;
    let value = match opened.cache.try_get(&key) {
        Ok(Some(value)) => value,
        Ok(None) => {
            out.note(&format!(
                "miss: no entry for key {key_text:?} in namespace {namespace}"
            ));
            return Ok(Status::Negative);
        }
        Err(e) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Insecure) => {
            let removed = opened.cache.stats().errors == errors_before;
            // Left in place, the message names the path: that is where the user has to look.
            out.note(&match (removed, e.kind()) {
                (true, _) => format!(
                    "miss: the entry for key {key_text:?} failed verification and was removed: {}",
                    e.message()
                ),
                (false, ErrorKind::Insecure) => format!(
                    "miss: the entry for key {key_text:?} was not read and was left in place, \
                     since hoard neither follows nor removes through a symlink: {e}"
                ),
                (false, _) => format!(
                    "miss: the entry for key {key_text:?} failed verification and could not be \
                     removed: {e}"
                ),
            });
            return Ok(Status::Negative);
        }
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::Unsupported | ErrorKind::TooLarge | ErrorKind::Unauthenticated
            ) =>
        {
            out.note(&format!(
                "miss: the entry for key {key_text:?} cannot be read here: {}",
                e.message()
            ));
            return Ok(Status::Negative);
        }
        Err(e) => {
            return Err(CliError::hoard(
                format_args!("cannot read key {key_text:?}"),
                &e,
            ));
        }
    };
    match output {
        Some(path) => {
            let mut f =
                File::create(path).map_err(|e| CliError::file("cannot create output", path, &e))?;
            f.write_all(&value)
                .and_then(|()| f.flush())
                .map_err(|e| CliError::file("cannot write output", path, &e))?;
        }
        None => {
            let mut stdout = io::stdout().lock();
            stdout
                .write_all(&value)
                .and_then(|()| stdout.flush())
                .map_err(|e| CliError::output(&e))?;
        }
    }
    Ok(Status::Success)
}

/// `hoard rm KEY`.
pub(crate) fn rm(settings: &Settings, out: Output, key_text: &str) -> CliResult {
    let namespace = &settings.config.namespace;
    let removed = match settings.open_existing()? {
        Some(opened) => {
            let key = opened.cache.key(key_text);
            opened
                .cache
                .try_remove(&key)
                .map_err(|e| CliError::hoard(format_args!("cannot remove key {key_text:?}"), &e))?
        }
        None => false,
    };
    if !removed {
        out.note(&format!(
            "nothing to remove: no entry for key {key_text:?} in namespace {namespace}"
        ));
    }
    Ok(Status::Success)
}

/// `hoard inspect KEY --json`: see the crate README for the schema.
#[derive(Debug, Serialize)]
struct Inspection {
    key: String,
    namespace: String,
    hasher: String,
    digest: String,
    path: String,
    status: Verdict,
    reason: Option<String>,
    stored_bytes: u64,
    modified_unix_ms: Option<i64>,
    accessed_unix_ms: Option<i64>,
    header: Option<HeaderJson>,
}

/// Every field of a frame header.
#[derive(Debug, Serialize)]
struct HeaderJson {
    version: u16,
    payload_offset: usize,
    hasher: String,
    codec: String,
    level: i32,
    flags: u32,
    decoded_len: u64,
    payload_len: u64,
    created_unix_ms: u64,
    digest: String,
    checksum: String,
}

impl From<&FrameHeader> for HeaderJson {
    fn from(h: &FrameHeader) -> Self {
        Self {
            version: h.version,
            payload_offset: h.payload_offset,
            hasher: h.hasher.name(),
            codec: h.codec.name(),
            level: h.level,
            flags: h.flags,
            decoded_len: h.decoded_len,
            payload_len: h.payload_len,
            created_unix_ms: h.created_unix_ms,
            digest: h.digest.to_hex(),
            checksum: format!("{:032x}", h.checksum),
        }
    }
}

/// `hoard inspect KEY`.
pub(crate) fn inspect(settings: &Settings, out: Output, key_text: &str, json: bool) -> CliResult {
    let namespace = &settings.config.namespace;
    let miss = || {
        out.note(&format!(
            "miss: no entry for key {key_text:?} in namespace {namespace}"
        ));
        Ok(Status::Negative)
    };
    let Some(opened) = settings.open_existing()? else {
        return miss();
    };
    let key: Key = opened.cache.key(key_text);
    let ns = opened.cache.namespace();
    let path = opened.store.entry_path(ns, key.digest());
    // Taken before the read, which may move the access time (see `AtimeKeeper`).
    let meta = std::fs::symlink_metadata(&path).ok();
    let examined = scan::examine(
        &opened.store,
        ns,
        key.digest(),
        settings.config.max_entry_size,
        opened.cache.mac_keys(),
        true,
    )
    .map_err(|e| CliError::hoard(format_args!("cannot read key {key_text:?}"), &e))?;
    let Some(examined) = examined else {
        return miss();
    };
    if let Some(accessed) = meta.as_ref().and_then(|m| m.accessed().ok()) {
        let info = hoard::EntryInfo::new(ns.clone(), *key.digest(), 0, None, Some(accessed));
        scan::AtimeKeeper::new(&opened.store).read(&info);
    }
    let report = Inspection {
        key: key_text.to_owned(),
        namespace: ns.as_str().to_owned(),
        hasher: key.hasher().name(),
        digest: key.digest().to_hex(),
        path: path.display().to_string(),
        status: examined.verdict,
        reason: examined.reason.clone(),
        stored_bytes: meta.as_ref().map_or(0, std::fs::Metadata::len),
        modified_unix_ms: meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .map(scan::unix_ms),
        accessed_unix_ms: meta
            .as_ref()
            .and_then(|m| m.accessed().ok())
            .map(scan::unix_ms),
        header: examined.header.as_ref().map(HeaderJson::from),
    };
    if json {
        print_json(&report)?;
    } else {
        print(&inspection_text(&report, SystemTime::now()))?;
    }
    Ok(if examined.verdict == Verdict::Ok {
        Status::Success
    } else {
        Status::Negative
    })
}

fn time_of(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

fn when(ms: Option<i64>, now: SystemTime) -> String {
    match ms.map(time_of) {
        Some(t) => format!("{} ({})", human::date(t), human::ago(Some(t), now)),
        None => "unknown".to_owned(),
    }
}

fn bytes(n: u64) -> String {
    format!("{} ({} bytes)", human::size(n), human::count(n))
}

fn inspection_text(r: &Inspection, now: SystemTime) -> String {
    let mut s = String::new();
    let mut line = |label: &str, value: &str| {
        // Writing to a String cannot fail.
        let _ = writeln!(s, "{}", format!("{label:<18}{value}").trim_end());
    };
    line("key", &format!("{:?}", r.key));
    line("namespace", &r.namespace);
    line("digest", &format!("{}:{}", r.hasher, r.digest));
    line("path", &r.path);
    line(
        "status",
        &match &r.reason {
            Some(why) => format!("{} ({why})", r.status.as_str()),
            None => r.status.as_str().to_owned(),
        },
    );
    line("stored", &bytes(r.stored_bytes));
    line("modified", &when(r.modified_unix_ms, now));
    line("accessed", &when(r.accessed_unix_ms, now));
    if let Some(h) = &r.header {
        line("frame header", "");
        line("  version", &h.version.to_string());
        line("  payload offset", &h.payload_offset.to_string());
        line("  hasher", &h.hasher);
        line("  codec", &h.codec);
        line("  level", &h.level.to_string());
        line("  flags", &h.flags.to_string());
        line("  decoded", &bytes(h.decoded_len));
        line("  payload", &bytes(h.payload_len));
        line(
            "  created",
            &when(i64::try_from(h.created_unix_ms).ok(), now),
        );
        line("  key digest", &h.digest);
        line("  checksum", &format!("xxh3-128 {}", h.checksum));
    }
    s
}
