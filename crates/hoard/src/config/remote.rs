//! The `[cache.remote]` table: the remote tier of a cache (feature `remote`).
//!
//! ```toml
//! [cache.remote]
//! url = "redis://127.0.0.1:6379/0"   # or "memcached://host:11211", "s3://bucket/prefix"
//! # or several servers of one backend, keys spread by rendezvous hashing:
//! # url = ["memcached://10.0.0.1:11211", "memcached://10.0.0.2:11211"]
//! # endpoint = "http://127.0.0.1:9000" (s3 only)   region = "us-east-1" (s3 only)
//! # prefix = "hoard" (redis, memcached)
//! # timeout = "2s"  connect-timeout = "250ms"  cooldown = "10s"
//! # write-policy = "write-through"  read-only = false
//! # lease = false  lease-ttl = "30s" (redis, s3)
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
        "Where the remote lives (required): \"redis://host:6379/0\" (\"rediss://\" for TLS), \"memcached://host:11211\" or \"s3://bucket/prefix\"; or a list of servers of one backend, each key on one of them (rendezvous hashing), e.g. [\"memcached://10.0.0.1:11211\", \"memcached://10.0.0.2:11211\"]. No credentials here: set HOARD_REMOTE_USERNAME / HOARD_REMOTE_PASSWORD (Redis, memcached) or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (S3).",
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
        "connect-timeout",
        "How long connecting (and, for Redis and memcached, the first answer) may take; a refused connection fails at once.",
        "\"250ms\"",
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
    (
        "lease",
        "Redis and S3: true takes a lease on the remote before computing a missed key, so that a fleet sharing it computes the key once (the others wait for its value, at most single-flight-wait).",
        "false",
    ),
    (
        "lease-ttl",
        "How long a lease lasts at most: it must outlive a typical computation; a crashed holder's lease expires after it.",
        "\"30s\"",
    ),
];

/// How a problem in the table is reported: the span it concerns and the message.
#[cfg(feature = "remote")]
pub(crate) type Problem = (Option<Range<usize>>, String);

/// One key of the table as written: its name (as [`REMOTE_KEYS`] spells it), value and
/// the value's span.
#[cfg(feature = "remote")]
struct Place<'t, 'i> {
    name: &'static str,
    value: &'t DeValue<'i>,
    span: Range<usize>,
}

#[cfg(feature = "remote")]
impl Place<'_, '_> {
    /// The value was refused while parsing it.
    fn invalid(&self, reason: Reason, shown: &dyn Fn(Range<usize>) -> String) -> Problem {
        let written = shown(self.span.clone());
        let key = format!("remote.{}", self.name);
        (
            Some(self.span.clone()),
            reason.message(&key, self.value, &written),
        )
    }

    /// [`hoard_remote::RemoteConfig`] refused the parsed value.
    fn refused(&self, e: &Error) -> Problem {
        (Some(self.span.clone()), e.message().to_owned())
    }
}

/// What the table says about how the tier uses the remote, beside the
/// [`hoard_remote::RemoteConfig`].
#[cfg(feature = "remote")]
struct TierUse {
    policy: hoard_remote::WritePolicy,
    queue: usize,
    access: hoard_remote::RemoteAccess,
    lease: bool,
    lease_ttl: Duration,
}

/// Parses the `[cache.remote]` table. `shown` gives a value as written.
#[cfg(feature = "remote")]
pub(crate) fn parse(
    table: &DeTable<'_>,
    table_span: Range<usize>,
    shown: &dyn Fn(Range<usize>) -> String,
) -> Result<crate::RemoteSettings, Problem> {
    use hoard_remote::{RemoteAccess, WritePolicy};

    let places = known_keys(table)?;
    let Some(url) = places.iter().find(|p| p.name == "url") else {
        return Err((
            Some(table_span),
            "[cache.remote] needs a `url` (redis://, memcached:// or s3://)".to_owned(),
        ));
    };
    let mut tier = TierUse {
        policy: WritePolicy::Through,
        queue: hoard_remote::DEFAULT_WRITE_BACK_QUEUE,
        access: RemoteAccess::ReadWrite,
        lease: false,
        lease_ttl: crate::DEFAULT_LEASE_TTL,
    };
    let mut configs = Vec::new();
    for config in server_urls(url, shown)? {
        // Every other key applies to every server alike.
        let mut config = config;
        for place in &places {
            config = set_key(config, &mut tier, place, shown)?;
        }
        configs.push(config);
    }
    if let WritePolicy::Back { .. } = tier.policy {
        tier.policy = WritePolicy::Back { queue: tier.queue };
    }
    if tier.lease
        && configs[0].backend() == hoard_remote::Backend::Memcached
        && let Some(place) = places.iter().find(|p| p.name == "lease")
    {
        return Err((
            Some(place.span.clone()),
            format!(
                "remote.lease needs a redis or s3 remote: {} offers no lease",
                configs[0].backend()
            ),
        ));
    }
    let first = configs.remove(0);
    Ok(crate::RemoteSettings::new(first)
        .more_servers(configs)
        .policy(tier.policy)
        .access(tier.access)
        .lease(tier.lease.then_some(tier.lease_ttl)))
}

/// The servers `url` names: one URL, or a non-empty list of URLs of one backend, none
/// twice. An entry's problem points at that entry and names it (`remote.url[1]`).
#[cfg(feature = "remote")]
fn server_urls(
    url: &Place<'_, '_>,
    shown: &dyn Fn(Range<usize>) -> String,
) -> Result<Vec<hoard_remote::RemoteConfig>, Problem> {
    use hoard_remote::RemoteConfig;

    let Some(list) = url.value.as_array() else {
        let text = keys::string(url.value, "a remote URL, or a list of them")
            .map_err(|r| url.invalid(r, shown))?;
        return Ok(vec![
            RemoteConfig::parse(text).map_err(|e| url.refused(&e))?,
        ]);
    };
    if list.is_empty() {
        return Err((
            Some(url.span.clone()),
            "key `remote.url` is an empty list: name at least one server".to_owned(),
        ));
    }
    let mut configs: Vec<RemoteConfig> = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let span = entry.span();
        let name = format!("remote.url[{i}]");
        let problem = |message: String| (Some(span.clone()), message);
        let text = keys::string(entry.get_ref(), "a remote URL")
            .map_err(|r| problem(r.message(&name, entry.get_ref(), &shown(span.clone()))))?;
        let config = RemoteConfig::parse(text)
            .map_err(|e| problem(format!("key `{name}`: {}", e.message())))?;
        if let Some(first) = configs.first()
            && first.backend() != config.backend()
        {
            return Err(problem(format!(
                "key `{name}` is a {} server, but `remote.url[0]` is {}: the servers of a \
                 remote must all be of one backend",
                config.backend(),
                first.backend()
            )));
        }
        if let Some(j) = configs.iter().position(|c| c.url() == config.url()) {
            return Err(problem(format!(
                "key `{name}` names the server of `remote.url[{j}]` again ({})",
                config.url()
            )));
        }
        configs.push(config);
    }
    Ok(configs)
}

/// Every key of the table (in toml's order, by name), refusing unknown ones.
#[cfg(feature = "remote")]
fn known_keys<'t, 'i>(table: &'t DeTable<'i>) -> Result<Vec<Place<'t, 'i>>, Problem> {
    let mut places = Vec::new();
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
        places.push(Place {
            name,
            value: value.get_ref(),
            span: value.span(),
        });
    }
    Ok(places)
}

/// Applies one key (`url` is already in `config`): the connection's to `config`, the
/// tier's to `tier`.
#[cfg(feature = "remote")]
fn set_key(
    config: hoard_remote::RemoteConfig,
    tier: &mut TierUse,
    place: &Place<'_, '_>,
    shown: &dyn Fn(Range<usize>) -> String,
) -> Result<hoard_remote::RemoteConfig, Problem> {
    use hoard_remote::{RemoteAccess, WritePolicy};

    let value = place.value;
    let fail = |r: Reason| place.invalid(r, shown);
    let refused = |e: Error| place.refused(&e);
    let config = match place.name {
        "url" => config,
        "prefix" => {
            let text = keys::string(value, "a key prefix").map_err(fail)?;
            config.prefix(text).map_err(refused)?
        }
        "endpoint" => {
            let text = keys::string(value, "an http(s) URL").map_err(fail)?;
            config.endpoint(text).map_err(refused)?
        }
        "region" => {
            let text = keys::string(value, "a region name").map_err(fail)?;
            config.region(text).map_err(refused)?
        }
        "timeout" => {
            let timeout = millis_or_duration(value).map_err(fail)?;
            config.timeout(timeout).map_err(refused)?
        }
        "connect-timeout" => {
            let timeout = millis_or_duration(value).map_err(fail)?;
            config.connect_timeout(timeout).map_err(refused)?
        }
        "cooldown" => config.cooldown(keys::duration(value).map_err(fail)?),
        "max-item-size" => {
            let n = keys::size(value).map_err(fail)?;
            config.max_item_size(n).map_err(refused)?
        }
        "write-policy" => {
            tier.policy = keys::choice(
                value,
                &[
                    ("write-through", WritePolicy::Through),
                    ("write-back", WritePolicy::Back { queue: 0 }),
                    ("local-only", WritePolicy::LocalOnly),
                ],
                "write policy",
            )
            .map_err(fail)?;
            config
        }
        "write-back-queue" => {
            tier.queue = write_back_queue(value).map_err(fail)?;
            config
        }
        "read-only" => {
            if keys::boolean(value).map_err(fail)? {
                tier.access = RemoteAccess::ReadOnly;
            }
            config
        }
        "lease" => {
            tier.lease = keys::boolean(value).map_err(fail)?;
            config
        }
        "lease-ttl" => {
            let ttl = millis_or_duration(value).map_err(fail)?;
            if ttl.is_zero() {
                return Err(fail(keys::invalid(
                    "a lease lasts longer than zero".to_owned(),
                    "e.g. \"30s\"",
                )));
            }
            tier.lease_ttl = ttl;
            config
        }
        other => unreachable!("{other} is in REMOTE_KEYS but not handled"),
    };
    Ok(config)
}

/// The length of the write-back queue: 1 to 2^20 frames.
#[cfg(feature = "remote")]
fn write_back_queue(value: &DeValue<'_>) -> Result<usize, Reason> {
    let n = keys::count(value)?;
    usize::try_from(n)
        .ok()
        .filter(|n| (1..=1 << 20).contains(n))
        .ok_or_else(|| Reason::Invalid {
            why: "the queue holds 1 to 1,048,576 frames".to_owned(),
            expected: None,
        })
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
    let mut out = if settings.more_servers.is_empty() {
        format!("[cache.remote]\nurl = {}\n", q(c.url()))
    } else {
        let urls: Vec<String> = settings.servers().iter().map(|s| q(s.url())).collect();
        format!("[cache.remote]\nurl = [{}]\n", urls.join(", "))
    };
    if c.backend() != Backend::S3 {
        out.push_str(&format!("prefix = {}\n", q(c.get_prefix())));
    }
    if let Some(endpoint) = c.get_endpoint() {
        out.push_str(&format!("endpoint = {}\n", q(endpoint)));
    }
    if let Some(region) = c.get_region() {
        out.push_str(&format!("region = {}\n", q(region)));
    }
    out.push_str(&format!(
        "timeout = {}\nconnect-timeout = {}\ncooldown = {}\nwrite-policy = {}\n",
        q(&render_timeout(c.get_timeout())),
        q(&render_timeout(c.get_connect_timeout())),
        q(&super::units::render_duration(c.get_cooldown())),
        q(settings.policy.as_str())
    ));
    if let WritePolicy::Back { queue } = settings.policy {
        out.push_str(&format!("write-back-queue = {}\n", q(&queue.to_string())));
    }
    out.push_str(&format!(
        "read-only = {}\nmax-item-size = {}\n",
        settings.access == RemoteAccess::ReadOnly,
        q(&super::units::render_size(c.get_max_item_size()))
    ));
    out.push_str(&format!("lease = {}\n", settings.lease.is_some()));
    if let Some(ttl) = settings.lease {
        out.push_str(&format!("lease-ttl = {}\n", q(&render_timeout(ttl))));
    }
    out
}
