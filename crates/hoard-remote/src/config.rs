//! [`RemoteConfig`]: which backend, where, and how patient hoard is with it.

use std::fmt;
use std::time::Duration;

use hoard_core::{Error, ErrorKind, Result};
use url::Url;

/// The default per-operation timeout: an operation that takes longer is abandoned and counted
/// as a failure.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The default connect timeout: how long the first exchange with a remote may take (a TCP
/// connection, then for Redis and memcached a first answer over it) before the remote counts
/// as down. A refused connection fails at once whatever this says.
///
/// ccache uses 100 ms for a bare TCP connect; hoard's check also waits for Redis's or
/// memcached's first answer (the client's handshake and one `EXISTS` or `version`: about three
/// round trips), so 250 ms leaves room for a cross-region link of 80 ms round trip while an
/// unreachable or hung server costs a short-lived process an eighth of
/// [`DEFAULT_TIMEOUT`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

/// The default cool-down: how long the circuit breaker bypasses a remote after it failed.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(10);

/// The default key prefix of the key-value backends (and of S3 when the URL gives none).
pub const DEFAULT_PREFIX: &str = "hoard";

/// Longest accepted prefix, in bytes (memcached keys are at most 250 bytes, and the namespace
/// and digest need 166 of them).
pub const PREFIX_MAX_LEN: usize = 64;

/// memcached's default largest item (`-I 1m`) is 1 MiB for key, value and item header
/// together; hoard keeps 1 KiB of it for the key and header.
pub const MEMCACHED_DEFAULT_MAX_ITEM: u64 = (1 << 20) - 1024;

/// Redis's default largest string (`proto-max-bulk-len`): 512 MiB.
pub const REDIS_DEFAULT_MAX_ITEM: u64 = 512 << 20;

/// The largest object S3 accepts in one `PUT`: 5 GiB.
pub const S3_DEFAULT_MAX_ITEM: u64 = 5 << 30;

/// The environment variable holding the username of a Redis or memcached remote.
pub const USERNAME_ENV: &str = "HOARD_REMOTE_USERNAME";

/// The environment variable holding the password of a Redis or memcached remote.
pub const PASSWORD_ENV: &str = "HOARD_REMOTE_PASSWORD";

/// A remote storage service hoard can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Redis (or a protocol-compatible server such as Valkey): `redis://` or `rediss://`.
    Redis,
    /// memcached: `memcached://`.
    Memcached,
    /// Amazon S3 or an S3-compatible object store: `s3://`.
    S3,
}

impl Backend {
    /// The lowercase name used in URLs and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Memcached => "memcached",
            Self::S3 => "s3",
        }
    }

    /// The largest frame hoard sends to this backend unless told otherwise.
    pub fn default_max_item_size(self) -> u64 {
        match self {
            Self::Redis => REDIS_DEFAULT_MAX_ITEM,
            Self::Memcached => MEMCACHED_DEFAULT_MAX_ITEM,
            Self::S3 => S3_DEFAULT_MAX_ITEM,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a remote tier lives and how hoard talks to it.
///
/// Built from a URL ([`RemoteConfig::parse`]), then adjusted with the setters:
///
/// | URL | backend | notes |
/// |---|---|---|
/// | `redis://host[:port][/db]` | Redis | `rediss://` for TLS; port 6379, database 0 by default |
/// | `memcached://host[:port]` | memcached | port 11211 by default |
/// | `s3://bucket[/prefix]` | S3 | set [`endpoint`](Self::endpoint) for a non-AWS server and [`region`](Self::region) |
///
/// Each setting has one name (its `[cache.remote]` key's, `-` spelled `_`, where it has a
/// key), used as [`std::process::Command`] uses `arg` and `get_args`: the setter is the name
/// (`timeout(d)`), the getter is `get_` and the name (`get_timeout()`). The setters' names are
/// those of every release; the getters' older names (`operation_timeout`, `key_prefix`, ...)
/// still work, deprecated.
///
/// Credentials never come from the URL or a config file (a URL with a user or password is
/// refused): Redis and memcached read [`USERNAME_ENV`] and [`PASSWORD_ENV`]; S3 reads
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (no profile files,
/// no instance metadata), and sends unsigned requests (a public bucket) without them.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteConfig {
    credentials: Option<Credentials>,
    url: Url,
    backend: Backend,
    prefix: String,
    endpoint: Option<String>,
    region: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    cooldown: Duration,
    failure_threshold: u32,
    max_item_size: u64,
}

impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("url", &self.url.as_str())
            .field("backend", &self.backend)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("cooldown", &self.cooldown)
            .field("failure_threshold", &self.failure_threshold)
            .field("max_item_size", &self.max_item_size)
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl RemoteConfig {
    /// Parses a remote URL (see the table above). Errors name the URL and what is wrong
    /// with it, and are [`ErrorKind::Config`].
    pub fn parse(url: &str) -> Result<Self> {
        let shown = redact(url);
        let bad = |why: &str| {
            Error::new(
                ErrorKind::Config,
                format!("invalid remote url {shown:?}: {why}"),
            )
        };
        let parsed = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad(&format!(
                "credentials do not belong in the url; set {USERNAME_ENV} and {PASSWORD_ENV} \
                 (Redis, memcached) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (S3)"
            )));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("a query or fragment is not supported"));
        }
        let backend = match parsed.scheme() {
            "redis" | "rediss" => Backend::Redis,
            "memcached" => Backend::Memcached,
            "s3" => Backend::S3,
            other => {
                return Err(bad(&format!(
                    "unknown scheme {other:?}; use redis://, rediss://, memcached:// or s3://"
                )));
            }
        };
        let host = parsed.host_str().unwrap_or("");
        if host.is_empty() {
            return Err(bad(match backend {
                Backend::S3 => "the bucket is missing (s3://bucket/prefix)",
                _ => "the host is missing",
            }));
        }
        let path = parsed.path().trim_matches('/');
        let mut prefix = DEFAULT_PREFIX.to_owned();
        match backend {
            Backend::Redis => {
                if !path.is_empty() && path.parse::<u8>().is_err() {
                    return Err(bad(&format!(
                        "the path must be a database number (redis://host:6379/0), not {path:?}"
                    )));
                }
            }
            Backend::Memcached => {
                if !path.is_empty() {
                    return Err(bad("memcached takes no path (memcached://host:11211)"));
                }
            }
            Backend::S3 => {
                if parsed.port().is_some() {
                    return Err(bad(
                        "an S3 url names a bucket, not a server: set `endpoint` for the server",
                    ));
                }
                if !path.is_empty() {
                    check_prefix(path).map_err(|why| bad(&why))?;
                    prefix = path.to_owned();
                }
            }
        }
        Ok(Self {
            credentials: None,
            url: parsed,
            backend,
            prefix,
            endpoint: None,
            region: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            cooldown: DEFAULT_COOLDOWN,
            failure_threshold: 1,
            max_item_size: backend.default_max_item_size(),
        })
    }

    /// The key prefix of a Redis or memcached remote (default [`DEFAULT_PREFIX`]): segments
    /// of `[A-Za-z0-9._-]` separated by `/`, at most [`PREFIX_MAX_LEN`] bytes. An S3 remote
    /// takes its prefix from the URL's path instead, and refuses this setting.
    pub fn prefix(mut self, prefix: &str) -> Result<Self> {
        let prefix = prefix.trim_matches('/');
        let bad = |why: String| {
            Error::new(
                ErrorKind::Config,
                format!("invalid remote prefix {prefix:?}: {why}"),
            )
        };
        if self.backend == Backend::S3 {
            return Err(bad(
                "an S3 remote takes its prefix from the url (s3://bucket/prefix)".to_owned(),
            ));
        }
        check_prefix(prefix).map_err(bad)?;
        self.prefix = prefix.to_owned();
        Ok(self)
    }

    /// The S3 server to talk to (`http://127.0.0.1:9000`, say); AWS's regional endpoint
    /// when unset. Refused for other backends, whose URL names the server.
    pub fn endpoint(mut self, endpoint: &str) -> Result<Self> {
        if self.backend != Backend::S3 {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "remote endpoint {endpoint:?} is for s3:// remotes only; a {} url names its server",
                    self.backend
                ),
            ));
        }
        let parsed = Url::parse(endpoint).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("invalid remote endpoint {endpoint:?}: {e}"),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https")
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "invalid remote endpoint {endpoint:?}: use http:// or https://, without credentials"
                ),
            ));
        }
        self.endpoint = Some(endpoint.trim_end_matches('/').to_owned());
        Ok(self)
    }

    /// The S3 region (default `us-east-1`, which S3-compatible servers accept). Refused for
    /// other backends.
    pub fn region(mut self, region: &str) -> Result<Self> {
        let ok = !region.is_empty()
            && region.len() <= 64
            && region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if self.backend != Backend::S3 || !ok {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "invalid remote region {region:?}: a region is 1 to 64 characters of \
                     [A-Za-z0-9_-], for s3:// remotes only"
                ),
            ));
        }
        self.region = Some(region.to_owned());
        Ok(self)
    }

    /// The per-operation timeout (default [`DEFAULT_TIMEOUT`]); at least 1 ms.
    pub fn timeout(mut self, timeout: Duration) -> Result<Self> {
        if timeout < Duration::from_millis(1) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("remote timeout {timeout:?} is too short: use at least 1ms"),
            ));
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// How long the first exchange with the remote may take (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]); at least 1 ms. A store checks the connection before its
    /// first operation and before the first one after a failure: a TCP connection to the
    /// server (for S3, its endpoint), then for Redis and memcached one answer over the
    /// client's own connection. A refused connection fails at once; a server that does not
    /// accept or answer within this time fails then, rather than after the operation's
    /// [`timeout`](Self::timeout). Either trips the circuit breaker like any failure.
    pub fn connect_timeout(mut self, timeout: Duration) -> Result<Self> {
        if timeout < Duration::from_millis(1) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("remote connect timeout {timeout:?} is too short: use at least 1ms"),
            ));
        }
        self.connect_timeout = timeout;
        Ok(self)
    }

    /// How long the circuit breaker bypasses the remote after it tripped (default
    /// [`DEFAULT_COOLDOWN`]); zero turns the breaker off.
    #[must_use]
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Consecutive failures (errors or timeouts) that trip the breaker (default 1: a dead
    /// remote costs one timeout per cool-down). At least 1.
    pub fn failure_threshold(mut self, failures: u32) -> Result<Self> {
        if failures == 0 {
            return Err(Error::new(
                ErrorKind::Config,
                "remote failure threshold must be at least 1",
            ));
        }
        self.failure_threshold = failures;
        Ok(self)
    }

    /// The largest frame sent to the remote (default [`Backend::default_max_item_size`]);
    /// a larger one is skipped and counted, never chunked. Raise it for a memcached started
    /// with a larger `-I`.
    pub fn max_item_size(mut self, bytes: u64) -> Result<Self> {
        if bytes == 0 {
            return Err(Error::new(
                ErrorKind::Config,
                "remote max item size must be at least 1 byte",
            ));
        }
        self.max_item_size = bytes;
        Ok(self)
    }

    /// Credentials given by the program, instead of the environment's (a secret store, a
    /// test server). They are never shown by `Debug`.
    #[must_use]
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The credentials given with [`credentials`](Self::credentials), if any.
    pub fn get_credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// The URL as given (it holds no credentials: [`parse`](Self::parse) refuses them).
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The backend the URL names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The key prefix set with [`prefix`](Self::prefix) (for S3, the URL's path or
    /// [`DEFAULT_PREFIX`]).
    pub fn get_prefix(&self) -> &str {
        &self.prefix
    }

    /// The S3 endpoint set with [`endpoint`](Self::endpoint), if any.
    pub fn get_endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The S3 region set with [`region`](Self::region), if any.
    pub fn get_region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The per-operation timeout (see [`timeout`](Self::timeout)).
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    /// The connect timeout (see [`connect_timeout`](Self::connect_timeout)).
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The circuit breaker's cool-down (see [`cooldown`](Self::cooldown)).
    pub fn get_cooldown(&self) -> Duration {
        self.cooldown
    }

    /// Consecutive failures that trip the breaker (see
    /// [`failure_threshold`](Self::failure_threshold)).
    pub fn get_failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// The largest frame sent to the remote (see [`max_item_size`](Self::max_item_size)).
    pub fn get_max_item_size(&self) -> u64 {
        self.max_item_size
    }

    /// The former name of [`get_credentials`](Self::get_credentials).
    #[deprecated(since = "0.2.0", note = "use get_credentials")]
    pub fn given_credentials(&self) -> Option<&Credentials> {
        self.get_credentials()
    }

    /// The former name of [`get_prefix`](Self::get_prefix).
    #[deprecated(since = "0.2.0", note = "use get_prefix")]
    pub fn key_prefix(&self) -> &str {
        self.get_prefix()
    }

    /// The former name of [`get_endpoint`](Self::get_endpoint).
    #[deprecated(since = "0.2.0", note = "use get_endpoint")]
    pub fn endpoint_url(&self) -> Option<&str> {
        self.get_endpoint()
    }

    /// The former name of [`get_region`](Self::get_region).
    #[deprecated(since = "0.2.0", note = "use get_region")]
    pub fn region_name(&self) -> Option<&str> {
        self.get_region()
    }

    /// The former name of [`get_timeout`](Self::get_timeout).
    #[deprecated(since = "0.2.0", note = "use get_timeout")]
    pub fn operation_timeout(&self) -> Duration {
        self.get_timeout()
    }

    /// The former name of [`get_cooldown`](Self::get_cooldown).
    #[deprecated(since = "0.2.0", note = "use get_cooldown")]
    pub fn breaker_cooldown(&self) -> Duration {
        self.get_cooldown()
    }

    /// The former name of [`get_failure_threshold`](Self::get_failure_threshold).
    #[deprecated(since = "0.2.0", note = "use get_failure_threshold")]
    pub fn breaker_threshold(&self) -> u32 {
        self.get_failure_threshold()
    }

    /// The former name of [`get_max_item_size`](Self::get_max_item_size).
    #[deprecated(since = "0.2.0", note = "use get_max_item_size")]
    pub fn item_size_limit(&self) -> u64 {
        self.get_max_item_size()
    }

    /// The host (or S3 bucket) the URL names.
    pub(crate) fn host(&self) -> &str {
        self.url.host_str().unwrap_or("")
    }

    /// The port the URL names, if any.
    pub(crate) fn port(&self) -> Option<u16> {
        self.url.port()
    }

    /// The Redis database number (0 when the URL has no path).
    pub(crate) fn redis_db(&self) -> i64 {
        self.url.path().trim_matches('/').parse().unwrap_or(0)
    }

    /// Whether the URL asks for TLS (`rediss://`).
    pub(crate) fn tls(&self) -> bool {
        self.url.scheme() == "rediss"
    }
}

/// `url` with anything between `://` and the last `@` of its authority replaced by `***`,
/// so that an error about a URL with credentials does not repeat them.
fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_owned(),
    }
}

/// A user (or access key id) and a secret, for [`RemoteConfig::credentials`]. `Debug`
/// shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub(crate) user: String,
    pub(crate) secret: String,
}

impl Credentials {
    /// Redis or memcached: a username (empty for Redis's default user) and a password; S3:
    /// an access key id and a secret access key.
    pub fn new(user: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            secret: secret.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

fn check_prefix(prefix: &str) -> std::result::Result<(), String> {
    if prefix.is_empty() || prefix.len() > PREFIX_MAX_LEN {
        return Err(format!("use 1 to {PREFIX_MAX_LEN} bytes"));
    }
    for segment in prefix.split('/') {
        let ok = !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return Err(format!(
                "segment {segment:?} is not 1 or more characters of [A-Za-z0-9._-] (and not . or ..)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_backend() {
        let r = RemoteConfig::parse("redis://127.0.0.1:6390/3").expect("a valid remote setting");
        assert_eq!(
            (r.backend(), r.host(), r.port(), r.redis_db()),
            (Backend::Redis, "127.0.0.1", Some(6390), 3)
        );
        assert_eq!(r.get_prefix(), DEFAULT_PREFIX);
        let m = RemoteConfig::parse("memcached://cache.local").expect("a valid remote setting");
        assert_eq!((m.backend(), m.port()), (Backend::Memcached, None));
        assert_eq!(m.get_max_item_size(), MEMCACHED_DEFAULT_MAX_ITEM);
        let s = RemoteConfig::parse("s3://builds/ci/hoard")
            .expect("a valid remote setting")
            .endpoint("http://127.0.0.1:9000")
            .expect("a valid remote setting")
            .region("eu-west-1")
            .expect("a valid remote setting");
        assert_eq!(
            (s.backend(), s.host(), s.get_prefix()),
            (Backend::S3, "builds", "ci/hoard")
        );
        assert_eq!(s.get_endpoint(), Some("http://127.0.0.1:9000"));
        assert_eq!(
            RemoteConfig::parse("s3://builds")
                .expect("a valid remote setting")
                .get_prefix(),
            DEFAULT_PREFIX
        );
    }

    #[test]
    fn refuses_what_it_cannot_use_and_says_why() {
        for (url, needle) in [
            ("redis://:secret@127.0.0.1", "credentials"),
            ("redis://user:pw@127.0.0.1", "HOARD_REMOTE_PASSWORD"),
            ("ftp://x", "unknown scheme"),
            ("redis://h/abc", "database number"),
            ("memcached://h/x", "no path"),
            ("s3:///prefix", "bucket is missing"),
            ("s3://b:9000/p", "endpoint"),
            ("s3://b/a%20b", "segment"),
            ("redis://h?x=1", "query"),
            ("not a url", "invalid remote url"),
        ] {
            let e = RemoteConfig::parse(url).expect_err("must be refused");
            assert_eq!(e.kind(), ErrorKind::Config, "{url}");
            assert!(e.message().contains(needle), "{url}: {e}");
            assert!(e.message().contains(&redact(url)), "{url}: {e}");
        }
        let redis = RemoteConfig::parse("redis://h").expect("a valid remote setting");
        assert!(redis.clone().endpoint("http://x").is_err());
        assert!(redis.clone().region("eu-west-1").is_err());
        assert!(redis.clone().prefix("a/../b").is_err());
        assert!(redis.clone().prefix(&"x".repeat(65)).is_err());
        assert_eq!(
            redis
                .clone()
                .prefix("/team/a/")
                .expect("a valid remote setting")
                .get_prefix(),
            "team/a"
        );
        assert!(redis.clone().timeout(Duration::ZERO).is_err());
        assert!(redis.clone().connect_timeout(Duration::ZERO).is_err());
        assert_eq!(redis.get_connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
        assert!(redis.clone().failure_threshold(0).is_err());
        assert!(redis.max_item_size(0).is_err());
        let s3 = RemoteConfig::parse("s3://b").expect("a valid remote setting");
        assert!(s3.clone().prefix("x").is_err());
        assert!(s3.clone().endpoint("ftp://x").is_err());
        assert!(s3.endpoint("http://u:p@x").is_err());
    }

    #[test]
    #[expect(
        deprecated,
        reason = "the getters' released names must keep answering like get_<name>"
    )]
    fn the_old_getter_names_forward_to_the_get_names() {
        let s = RemoteConfig::parse("s3://b/p")
            .and_then(|c| c.endpoint("http://127.0.0.1:9000"))
            .and_then(|c| c.region("eu-west-1"))
            .and_then(|c| c.timeout(Duration::from_millis(250)))
            .and_then(|c| c.failure_threshold(3))
            .and_then(|c| c.max_item_size(4096))
            .expect("a valid remote setting")
            .cooldown(Duration::from_secs(7))
            .credentials(Credentials::new("id", "secret"));
        assert_eq!(s.key_prefix(), "p");
        assert_eq!(s.endpoint_url(), Some("http://127.0.0.1:9000"));
        assert_eq!(s.region_name(), Some("eu-west-1"));
        assert_eq!(s.operation_timeout(), Duration::from_millis(250));
        assert_eq!(s.breaker_cooldown(), Duration::from_secs(7));
        assert_eq!(s.breaker_threshold(), 3);
        assert_eq!(s.item_size_limit(), 4096);
        assert_eq!(
            s.given_credentials(),
            Some(&Credentials::new("id", "secret"))
        );
        assert_eq!(
            (s.get_prefix(), s.get_endpoint(), s.get_region()),
            (s.key_prefix(), s.endpoint_url(), s.region_name())
        );
    }

    #[test]
    fn the_password_never_reaches_debug_output() {
        for url in [
            "redis://:hunter2@h",
            "redis://me:hunter2@h/0",
            "s3://k:hunter2@b/p",
        ] {
            let e = RemoteConfig::parse(url).expect_err("must be refused");
            assert!(!e.message().contains("hunter2"), "{e}");
            assert!(e.message().contains("***@"), "{e}");
        }
        let c = RemoteConfig::parse("redis://h:1/2")
            .expect("a valid remote setting")
            .credentials(Credentials::new("me", "hunter2"));
        let dbg = format!("{c:?}");
        assert!(
            dbg.contains("redis://h:1/2") && !dbg.contains("hunter2"),
            "{dbg}"
        );
    }
}
