//! `hoard verify [--repair]`: read every entry as a hit would, list those that fail.

use std::fmt::Write as _;

use hoard::Store;
use serde::Serialize;

use crate::context::Settings;
use crate::error::{CliError, CliResult, Status, describe};
use crate::human;
use crate::output::{Output, print, print_json};
use crate::scan::{self, Verdict};

/// An entry that did not verify, or could not be read.
#[derive(Debug, Serialize)]
struct Problem {
    namespace: String,
    digest: String,
    path: String,
    /// `corrupt`, `undecodable`, `unauthenticated`, `unsupported`, `too-large`, or `error`
    /// (could not be read at all).
    status: &'static str,
    reason: String,
    removed: bool,
}

/// `hoard verify --json`: see the crate README for the schema.
#[derive(Debug, Default, Serialize)]
struct Report {
    checked: u64,
    ok: u64,
    corrupt: u64,
    unsupported: u64,
    too_large: u64,
    undecodable: u64,
    unauthenticated: u64,
    errors: u64,
    removed: u64,
    checked_bytes: u64,
    problems: Vec<Problem>,
}

/// `hoard verify`.
pub(crate) fn verify(settings: &Settings, out: Output, repair: bool, json: bool) -> CliResult {
    let mut report = Report::default();
    if let Some(opened) = settings.open_existing()? {
        let store = &opened.store;
        let entries = scan::listing(store, settings)
            .map_err(|e| CliError::hoard("cannot list the cache", &e))?;
        let mut progress = out.bar(entries.len() as u64, "verifying");
        let mut atimes = scan::AtimeKeeper::new(store);
        for info in &entries {
            let path = store.entry_path(&info.namespace, &info.digest);
            let problem = |status, reason| Problem {
                namespace: info.namespace.as_str().to_owned(),
                digest: info.digest.to_hex(),
                path: path.display().to_string(),
                status,
                reason,
                removed: false,
            };
            let examined = scan::examine(
                store,
                &info.namespace,
                &info.digest,
                settings.config.max_entry_size,
                opened.cache.mac_keys(),
                true,
            );
            progress.inc(1);
            atimes.read(info);
            let examined = match examined {
                Ok(Some(e)) => e,
                // Removed since the listing (a cleanup or another process): nothing to check.
                Ok(None) => continue,
                Err(e) => {
                    report.checked += 1;
                    report.errors += 1;
                    report.problems.push(problem("error", describe(&e)));
                    continue;
                }
            };
            report.checked += 1;
            report.checked_bytes = report.checked_bytes.saturating_add(info.stored_len);
            let reason = examined.reason.unwrap_or_default();
            match examined.verdict {
                Verdict::Ok => report.ok += 1,
                Verdict::Unsupported => {
                    report.unsupported += 1;
                    report.problems.push(problem("unsupported", reason));
                }
                Verdict::TooLarge => {
                    report.too_large += 1;
                    report.problems.push(problem("too-large", reason));
                }
                // Verified, so not damaged: never removed, even with --repair.
                Verdict::Undecodable => {
                    report.undecodable += 1;
                    report.problems.push(problem("undecodable", reason));
                }
                // Intact, and maybe a key-less writer's entry: never removed, even with
                // --repair; the cache does not serve it, and its own put replaces it.
                Verdict::Unauthenticated => {
                    report.unauthenticated += 1;
                    report.problems.push(problem("unauthenticated", reason));
                }
                Verdict::Corrupt => {
                    report.corrupt += 1;
                    let mut found = problem("corrupt", reason);
                    if repair {
                        match store.remove(&info.namespace, &info.digest) {
                            Ok(_) => {
                                found.removed = true;
                                report.removed += 1;
                                // Counted as the library counts a corrupt entry it removes:
                                // the worker adds it to the lifetime counters.
                                if let Some(worker) = opened.cache.worker() {
                                    worker.record_corrupt();
                                }
                            }
                            Err(e) => {
                                report.errors += 1;
                                found.reason =
                                    format!("{}; cannot remove it: {}", found.reason, describe(&e));
                            }
                        }
                    }
                    report.problems.push(found);
                }
            }
        }
        progress.finish();
    }
    if json {
        print_json(&report)?;
    } else {
        print(&report_text(&report))?;
    }
    if report.errors > 0 {
        return Err(CliError::new(format!(
            "{} could not be read or removed (listed above)",
            human::plural(report.errors, "entry", "entries")
        )));
    }
    Ok(if report.corrupt > report.removed {
        Status::Negative
    } else {
        Status::Success
    })
}

fn report_text(r: &Report) -> String {
    let mut t = String::new();
    for p in &r.problems {
        let removed = if p.removed { " (removed)" } else { "" };
        let _ = writeln!(t, "{:<11}  {}: {}{removed}", p.status, p.path, p.reason);
    }
    let _ = write!(
        t,
        "checked {} ({}): {} ok, {} corrupt",
        human::plural(r.checked, "entry", "entries"),
        human::size(r.checked_bytes),
        human::count(r.ok),
        human::count(r.corrupt),
    );
    if r.removed > 0 {
        let _ = write!(t, " ({} removed)", human::count(r.removed));
    }
    if r.unsupported > 0 {
        let _ = write!(
            t,
            ", {} unsupported by this build (left alone)",
            human::count(r.unsupported)
        );
    }
    if r.too_large > 0 {
        let _ = write!(
            t,
            ", {} above the max entry size (left alone)",
            human::count(r.too_large)
        );
    }
    if r.undecodable > 0 {
        let _ = write!(
            t,
            ", {} verified but undecodable by this build's codecs (left alone)",
            human::count(r.undecodable)
        );
    }
    if r.unauthenticated > 0 {
        let _ = write!(
            t,
            ", {} not signed by the configured auth key (left alone, never served)",
            human::count(r.unauthenticated)
        );
    }
    if r.errors > 0 {
        let _ = write!(t, ", {} unreadable", human::count(r.errors));
    }
    t.push('\n');
    if r.corrupt > r.removed {
        t.push_str("run `hoard verify --repair` to remove the corrupt entries\n");
    }
    t
}
