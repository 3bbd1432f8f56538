//! The `[cache.remote]` table: the remote tier of a cache (feature `remote`).
//!
//! ```toml
//! [cache.remote]
//! url = "redis://127.0.0.1:6379/0"   # or "memcached://host:11211", "s3://bucket/prefix"
//! # endpoint = "http://127.0.0.1:9000" (s3 only)   region = "us-east-1" (s3 only)
//! # prefix = "hoard" (redis, memcached)
//! # timeout = "2s"  cooldown = "10s"  write-policy = "write-through"  read-only = false
//! ```
//!
//! Credentials are never read from the file: see [`hoard_remote::RemoteConfig`].

#[cfg(feature = "remote")]
use std::ops::Range;
#[cfg(feature = "remote")]
use std::time::Duration;

#[cfg(feature = "remote")]
use hoard_core::Error;
#[cfg(feature = "remote")]
use toml::de::{DeTable, DeValue};

#[cfg(feature = "remote")]
use super::keys::{self, Reason};

/// The keys of `[cache.remote]`, in the order of the default file: name, comment, and the
/// example value the default file shows (commented out).
pub(crate) const REMOTE_KEYS: &[(&str, &str, &str)] = &[
    (
        "url",
        "Where the remote lives (required): \"redis://host:6379/0\" (\"rediss://\" for TLS), \"memcached://host:11211\" or \"s3://bucket/prefix\". No credentials here: set HOARD_REMOTE_USERNAME / HOARD_REMOTE_PASSWORD (Redis, memcached) or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (S3).",
        "\"redis://127.0.0.1:6379/0\"",
    ),
    (
        "prefix",
        "Key prefix on Redis and memcached (S3 takes it from the url).",
        "\"hoard\"",
    ),
    (
        "endpoint",
        "S3 only: the server, e.g. \"http://127.0.0.1:9000\"; AWS when unset.",
        "\"http://127.0.0.1:9000\"",
    ),
    ("region", "S3 only: the region.", "\"us-east-1\""),
    (
        "timeout",
        "Per-operation timeout: \"2s\", or milliseconds as \"500ms\".",
        "\"2s\"",
    ),
    (
        "cooldown",
        "After a failure, how long the remote is bypassed before one probe (\"0s\": never).",
        "\"10s\"",
    ),
    (
        "write-policy",
        "\"write-through\" (puts wait for the remote), \"write-back\" (a background queue) or \"local-only\".",
        "\"write-through\"",
    ),
    (
        "write-back-queue",
        "Frames the write-back queue holds; more are dropped and counted.",
        "\"256\"",
    ),
    (
        "read-only",
        "true: never write to or remove from the remote (untrusted consumers).",
        "false",
    ),
    (
        "max-item-size",
        "Largest frame sent to the remote (default: the backend's limit, 1 MiB - 1 KiB for memcached).",
        "\"512Mi\"",
    ),
];

/// How a problem in the table is reported: the span it concerns and the message.
#[cfg(feature = "remote")]
pub(crate) type Problem = (Option<Range<usize>>, String);

/// Parses the `[cache.remote]` table. `shown` gives a value as written.
#[cfg(feature = "remote")]
pub(crate) fn parse(
    table: &DeTable<'_>,
    table_span: Range<usize>,
    shown: &dyn Fn(Range<usize>) -> String,
) -> Result<crate::RemoteSettings, Problem> {
    use hoard_remote::{RemoteAccess, RemoteConfig, WritePolicy};

    let mut values: Vec<(&'static str, &DeValue<'_>, Range<usize>)> = Vec::new();
    for (key, value) in table {
        let Some(&(name, _, _)) = REMOTE_KEYS.iter().find(|(n, _, _)| *n == key.get_ref()) else {
            let hint = keys::suggest(key.get_ref(), REMOTE_KEYS.iter().map(|(n, _, _)| *n))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    let all: Vec<&str> = REMOTE_KEYS.iter().map(|(n, _, _)| *n).collect();
                    format!("; the keys are {}", all.join(", "))
                });
            return Err((
                Some(key.span()),
                format!(
                    "unknown key {} in [cache.remote]{hint}",
                    super::parse::show_key(key.get_ref())
                ),
            ));
        };
        values.push((name, value.get_ref(), value.span()));
    }
    let problem = |span: &Range<usize>, name: &str, reason: Reason, value: &DeValue<'_>| {
        let written = shown(span.clone());
        let message = match reason {
            Reason::Type { kind, form } => format!(
                "key `remote.{name}` must be {kind}, found {} {written}{}",
                value.type_str(),
                form.map(|f| format!("; expected {f}")).unwrap_or_default()
            ),
            Reason::Invalid { why, expected } => format!(
                "key `remote.{name}` has invalid value {written}: {why}{}",
                expected
                    .map(|e| format!("; expected {e}"))
                    .unwrap_or_default()
            ),
        };
        (Some(span.clone()), message)
    };
    let get = |name: &str| values.iter().find(|(n, _, _)| *n == name);
    let from_config = |span: &Range<usize>, e: Error| (Some(span.clone()), e.message().to_owned());

    let Some((_, url_value, url_span)) = get("url") else {
        return Err((
            Some(table_span),
            "[cache.remote] needs a `url` (redis://, memcached:// or s3://)".to_owned(),
        ));
    };
    let url = keys::string(url_value, "a remote URL")
        .map_err(|r| problem(url_span, "url", r, url_value))?;
    let mut config = RemoteConfig::parse(url).map_err(|e| from_config(url_span, e))?;
    let mut settings_policy = WritePolicy::Through;
    let mut queue = hoard_remote::DEFAULT_WRITE_BACK_QUEUE;
    let mut access = RemoteAccess::ReadWrite;
    for (name, value, span) in &values {
        let fail = |r: Reason| problem(span, name, r, value);
        let refused = |e: Error| from_config(span, e);
        match *name {
            "url" => {}
            "prefix" => {
                let text = keys::string(value, "a key prefix").map_err(fail)?;
                config = config.prefix(text).map_err(refused)?;
            }
            "endpoint" => {
                let text = keys::string(value, "an http(s) URL").map_err(fail)?;
                config = config.endpoint(text).map_err(refused)?;
            }
            "region" => {
                let text = keys::string(value, "a region name").map_err(fail)?;
                config = config.region(text).map_err(refused)?;
            }
            "timeout" => {
                let timeout = millis_or_duration(value).map_err(fail)?;
                config = config.timeout(timeout).map_err(refused)?;
            }
            "cooldown" => config = config.cooldown(keys::duration(value).map_err(fail)?),
            "write-policy" => {
                settings_policy = keys::choice(
                    value,
                    &[
                        ("write-through", WritePolicy::Through),
                        ("write-back", WritePolicy::Back { queue: 0 }),
                        ("local-only", WritePolicy::LocalOnly),
                    ],
                    "write policy",
                )
                .map_err(fail)?;
            }
            "write-back-queue" => {
                let n = keys::count(value).map_err(fail)?;
                queue = usize::try_from(n)
                    .ok()
                    .filter(|n| (1..=1 << 20).contains(n))
                    .ok_or_else(|| {
                        fail(Reason::Invalid {
                            why: "the queue holds 1 to 1,048,576 frames".to_owned(),
                            expected: None,
                        })
                    })?;
            }
            "read-only" => {
                if keys::boolean(value).map_err(fail)? {
                    access = RemoteAccess::ReadOnly;
                }
            }
            "max-item-size" => {
                let n = keys::size(value).map_err(fail)?;
                config = config.max_item_size(n).map_err(refused)?;
            }
            other => unreachable!("{other} is in REMOTE_KEYS but not handled"),
        }
    }
    if let WritePolicy::Back { .. } = settings_policy {
        settings_policy = WritePolicy::Back { queue };
    }
    Ok(crate::RemoteSettings::new(config)
        .policy(settings_policy)
        .access(access))
}

/// A timeout: `"500ms"`, or a duration with the usual units.
#[cfg(feature = "remote")]
fn millis_or_duration(v: &DeValue<'_>) -> Result<Duration, Reason> {
    if let Some(ms) = v.as_str().and_then(|s| s.trim().strip_suffix("ms")) {
        return ms
            .trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| {
                keys::invalid(
                    "not a whole number of milliseconds".to_owned(),
                    "e.g. \"500ms\" or \"2s\"",
                )
            });
    }
    keys::duration(v)
}

/// The commented `[cache.remote]` section of a new configuration file.
pub(crate) fn default_section() -> String {
    let mut out = String::from(
        "\n# The remote tier (hoard built with the `remote` feature): uncomment the table and\n\
         # a url to share entries through Redis, memcached or S3.\n\
         # [cache.remote]\n",
    );
    for (name, help, value) in REMOTE_KEYS {
        out.push_str(&format!("# {help}\n# {name} = {value}\n"));
    }
    out
}

/// Durations in milliseconds when under a second, else with the usual units.
#[cfg(feature = "remote")]
fn render_timeout(d: Duration) -> String {
    if d.subsec_millis() != 0 || d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        super::units::render_duration(d)
    }
}

/// `settings` as a `[cache.remote]` table that [`parse`] reads back to the same settings.
/// It holds no credentials: the settings have none.
#[cfg(feature = "remote")]
pub(crate) fn render(settings: &crate::RemoteSettings) -> String {
    use hoard_remote::{Backend, RemoteAccess, WritePolicy};

    let c = &settings.config;
    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut out = format!("[cache.remote]\nurl = {}\n", q(c.url()));
    if c.backend() != Backend::S3 {
        out.push_str(&format!("prefix = {}\n", q(c.key_prefix())));
    }
    if let Some(endpoint) = c.endpoint_url() {
        out.push_str(&format!("endpoint = {}\n", q(endpoint)));
    }
    if let Some(region) = c.region_name() {
        out.push_str(&format!("region = {}\n", q(region)));
    }
    out.push_str(&format!(
        "timeout = {}\ncooldown = {}\nwrite-policy = {}\n",
        q(&render_timeout(c.operation_timeout())),
        q(&super::units::render_duration(c.breaker_cooldown())),
        q(settings.policy.as_str())
    ));
    if let WritePolicy::Back { queue } = settings.policy {
        out.push_str(&format!("write-back-queue = {}\n", q(&queue.to_string())));
    }
    out.push_str(&format!(
        "read-only = {}\nmax-item-size = {}\n",
        settings.access == RemoteAccess::ReadOnly,
        q(&super::units::render_size(c.item_size_limit()))
    ));
    out
}
