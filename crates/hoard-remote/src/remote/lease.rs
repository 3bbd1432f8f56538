//! The remote lease ([`Store::lease`](hoard_core::Store::lease) of a [`RemoteStore`]): on
//! Redis, `SET <key>.lease <token> NX PX <ttl>`, released by a script that deletes the key
//! only while it still holds this holder's token; on S3, a conditional create of the object
//! `<key>.lease` (see [`s3_acquire`]).
//!
//! OpenDAL's Redis service has no `SET NX`, so the lease talks to Redis with the `redis`
//! client OpenDAL itself uses, over one multiplexed connection of its own, opened on first
//! use (and again after a failure). Taking a lease is an operation like any other: it runs
//! under the store's timeout, connection check and circuit breaker, so a dead remote costs
//! what a get costs (fail fast, then compute). The release, run when the [`Lease`] is
//! dropped, is best effort: skipped when the remote failed since (the put before it, say),
//! bounded by the operation timeout (an S3 delete may need a new TLS connection, more than
//! the connect timeout allows); a lease left behind expires after its TTL.
//!
//! Not offered on memcached: OpenDAL 0.59's memcached service has no `add`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoard_core::{Digest, Error, ErrorKind, Lease, Namespace, Result};
use opendal::Operator;
use redis::aio::MultiplexedConnection;

use super::{RemoteStore, user_and_password};
use crate::config::{Backend, RemoteConfig};
use crate::stats::RemoteCounters;

/// Deletes `KEYS[1]` only if it still holds `ARGV[1]`: a holder whose lease expired and was
/// taken by another never releases the other's.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// The Redis side of leases: a client and its connection, opened on first use.
pub(super) struct RedisLeases {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl RedisLeases {
    /// The lease client of a Redis remote; `None` for the other backends.
    pub(super) fn open(config: &RemoteConfig) -> Result<Option<Arc<Self>>> {
        if config.backend() != Backend::Redis {
            return Ok(None);
        }
        let host = config
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = config.port().unwrap_or(6379);
        let addr = if config.tls() {
            redis::ConnectionAddr::TcpTls {
                host,
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            redis::ConnectionAddr::Tcp(host, port)
        };
        let mut settings = redis::RedisConnectionInfo::default()
            .set_db(config.redis_db())
            .set_protocol(redis::ProtocolVersion::RESP2);
        if let Some((user, password)) = user_and_password(config) {
            if !user.is_empty() {
                settings = settings.set_username(user);
            }
            settings = settings.set_password(password);
        }
        let refused = |e: redis::RedisError| {
            Error::new(
                ErrorKind::Config,
                format!("cannot use remote {} for leases: {e}", config.url()),
            )
            .with_source(e)
        };
        let info = redis::IntoConnectionInfo::into_connection_info(addr)
            .map_err(refused)?
            .set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(refused)?;
        Ok(Some(Arc::new(Self {
            client,
            connection: Mutex::new(None),
        })))
    }

    /// The open connection, or a new one.
    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        let open = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(connection) = open {
            return Ok(connection);
        }
        let connection = self.client.get_multiplexed_async_connection().await?;
        *self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(connection.clone());
        Ok(connection)
    }

    /// Runs `cmd` on the connection; a failure drops the connection, so that the next
    /// command opens a fresh one.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> opendal::Result<T> {
        let result = match self.connection().await {
            Ok(mut connection) => cmd.query_async(&mut connection).await,
            Err(e) => Err(e),
        };
        result.map_err(|e| {
            *self
                .connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
            opendal::Error::new(opendal::ErrorKind::Unexpected, "redis lease command failed")
                .set_source(e)
        })
    }

    /// `SET key token NX PX ttl`: whether this caller took the lease.
    async fn acquire(&self, key: &str, token: &str, ttl_ms: u64) -> opendal::Result<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(token).arg("NX").arg("PX").arg(ttl_ms);
        let answer: Option<String> = self.query(&cmd).await?;
        Ok(answer.is_some())
    }

    /// Deletes `key` if it still holds `token`.
    async fn release(&self, key: &str, token: &str) -> opendal::Result<bool> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RELEASE).arg(1).arg(key).arg(token);
        let deleted: i64 = self.query(&cmd).await?;
        Ok(deleted == 1)
    }
}

/// How a lease is released.
enum ReleaseBy {
    /// Delete the Redis key if it still holds the token.
    Redis {
        leases: Arc<RedisLeases>,
        token: String,
    },
    /// Delete the S3 object if it is still the version this holder wrote.
    S3 { op: Operator, etag: String },
}

/// What releases a lease when the [`Lease`] holding it is dropped.
struct Release {
    by: Option<ReleaseBy>,
    key: String,
    runtime: tokio::runtime::Handle,
    /// The store's "answered since the last failure": a release after a failure is skipped
    /// (the lease expires by itself) rather than paying for a dead remote again.
    reachable: Arc<std::sync::atomic::AtomicBool>,
    /// How long the release may take (the store's operation timeout).
    bound: Duration,
}

impl Drop for Release {
    fn drop(&mut self) {
        let Some(by) = self.by.take() else {
            return;
        };
        if !self.reachable.load(Ordering::Relaxed) {
            return;
        }
        let key = std::mem::take(&mut self.key);
        let bound = self.bound;
        let (tx, rx) = mpsc::sync_channel(1);
        // Spawned and waited for on a channel, which works from any thread (inside another
        // runtime too); after the store's runtime shut down the task is dropped unrun.
        self.runtime.spawn(async move {
            let release = async {
                match by {
                    ReleaseBy::Redis { leases, token } => leases.release(&key, &token).await,
                    ReleaseBy::S3 { op, etag } => s3_release(&op, &key, &etag).await,
                }
            };
            let released = tokio::time::timeout(bound, release).await;
            if !matches!(released, Ok(Ok(_))) {
                tracing::debug!(lease = %key, "lease not released; it expires by itself");
            }
            // The receiver only goes away if the dropping thread stopped waiting.
            let _ = tx.send(());
        });
        let _ = rx.recv_timeout(bound + Duration::from_millis(50));
    }
}

impl RemoteStore {
    /// The backend key of the lease of `(ns, digest)`: the entry's key and `.lease` (no
    /// entry's key ends so: a digest is 64 hex digits).
    pub fn lease_key(&self, ns: &Namespace, digest: &Digest) -> String {
        format!("{}.lease", self.object_key(ns, digest))
    }

    /// [`Store::lease`](hoard_core::Store::lease) of this store.
    pub(super) fn take_lease(
        &self,
        ns: &Namespace,
        digest: &Digest,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let key = self.lease_key(ns, digest);
        let token = owner_token();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let by = match (&self.leases, self.config.backend()) {
            (Some(leases), _) => {
                let (l, k, t) = (Arc::clone(leases), key.clone(), token.clone());
                let outcome = self.run(async move { l.acquire(&k, &t, ttl_ms).await });
                let won = self.settle("lease", &key, outcome, &self.counters.lease_failures)?;
                won.then(|| ReleaseBy::Redis {
                    leases: Arc::clone(leases),
                    token,
                })
            }
            (None, Backend::S3) => {
                let (op, k) = (self.op.clone(), key.clone());
                let outcome = self.run(async move { s3_acquire(&op, &k, &token, ttl_ms).await });
                let won = self.settle("lease", &key, outcome, &self.counters.lease_failures)?;
                won.map(|etag| ReleaseBy::S3 {
                    op: self.op.clone(),
                    etag,
                })
            }
            (None, _) => {
                return Err(Error::new(
                    ErrorKind::NotSupportedByStore,
                    format!(
                        "remote {} offers no lease for {ns}/{digest}: only redis and s3 do",
                        self.config.url()
                    ),
                ));
            }
        };
        let Some(by) = by else {
            RemoteCounters::bump(&self.counters.lease_losses);
            return Ok(None);
        };
        RemoteCounters::bump(&self.counters.lease_wins);
        Ok(Some(Lease::new(Release {
            by: Some(by),
            key,
            runtime: self.runtime().handle().clone(),
            reachable: Arc::clone(&self.reachable),
            bound: self.config.get_timeout(),
        })))
    }
}

/// The body of an S3 lease object: a tag, the holder's token and the lease's deadline in
/// milliseconds since the epoch, by the holder's clock.
fn s3_body(token: &str, deadline_ms: u64) -> String {
    format!("hoard-lease {token} {deadline_ms}")
}

/// The deadline an S3 lease object's body records; `None` for anything else.
fn s3_deadline(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let mut parts = text.split(' ');
    if parts.next()? != "hoard-lease" {
        return None;
    }
    let _token = parts.next()?;
    let deadline = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some(deadline)
}

fn is_condition_failure(e: &opendal::Error) -> bool {
    matches!(
        e.kind(),
        opendal::ErrorKind::ConditionNotMatch | opendal::ErrorKind::NotFound
    )
}

/// Takes the S3 lease at `path` for `ttl_ms`; `Some(etag of the object written)` if taken.
///
/// A create conditional on the object's absence (`If-None-Match: *`) takes a free lease.
/// A held one is read: if its deadline has passed (by this machine's clock; the holder
/// wrote it by its own, so clocks that disagree by more than what the TTL leaves beyond a
/// computation let a second machine compute too, a waste, never wrong data), it is replaced
/// by a write conditional on the ETag it was read with (`If-Match`), so that of several
/// takers of one expired lease exactly one wins. An object that is not a lease body (damaged)
/// counts as expired, so that it cannot block the key.
async fn s3_acquire(
    op: &Operator,
    path: &str,
    token: &str,
    ttl_ms: u64,
) -> opendal::Result<Option<String>> {
    let now = wall_ms();
    let body = s3_body(token, now.saturating_add(ttl_ms));
    match op.write_with(path, body.clone()).if_not_exists(true).await {
        Ok(meta) => return Ok(Some(meta.etag().unwrap_or_default().to_owned())),
        Err(e) if is_condition_failure(&e) => {}
        Err(e) => return Err(e),
    }
    let meta = match op.stat(path).await {
        Ok(meta) => meta,
        // Released meanwhile: lost this round; a waiter asks again.
        Err(e) if is_condition_failure(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(etag) = meta.etag().map(str::to_owned) else {
        return Ok(None);
    };
    let held = match op.read(path).await {
        Ok(held) => held.to_vec(),
        Err(e) if is_condition_failure(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    // The body read may be a newer version than `etag`: then the conditional write below
    // fails, as it should.
    if s3_deadline(&held).is_some_and(|deadline| deadline > now) {
        return Ok(None);
    }
    match op.write_with(path, body).if_match(&etag).await {
        Ok(meta) => Ok(Some(meta.etag().unwrap_or_default().to_owned())),
        Err(e) if is_condition_failure(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Deletes the S3 lease at `path` if it is still the version with `etag` (`If-Match`): a
/// holder whose lease expired and was taken over never deletes the new holder's. Without
/// an ETag (a server that returned none) nothing is deleted: the lease expires.
async fn s3_release(op: &Operator, path: &str, etag: &str) -> opendal::Result<bool> {
    if etag.is_empty() {
        return Ok(false);
    }
    match op.delete_with(path).if_match(etag).await {
        Ok(()) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Milliseconds since the epoch by this machine's clock.
fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A token no other holder uses: the process id, the time, a per-process sequence number
/// and the randomness of std's hash seed.
fn owner_token() -> String {
    use std::hash::{BuildHasher, RandomState};
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let random = RandomState::new().hash_one((seq, nanos));
    format!("{:x}-{nanos:x}-{seq:x}-{random:016x}", std::process::id())
}
