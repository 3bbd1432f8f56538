//! `hoard config new [PATH] | show | path`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hoard::units::{render_count, render_duration, render_size};
use hoard::{CacheConfig, write_default_config};

use crate::context::Settings;
use crate::error::{CliError, CliResult, Status, describe};
use crate::output::{Output, print};

/// The configuration file this invocation reads: `--config`, else `$HOARD_CONFIG`, else the
/// platform location.
fn config_path(given: Option<&Path>) -> CliResult<PathBuf> {
    match given {
        Some(p) => Ok(p.to_path_buf()),
        None => Ok(CacheConfig::default_config_path()?),
    }
}

/// `hoard config path`.
pub(crate) fn path(given: Option<&Path>, out: Output) -> CliResult {
    let path = config_path(given)?;
    print(&format!("{}\n", path.display()))?;
    if !path.exists() {
        out.detail("that file does not exist: the defaults apply (`hoard config new` creates it)");
    }
    Ok(Status::Success)
}

/// `hoard config new [PATH]`.
pub(crate) fn new(target: Option<&Path>, given: Option<&Path>, out: Output) -> CliResult {
    let path = match target {
        Some(p) => p.to_path_buf(),
        None => config_path(given)?,
    };
    write_default_config(&path).map_err(|e| CliError::new(describe(&e)))?;
    out.note(&format!(
        "created {}: every key is listed with its default, commented out",
        path.display()
    ));
    Ok(Status::Success)
}

/// `hoard config show`: the configuration in effect as a `[cache]` table that loads back
/// to the same settings.
pub(crate) fn show(settings: &Settings) -> CliResult {
    print(&render(settings))?;
    Ok(Status::Success)
}

/// A TOML basic string: quotes, backslashes and every control character escaped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The text of `config show`. Every key of the `[cache]` table, in the order of a new
/// configuration file; a test checks that the keys are exactly those of
/// `write_default_config` and that the text loads back to the same configuration.
pub(crate) fn render(settings: &Settings) -> String {
    let c = &settings.config;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# The hoard configuration in effect (`hoard config show`)."
    );
    match &settings.file {
        Some(f) => {
            let _ = writeln!(t, "# Read from {}", f.display());
        }
        None => {
            let _ = writeln!(t, "# No configuration file: the defaults.");
        }
    }
    let _ = writeln!(
        t,
        "# Options and environment variables (--dir, --namespace, HOARD_CACHE_DIR) are applied."
    );
    let _ = writeln!(t, "\n[cache]");
    let mut key = |name: &str, value: String| {
        let _ = writeln!(t, "{name} = {value}");
    };
    key("enabled", c.enabled.to_string());
    key("directory", quoted(&settings.dir.to_string_lossy()));
    key(
        "worker-event-queue-size",
        quoted(&render_count(c.worker_event_queue_size)),
    );
    key(
        "baseline-compression-level",
        c.baseline_compression_level.to_string(),
    );
    key(
        "optimized-compression-level",
        c.optimized_compression_level.to_string(),
    );
    key(
        "optimized-compression-usage-counter-threshold",
        quoted(&render_count(
            c.optimized_compression_usage_counter_threshold,
        )),
    );
    key(
        "cleanup-interval",
        quoted(&render_duration(c.cleanup_interval)),
    );
    key(
        "optimizing-compression-task-timeout",
        quoted(&render_duration(c.optimizing_compression_task_timeout)),
    );
    key(
        "allowed-clock-drift-for-files-from-future",
        quoted(&render_duration(
            c.allowed_clock_drift_for_files_from_future,
        )),
    );
    key(
        "file-count-soft-limit",
        quoted(&render_count(c.file_count_soft_limit)),
    );
    key(
        "files-total-size-soft-limit",
        quoted(&render_size(c.files_total_size_soft_limit)),
    );
    key(
        "file-count-limit-percent-if-deleting",
        quoted(&c.file_count_limit_percent_if_deleting.to_string()),
    );
    key(
        "files-total-size-limit-percent-if-deleting",
        quoted(&c.files_total_size_limit_percent_if_deleting.to_string()),
    );
    key(
        "codec",
        quoted(&if c.adaptive {
            "adaptive".to_owned()
        } else {
            c.codec.name()
        }),
    );
    let a = &c.adaptive_policy;
    key(
        "adaptive-cold-after",
        quoted(&render_duration(a.cold_after)),
    );
    key("adaptive-hot-uses", quoted(&render_count(a.hot_uses)));
    key(
        "adaptive-hot-budget",
        quoted(&format!("{}%", a.hot_budget_percent)),
    );
    key("adaptive-cold-level", a.cold_level.to_string());
    key("key-hasher", quoted(&c.key_hasher.name()));
    key("durability", quoted(c.durability.as_str()));
    key("max-entry-size", quoted(&render_size(c.max_entry_size)));
    key("group-shared", c.group_shared.to_string());
    key("namespace", quoted(&c.namespace));
    key("threads", c.threads.to_string());
    key(
        "single-flight-wait",
        quoted(&render_duration(c.single_flight_wait)),
    );
    // The path only: the key itself is never shown. Without one, a commented-out line, so
    // the output still loads back as the same settings.
    match &c.auth_key_file {
        Some(path) => key("auth-key-file", quoted(&path.to_string_lossy())),
        None => {
            let _ = writeln!(t, "# auth-key-file = (none: entries are not signed)");
        }
    }
    // No credentials to hide: a configuration never holds any (they come from the
    // environment), and a URL with them is refused when the file is read.
    if let Some(remote) = c.remote_toml() {
        t.push('\n');
        t.push_str(&remote);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_valid_toml_basic_strings() {
        assert_eq!(quoted("plain"), "\"plain\"");
        assert_eq!(quoted("a\"b\\c\nd\u{7f}"), "\"a\\\"b\\\\c\\nd\\u007F\"");
    }
}
