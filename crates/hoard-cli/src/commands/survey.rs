//! The commands that look at every entry without changing anything: `ls` and `stats`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use hoard::EntryInfo;
use hoard::evict::{Counts, SharedStats};
use serde::Serialize;

use crate::context::{Opened, Settings};
use crate::error::{CliError, CliResult, Status, describe};
use crate::human;
use crate::output::{Output, print, print_json};
use crate::scan::{self, Examined, Verdict};

/// One entry of `hoard ls --json`.
#[derive(Debug, Serialize)]
struct Row {
    namespace: String,
    digest: String,
    path: String,
    status: Verdict,
    stored_bytes: u64,
    decoded_bytes: Option<u64>,
    codec: Option<String>,
    level: Option<i32>,
    created_unix_ms: Option<u64>,
    modified_unix_ms: Option<i64>,
    last_used_unix_ms: Option<i64>,
}

/// `hoard ls --json`.
#[derive(Debug, Serialize)]
struct Listing {
    directory: String,
    entries: Vec<Row>,
}

/// Reads every entry in scope, with a progress bar on large caches; calls `each` with the
/// listing and what reading the frame found (`None`: removed since it was listed).
fn read_all(
    opened: Option<&Opened>,
    settings: &Settings,
    out: Output,
    mut each: impl FnMut(&EntryInfo, Option<&Examined>, &str),
) -> CliResult<()> {
    let Some(opened) = opened else {
        return Ok(());
    };
    let entries = scan::listing(&opened.store, settings)
        .map_err(|e| CliError::hoard("cannot list the cache", &e))?;
    let mut progress = out.bar(entries.len() as u64, "reading entries");
    let mut atimes = scan::AtimeKeeper::new(&opened.store);
    for info in &entries {
        let path = opened.store.entry_path(&info.namespace, &info.digest);
        let examined = scan::examine(
            &opened.store,
            &info.namespace,
            &info.digest,
            settings.config.max_entry_size,
            opened.cache.mac_keys(),
            false,
        )
        .map_err(|e| CliError::hoard("cannot read a cache entry", &e))?;
        atimes.read(info);
        each(info, examined.as_ref(), &path.display().to_string());
        progress.inc(1);
    }
    progress.finish();
    Ok(())
}

/// `hoard ls`.
pub(crate) fn ls(settings: &Settings, out: Output, json: bool) -> CliResult {
    let opened = settings.open_existing()?;
    let mut rows = Vec::new();
    read_all(opened.as_ref(), settings, out, |info, examined, path| {
        let header = examined.and_then(|e| e.header.as_ref());
        rows.push(Row {
            namespace: info.namespace.as_str().to_owned(),
            digest: info.digest.to_hex(),
            path: path.to_owned(),
            status: examined.map_or(Verdict::Corrupt, |e| e.verdict),
            stored_bytes: info.stored_len,
            decoded_bytes: header.map(|h| h.decoded_len),
            codec: header.map(|h| h.codec.name()),
            level: header.map(|h| h.level),
            created_unix_ms: header.map(|h| h.created_unix_ms),
            modified_unix_ms: info.modified.map(scan::unix_ms),
            last_used_unix_ms: scan::last_used(info).map(scan::unix_ms),
        });
    })?;
    if json {
        print_json(&Listing {
            directory: settings.dir.display().to_string(),
            entries: rows,
        })?;
    } else {
        print(&listing_text(&rows, SystemTime::now()))?;
    }
    Ok(Status::Success)
}

fn ms_time(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        SystemTime::UNIX_EPOCH + d
    } else {
        SystemTime::UNIX_EPOCH - d
    }
}

fn listing_text(rows: &[Row], now: SystemTime) -> String {
    let table: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.namespace.clone(),
                // Enough of the digest to tell entries apart by eye; JSON has all of it.
                r.digest[..16].to_owned(),
                human::size(r.stored_bytes),
                r.decoded_bytes.map_or_else(|| "-".to_owned(), human::size),
                match r.status {
                    Verdict::Ok => r.codec.clone().unwrap_or_default(),
                    other => other.as_str().to_owned(),
                },
                r.level.map_or_else(|| "-".to_owned(), |l| l.to_string()),
                r.created_unix_ms.map_or_else(
                    || "-".to_owned(),
                    |ms| human::ago(Some(ms_time(i64::try_from(ms).unwrap_or(i64::MAX))), now),
                ),
                human::ago(r.last_used_unix_ms.map(ms_time), now),
            ]
        })
        .collect();
    let heads = [
        "NAMESPACE",
        "DIGEST",
        "STORED",
        "DECODED",
        "CODEC",
        "LEVEL",
        "CREATED",
        "LAST USED",
    ];
    let mut widths = heads.map(str::len);
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            // Sizes read best aligned right; the rest left.
            if i == 2 || i == 3 {
                let _ = write!(text, "{cell:>w$}  ");
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        let _ = writeln!(s, "{}", text.trim_end());
    };
    if !table.is_empty() {
        line(&heads);
    }
    for row in &table {
        line(&row.each_ref().map(String::as_str));
    }
    let stored: u64 = rows.iter().map(|r| r.stored_bytes).sum();
    let decoded: u64 = rows.iter().filter_map(|r| r.decoded_bytes).sum();
    let _ = writeln!(
        s,
        "{}: {} stored, {} decoded",
        human::plural(rows.len() as u64, "entry", "entries"),
        human::size(stored),
        human::size(decoded)
    );
    s
}

/// The age classes of the histogram: (label, lower bound in seconds).
const AGES: [(&str, u64); 6] = [
    ("< 1 hour", 0),
    ("1 hour - 1 day", 3_600),
    ("1 - 7 days", 86_400),
    ("7 - 30 days", 7 * 86_400),
    ("30 - 90 days", 30 * 86_400),
    ("> 90 days", 90 * 86_400),
];

/// `hoard stats --json`: see the crate README for the schema.
#[derive(Debug, Default, Serialize)]
struct Summary {
    directory: String,
    config_file: Option<String>,
    namespace: Option<String>,
    entries: u64,
    stored_bytes: u64,
    decoded_bytes: u64,
    compression_ratio: Option<f64>,
    unreadable: u64,
    namespaces: Vec<NamespaceSummary>,
    /// The readable entries by codec and level: the mix an adaptive cache's worker keeps
    /// (fast entries beside cold ones), or the leftovers of a codec change.
    formats: Vec<FormatSummary>,
    limits: LimitsSummary,
    age_histogram: Vec<AgeClass>,
    /// The lifetime counters of every process; `None` when they could not be read.
    counters: Option<Lifetime>,
    /// `--zero` zeroed them (`counters` holds what they were).
    counters_zeroed: bool,
    process_counters: Counters,
    /// The remote tier, when `[cache.remote]` configures one.
    remote: Option<RemoteSummary>,
}

/// The remote tier in `hoard stats`: where it is, how it is used, and the lifetime remote
/// counters of every process that used this directory with it.
#[derive(Debug, Default, Serialize)]
struct RemoteSummary {
    url: String,
    backend: String,
    write_policy: String,
    read_only: bool,
    timeout_ms: u64,
    connect_timeout_ms: u64,
    cooldown_ms: u64,
    /// When the counters were created or zeroed; `None` while none were recorded.
    since_unix_ms: Option<i64>,
    updated_unix_ms: Option<i64>,
    /// Counter name (`tier.*`, `remote.*`) to value.
    counters: std::collections::BTreeMap<String, u64>,
}

impl RemoteSummary {
    fn of(settings: &hoard::RemoteSettings) -> Self {
        let c = &settings.config;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            url: c.url().to_owned(),
            backend: c.backend().as_str().to_owned(),
            write_policy: settings.policy.as_str().to_owned(),
            read_only: settings.access == hoard::remote::RemoteAccess::ReadOnly,
            timeout_ms: ms(c.get_timeout()),
            connect_timeout_ms: ms(c.get_connect_timeout()),
            cooldown_ms: ms(c.get_cooldown()),
            ..Self::default()
        }
    }

    /// Reads (or, with `zero`, zeroes) the lifetime remote counters; a failure is a note.
    fn fill(&mut self, lifetime: Option<hoard::RemoteLifetime>) {
        if let Some(l) = lifetime {
            self.since_unix_ms = Some(scan::unix_ms(l.since));
            self.updated_unix_ms = Some(scan::unix_ms(l.updated));
            self.counters = l.counters;
        }
    }
}

#[derive(Debug, Default, Serialize)]
struct NamespaceSummary {
    name: String,
    entries: u64,
    stored_bytes: u64,
    decoded_bytes: u64,
}

#[derive(Debug, Default, Serialize)]
struct FormatSummary {
    codec: String,
    level: i32,
    entries: u64,
    stored_bytes: u64,
    decoded_bytes: u64,
}

#[derive(Debug, Default, Serialize)]
struct LimitsSummary {
    max_files: u64,
    max_size: u64,
    files_percent_if_deleting: u8,
    size_percent_if_deleting: u8,
    max_entry_size: u64,
    cleanup_interval_secs: u64,
}

#[derive(Debug, Default, Serialize)]
struct AgeClass {
    label: &'static str,
    min_age_secs: u64,
    max_age_secs: Option<u64>,
    entries: u64,
    stored_bytes: u64,
}

/// The lifetime counters shared by every process that used the directory, and since when.
#[derive(Debug, Default, Serialize)]
struct Lifetime {
    /// When they were created or zeroed; `None` while no process has recorded any.
    since_unix_ms: Option<i64>,
    /// When a process last added to them.
    updated_unix_ms: Option<i64>,
    #[serde(flatten)]
    counts: Counters,
}

impl From<Option<&SharedStats>> for Lifetime {
    fn from(s: Option<&SharedStats>) -> Self {
        let Some(s) = s else {
            return Self::default();
        };
        Self {
            since_unix_ms: Some(scan::unix_ms(s.since)),
            updated_unix_ms: Some(scan::unix_ms(s.updated)),
            counts: Counters(s.counts),
        }
    }
}

/// A set of counters: the lifetime ones, or the worker's of this process (see the README),
/// serialized as one field per counter, by [`Counts::fields`]' names.
#[derive(Debug, Default)]
struct Counters(Counts);

impl Serialize for Counters {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let fields = self.0.fields();
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (name, value) in fields {
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }
}

/// `hoard stats [--zero]`.
pub(crate) fn stats(settings: &Settings, out: Output, zero: bool, json: bool) -> CliResult {
    let now = SystemTime::now();
    let mut summary = Summary::configured(settings);
    let opened = settings.open_existing()?;
    let readable_stored = summary.count_entries(opened.as_ref(), settings, out, now)?;
    match &opened {
        // No directory: no process has counted anything, and there is nothing to zero.
        None => {
            summary.counters = Some(Lifetime::default());
            if zero {
                out.note("no cache here yet: no counters to zero");
            }
        }
        Some(opened) => summary.read_counters(opened, settings, out, zero)?,
    }
    finish(&summary, readable_stored, now, json)
}

impl Summary {
    /// What the configuration says, before any entry is read.
    fn configured(settings: &Settings) -> Self {
        let c = &settings.config;
        Self {
            directory: settings.dir.display().to_string(),
            config_file: settings.file.as_ref().map(|f| f.display().to_string()),
            namespace: settings.only.as_ref().map(|n| n.as_str().to_owned()),
            limits: LimitsSummary {
                max_files: c.file_count_soft_limit,
                max_size: c.files_total_size_soft_limit,
                files_percent_if_deleting: c.file_count_limit_percent_if_deleting.get(),
                size_percent_if_deleting: c.files_total_size_limit_percent_if_deleting.get(),
                max_entry_size: c.max_entry_size,
                cleanup_interval_secs: c.cleanup_interval.as_secs(),
            },
            age_histogram: AGES
                .iter()
                .enumerate()
                .map(|(i, &(label, min))| AgeClass {
                    label,
                    min_age_secs: min,
                    max_age_secs: AGES.get(i + 1).map(|&(_, next)| next),
                    ..AgeClass::default()
                })
                .collect(),
            remote: c.remote.as_ref().map(RemoteSummary::of),
            ..Self::default()
        }
    }

    /// Reads every entry in scope into the totals, the namespaces and the age histogram;
    /// returns the stored bytes of the readable entries (the compression ratio's base).
    fn count_entries(
        &mut self,
        opened: Option<&Opened>,
        settings: &Settings,
        out: Output,
        now: SystemTime,
    ) -> CliResult<u64> {
        let mut per_ns: BTreeMap<String, NamespaceSummary> = BTreeMap::new();
        let mut per_format: BTreeMap<(String, i32), FormatSummary> = BTreeMap::new();
        let mut readable_stored = 0u64;
        read_all(opened, settings, out, |info, examined, _| {
            self.entries += 1;
            self.stored_bytes = self.stored_bytes.saturating_add(info.stored_len);
            let ns = per_ns
                .entry(info.namespace.as_str().to_owned())
                .or_insert_with(|| NamespaceSummary {
                    name: info.namespace.as_str().to_owned(),
                    ..NamespaceSummary::default()
                });
            ns.entries += 1;
            ns.stored_bytes = ns.stored_bytes.saturating_add(info.stored_len);
            match examined {
                Some(e) if e.verdict == Verdict::Ok => {
                    let decoded = e.header.as_ref().map_or(0, |h| h.decoded_len);
                    if let Some(h) = &e.header {
                        let f = per_format
                            .entry((h.codec.name(), h.level))
                            .or_insert_with(|| FormatSummary {
                                codec: h.codec.name(),
                                level: h.level,
                                ..FormatSummary::default()
                            });
                        f.entries += 1;
                        f.stored_bytes = f.stored_bytes.saturating_add(info.stored_len);
                        f.decoded_bytes = f.decoded_bytes.saturating_add(decoded);
                    }
                    self.decoded_bytes = self.decoded_bytes.saturating_add(decoded);
                    ns.decoded_bytes = ns.decoded_bytes.saturating_add(decoded);
                    readable_stored = readable_stored.saturating_add(info.stored_len);
                }
                _ => self.unreadable += 1,
            }
            // An entry used "in the future" (clock skew) counts as just used.
            let age = scan::last_used(info).map_or(u64::MAX, |t| {
                now.duration_since(t).map_or(0, |d| d.as_secs())
            });
            if let Some(class) = self
                .age_histogram
                .iter_mut()
                .rev()
                .find(|class| age >= class.min_age_secs)
            {
                class.entries += 1;
                class.stored_bytes = class.stored_bytes.saturating_add(info.stored_len);
            }
        })?;
        self.namespaces = per_ns.into_values().collect();
        self.formats = per_format.into_values().collect();
        if readable_stored > 0 {
            self.compression_ratio = Some(self.decoded_bytes as f64 / readable_stored as f64);
        }
        Ok(readable_stored)
    }

    /// Reads (or, with `zero`, zeroes) the lifetime counters, this process's worker
    /// counters and the remote tier's lifetime counters. Without a worker only zeroing
    /// fails: the counters are left out and the rest is still shown.
    fn read_counters(
        &mut self,
        opened: &Opened,
        settings: &Settings,
        out: Output,
        zero: bool,
    ) -> CliResult<()> {
        let janitor = match opened.janitor() {
            Ok(janitor) => janitor,
            // Without a worker the counters are out of reach; the rest is still worth
            // showing, unless zeroing them was the point.
            Err(e) if !zero => {
                if let CliError::Failed(message) = &e {
                    out.note(message);
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let shared = if zero {
            let before = janitor.zero_stats().map_err(|e| {
                CliError::hoard(
                    format_args!("cannot zero the counters of {}", settings.dir.display()),
                    &e,
                )
            })?;
            self.counters_zeroed = true;
            Some(before)
        } else {
            match janitor.shared_stats() {
                Ok(s) => Some(s),
                // Everything else is still worth showing.
                Err(e) => {
                    out.note(&format!(
                        "cannot read the lifetime counters: {}",
                        describe(&e)
                    ));
                    None
                }
            }
        };
        if let Some(shared) = &shared {
            self.counters = Some(shared.as_ref().into());
            // The remote tier's lifetime counters are named counters of the same state.
            if let Some(remote) = self.remote.as_mut() {
                remote.fill(shared.as_ref().and_then(hoard::RemoteLifetime::of));
            }
        }
        if let Some(worker) = opened.cache.worker() {
            self.process_counters = Counters(worker.stats().counts);
        }
        Ok(())
    }
}

fn finish(summary: &Summary, readable_stored: u64, now: SystemTime, json: bool) -> CliResult {
    if json {
        print_json(summary)?;
    } else {
        print(&summary_text(summary, readable_stored, now))?;
    }
    Ok(Status::Success)
}

fn summary_text(s: &Summary, readable_stored: u64, now: SystemTime) -> String {
    let mut t = String::new();
    let l = &s.limits;
    let _ = writeln!(t, "cache          {}", s.directory);
    let _ = writeln!(
        t,
        "configuration  {}",
        s.config_file
            .as_deref()
            .unwrap_or("none (the defaults apply)")
    );
    if let Some(ns) = &s.namespace {
        let _ = writeln!(t, "showing        namespace {ns} only");
    }
    let _ = writeln!(
        t,
        "entries        {} of {} allowed ({})",
        human::count(s.entries),
        human::count(l.max_files),
        human::percent(s.entries, l.max_files)
    );
    let _ = writeln!(
        t,
        "size           {} on disk of {} allowed ({})",
        human::size(s.stored_bytes),
        human::size(l.max_size),
        human::percent(s.stored_bytes, l.max_size)
    );
    let _ = writeln!(
        t,
        "uncompressed   {} (compression ratio {})",
        human::size(s.decoded_bytes),
        human::ratio(s.decoded_bytes, readable_stored)
    );
    if s.unreadable > 0 {
        let _ = writeln!(
            t,
            "unreadable     {} (see `hoard verify`)",
            human::plural(s.unreadable, "entry", "entries")
        );
    }
    let _ = writeln!(
        t,
        "cleanup        every {}, when over a limit, down to {}% of the entries and {}% of the size",
        human::duration(Duration::from_secs(l.cleanup_interval_secs)),
        l.files_percent_if_deleting,
        l.size_percent_if_deleting
    );
    let _ = writeln!(t, "max entry      {}", human::size(l.max_entry_size));
    let _ = writeln!(t, "namespaces     {}", s.namespaces.len());
    let width = s.namespaces.iter().map(|n| n.name.len()).max().unwrap_or(0);
    for ns in &s.namespaces {
        let _ = writeln!(
            t,
            "  {:<width$}  {:>16}  {:>10} on disk  {:>10} uncompressed",
            ns.name,
            human::plural(ns.entries, "entry", "entries"),
            human::size(ns.stored_bytes),
            human::size(ns.decoded_bytes),
        );
    }
    if s.formats.len() > 1 {
        let _ = writeln!(t, "formats        {}", s.formats.len());
        let width = s.formats.iter().map(|f| f.codec.len()).max().unwrap_or(0) + 4;
        for f in &s.formats {
            let _ = writeln!(
                t,
                "  {:<width$}  {:>16}  {:>10} on disk  ratio {}",
                format!("{} {}", f.codec, f.level),
                human::plural(f.entries, "entry", "entries"),
                human::size(f.stored_bytes),
                human::ratio(f.decoded_bytes, f.stored_bytes),
            );
        }
    }
    let _ = writeln!(t, "size by time since last use");
    let largest = s
        .age_histogram
        .iter()
        .map(|c| c.stored_bytes)
        .max()
        .unwrap_or(0);
    for class in &s.age_histogram {
        let _ = writeln!(
            t,
            "  {:<14}  {}  {:>10}  {:>16}",
            class.label,
            human::bar(class.stored_bytes, largest, 30),
            human::size(class.stored_bytes),
            human::plural(class.entries, "entry", "entries"),
        );
    }
    counters_text(&mut t, s, now);
    remote_text(&mut t, s, now);
    t
}

/// The remote tier and its lifetime counters, hits first with the remote hit rate.
fn remote_text(t: &mut String, s: &Summary, now: SystemTime) {
    let Some(r) = &s.remote else {
        return;
    };
    let _ = writeln!(
        t,
        "remote         {} ({}, {}{}, timeout {}, connect timeout {}, cool-down {})",
        r.url,
        r.backend,
        r.write_policy,
        if r.read_only { ", read-only" } else { "" },
        human::duration(Duration::from_millis(r.timeout_ms)),
        human::duration(Duration::from_millis(r.connect_timeout_ms)),
        human::duration(Duration::from_millis(r.cooldown_ms)),
    );
    match r.since_unix_ms {
        Some(ms) => {
            let since = ms_time(ms);
            let _ = writeln!(
                t,
                "remote counters  of every process, since {} ({}){}",
                human::date(since),
                human::ago(Some(since), now),
                if s.counters_zeroed {
                    ", now zeroed"
                } else {
                    ""
                }
            );
        }
        None => {
            let _ = writeln!(t, "remote counters  none recorded yet");
            return;
        }
    }
    let get = |name: &str| r.counters.get(name).copied().unwrap_or(0);
    let remote_lookups = get("tier.remote_hits") + get("tier.misses");
    let width = r
        .counters
        .values()
        .map(|n| human::count(*n).len())
        .max()
        .unwrap_or(1);
    for (name, n) in &r.counters {
        let _ = write!(t, "  {name:<28}  {:>width$}", human::count(*n));
        if name == "tier.remote_hits" && remote_lookups > 0 {
            let _ = write!(
                t,
                "  ({} of local misses)",
                human::percent(get("tier.remote_hits"), remote_lookups)
            );
        }
        t.push('\n');
    }
}

/// The lifetime counters, as `ccache -s` shows its own: one per line, hits with the hit
/// rate.
fn counters_text(t: &mut String, s: &Summary, now: SystemTime) {
    let Some(l) = &s.counters else {
        let _ = writeln!(t, "counters       unreadable (see the note above)");
        return;
    };
    let scope = if s.namespace.is_some() {
        "every process and namespace"
    } else {
        "every process"
    };
    match l.since_unix_ms {
        Some(ms) => {
            let since = ms_time(ms);
            let _ = writeln!(
                t,
                "counters       of {scope}, since {} ({})",
                human::date(since),
                human::ago(Some(since), now)
            );
        }
        None => {
            let _ = writeln!(t, "counters       none recorded yet");
        }
    }
    let c = &l.counts.0;
    let lookups = c.hits.saturating_add(c.misses);
    let rows = c.fields().map(|(name, n)| (name.replace('_', " "), n));
    let width = rows
        .iter()
        .map(|(_, n)| human::count(*n).len())
        .max()
        .unwrap_or(1);
    for (label, n) in &rows {
        let n = *n;
        let _ = write!(t, "  {label:<14}  {:>width$}", human::count(n));
        // The figure an operator looks for first, as ccache shows it.
        if label == "hits" && lookups > 0 {
            let _ = write!(t, "  ({} of lookups)", human::percent(c.hits, lookups));
        }
        t.push('\n');
    }
    if s.counters_zeroed {
        let _ = writeln!(t, "counters zeroed (the figures above are what they held)");
    }
}
