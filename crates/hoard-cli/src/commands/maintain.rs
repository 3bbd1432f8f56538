//! The commands that change the cache as a whole: `gc`, `evict`, `clear`, `recompress`. The
//! first, second and last are the eviction worker's explicit operations (hoard-evict's
//! `Janitor`); `clear` removes items through the store's housekeeping view, each only if it
//! is still the version listed.

use std::ops::ControlFlow;
use std::time::{Duration, SystemTime};

use hoard::evict::{CleanupReport, EvictReport, Limits, RecompressReport};
use hoard::{Housekeeping, Namespace};
use serde::Serialize;

use crate::context::Settings;
use crate::error::{CliError, CliResult, Status, describe};
use crate::human;
use crate::output::{Output, print, print_json};

/// `hoard gc --json`.
#[derive(Debug, Serialize)]
struct GcJson {
    entries_before: u64,
    bytes_before: u64,
    entries_after: u64,
    bytes_after: u64,
    evicted: u64,
    evicted_bytes: u64,
    temps_swept: u64,
    max_files: u64,
    max_size: u64,
    files_target: u64,
    size_target: u64,
}

/// `hoard gc [--max-size SIZE] [--max-files N]`.
pub(crate) fn gc(
    settings: &Settings,
    out: Output,
    max_size: Option<u64>,
    max_files: Option<u64>,
    json: bool,
) -> CliResult {
    if let Some(ns) = &settings.only {
        return Err(CliError::new(format!(
            "gc keeps the whole cache directory within its limits, so --namespace {ns} does \
             not apply; to drop one namespace, run `hoard evict --namespace {ns}`"
        )));
    }
    let c = &settings.config;
    let limits = Limits::new(
        max_files.unwrap_or(c.file_count_soft_limit),
        max_size.unwrap_or(c.files_total_size_soft_limit),
    )
    .percent_if_deleting(
        c.file_count_limit_percent_if_deleting.get(),
        c.files_total_size_limit_percent_if_deleting.get(),
    );
    let report = match settings.open_existing()? {
        Some(opened) => {
            let janitor = opened.janitor()?;
            out.spin("cleaning up", || janitor.cleanup_with(limits))
                .map_err(|e| CliError::hoard("cleanup failed", &e))?
        }
        None => CleanupReport::default(),
    };
    let r = GcJson {
        entries_before: report.entries_before,
        bytes_before: report.bytes_before,
        entries_after: report.entries_after,
        bytes_after: report.bytes_after,
        evicted: report.evicted,
        evicted_bytes: report.evicted_bytes,
        temps_swept: report.temps_swept,
        max_files: limits.count,
        max_size: limits.bytes,
        files_target: limits.count_target(),
        size_target: limits.bytes_target(),
    };
    if json {
        print_json(&r)?;
        return Ok(Status::Success);
    }
    let state = |entries, bytes| {
        format!(
            "{}, {}",
            human::plural(entries, "entry", "entries"),
            human::size(bytes)
        )
    };
    let text = if r.evicted == 0 {
        format!(
            "within limits ({} entries, {}): {}; nothing evicted",
            human::count(r.max_files),
            human::size(r.max_size),
            state(r.entries_after, r.bytes_after)
        )
    } else {
        format!(
            "evicted {} ({}), least recently used first: {} before, {} now (limits {} \
             entries, {}; trimmed to {} entries, {})",
            human::plural(r.evicted, "entry", "entries"),
            human::size(r.evicted_bytes),
            state(r.entries_before, r.bytes_before),
            state(r.entries_after, r.bytes_after),
            human::count(r.max_files),
            human::size(r.max_size),
            human::count(r.files_target),
            human::size(r.size_target),
        )
    };
    print(&format!("{text}{}\n", swept(r.temps_swept)))?;
    Ok(Status::Success)
}

fn swept(temps: u64) -> String {
    if temps == 0 {
        String::new()
    } else {
        format!(
            "; swept {}",
            human::plural(temps, "stale temp file", "stale temp files")
        )
    }
}

/// `hoard evict --json`.
#[derive(Debug, Serialize)]
struct EvictJson {
    evicted: u64,
    evicted_bytes: u64,
    temps_swept: u64,
}

/// `hoard evict --older-than DUR | --namespace NS`.
pub(crate) fn evict(
    settings: &Settings,
    out: Output,
    older_than: Option<Duration>,
    namespace: Option<&Namespace>,
    json: bool,
) -> CliResult {
    if let (Some(ns), Some(_)) = (&settings.only, older_than) {
        return Err(CliError::new(format!(
            "evict --older-than looks at every namespace, so --namespace {ns} does not apply; \
             to drop the whole namespace, run `hoard evict --namespace {ns}`"
        )));
    }
    let report = match settings.open_existing()? {
        None => EvictReport::default(),
        Some(opened) => {
            let janitor = opened.janitor()?;
            let result = match (older_than, namespace) {
                (Some(age), _) => out.spin("evicting", || janitor.evict_older_than(age)),
                (None, Some(ns)) => out.spin("evicting", || janitor.evict_namespace(ns)),
                (None, None) => {
                    return Err(CliError::new(
                        "evict needs --older-than DUR or --namespace NS",
                    ));
                }
            };
            result.map_err(|e| CliError::hoard("eviction failed", &e))?
        }
    };
    if json {
        print_json(&EvictJson {
            evicted: report.evicted,
            evicted_bytes: report.evicted_bytes,
            temps_swept: report.temps_swept,
        })?;
        return Ok(Status::Success);
    }
    let what = match (older_than, namespace) {
        (Some(age), _) => format!("last used more than {} ago", human::duration(age)),
        (None, Some(ns)) => format!("of namespace {ns}"),
        (None, None) => String::new(),
    };
    print(&format!(
        "evicted {} ({}) {what}{}\n",
        human::plural(report.evicted, "entry", "entries"),
        human::size(report.evicted_bytes),
        swept(report.temps_swept)
    ))?;
    Ok(Status::Success)
}

/// `hoard clear --json`.
#[derive(Debug, Default, Serialize)]
struct ClearJson {
    removed: u64,
    removed_bytes: u64,
    temps_removed: u64,
    /// Entries that changed while they were being removed (a concurrent put): left as they
    /// now are.
    kept_changed: u64,
}

/// `hoard clear`: every entry (of `--namespace`, or of every namespace), and temp files that
/// are older than the task timeout (younger ones may be puts in progress). Foreign files,
/// the worker's state and the directories stay.
pub(crate) fn clear(settings: &Settings, out: Output, json: bool) -> CliResult {
    let mut r = ClearJson::default();
    if let Some(opened) = settings.open_existing()? {
        let janitor = opened.janitor()?;
        let store = janitor.store();
        let stale_before = SystemTime::now()
            .checked_sub(janitor.config().task_timeout)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut buckets = Vec::new();
        store
            .buckets(&mut |info| {
                if settings.includes(info.bucket.namespace()) {
                    buckets.push(info.bucket);
                }
                ControlFlow::Continue(())
            })
            .map_err(|e| CliError::hoard("cannot list the cache", &e))?;
        let mut progress = out.bar(buckets.len() as u64, "clearing");
        for bucket in &buckets {
            let mut items = Vec::new();
            store
                .scan_bucket(bucket, &mut |item| {
                    items.push(item);
                    ControlFlow::Continue(())
                })
                .map_err(|e| CliError::hoard(format_args!("cannot list {bucket}"), &e))?;
            for item in &items {
                let entry = item.entry_info(bucket.namespace()).is_some();
                if !entry && item.modified.is_some_and(|m| m >= stale_before) {
                    continue;
                }
                match store.remove_item(bucket, item) {
                    Ok(true) if entry => {
                        r.removed += 1;
                        r.removed_bytes = r.removed_bytes.saturating_add(item.stored_len);
                    }
                    Ok(true) => r.temps_removed += 1,
                    Ok(false) => r.kept_changed += u64::from(entry),
                    Err(e) => {
                        return Err(CliError::new(format!(
                            "cannot remove an item of {bucket} (after removing {}): {}",
                            human::plural(r.removed, "entry", "entries"),
                            describe(&e)
                        )));
                    }
                }
            }
            progress.inc(1);
        }
        progress.finish();
    }
    if json {
        print_json(&r)?;
    } else {
        let scope = settings
            .only
            .as_ref()
            .map_or_else(String::new, |ns| format!(" of namespace {ns}"));
        let mut text = format!(
            "removed {} ({}){scope}",
            human::plural(r.removed, "entry", "entries"),
            human::size(r.removed_bytes)
        );
        if r.temps_removed > 0 {
            text.push_str(&format!(
                " and {}",
                human::plural(r.temps_removed, "stale temp file", "stale temp files")
            ));
        }
        if r.kept_changed > 0 {
            text.push_str(&format!(
                "; {} rewritten meanwhile were kept",
                human::plural(r.kept_changed, "entry", "entries")
            ));
        }
        print(&format!("{text}\n"))?;
    }
    Ok(Status::Success)
}

/// `hoard recompress --json`.
#[derive(Debug, Serialize)]
struct RecompressJson {
    codec: &'static str,
    level: i32,
    recompressed: u64,
    skipped: u64,
    corrupt: u64,
    bytes_before: u64,
    bytes_after: u64,
    bytes_saved: i128,
}

/// `hoard recompress --level N`.
pub(crate) fn recompress(settings: &Settings, out: Output, level: i32, json: bool) -> CliResult {
    let codec = hoard::Zstd::new(level)
        .map_err(|e| CliError::hoard(format_args!("invalid --level {level}"), &e))?;
    let report = match settings.open_existing()? {
        None => RecompressReport::default(),
        Some(opened) => {
            let janitor = opened.janitor()?;
            let message = format!("recompressing at zstd level {level}");
            out.spin(&message, || {
                janitor.recompress_all(&codec, settings.only.as_ref())
            })
            .map_err(|e| CliError::hoard("recompression failed", &e))?
        }
    };
    let saved = i128::from(report.bytes_before) - i128::from(report.bytes_after);
    if json {
        print_json(&RecompressJson {
            codec: "zstd",
            level,
            recompressed: report.recompressed,
            skipped: report.skipped,
            corrupt: report.corrupt,
            bytes_before: report.bytes_before,
            bytes_after: report.bytes_after,
            bytes_saved: saved,
        })?;
        return Ok(Status::Success);
    }
    let mut text = format!(
        "recompressed {} at zstd level {level}: {} before, {} after, {} saved ({})",
        human::plural(report.recompressed, "entry", "entries"),
        human::size(report.bytes_before),
        human::size(report.bytes_after),
        human::signed_size(saved),
        if saved < 0 {
            format!(
                "-{}",
                human::percent(
                    report.bytes_after - report.bytes_before,
                    report.bytes_before
                )
            )
        } else {
            human::percent(
                report.bytes_before - report.bytes_after,
                report.bytes_before,
            )
        }
    );
    if report.skipped > 0 {
        text.push_str(&format!(
            "; skipped {} (already at that level, busy, or not readable here)",
            human::count(report.skipped)
        ));
    }
    if report.corrupt > 0 {
        text.push_str(&format!(
            "; removed {} that failed verification",
            human::plural(report.corrupt, "corrupt entry", "corrupt entries")
        ));
    }
    print(&format!("{text}\n"))?;
    Ok(Status::Success)
}
