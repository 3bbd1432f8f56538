//! [`RemoteStore`]: frames stored as they are on S3 (and `rediss://` Redis) through OpenDAL,
//! on `redis://` Redis through hoard's own RESP client (`resp.rs`), or on memcached through
//! hoard's own client (`memcached.rs`), with a per-operation timeout and a circuit breaker.

mod lease;

use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

use futures_core::Stream;
use hoard_core::{
    Digest, EntryInfo, Error, ErrorKind, Housekeeping, Lease, Namespace, Result, Store,
};
use opendal::{HttpTransporter, Operator, services};
use opendal_http_transport_reqwest::ReqwestTransport;

use crate::breaker::{Admit, Breaker, Tripped};
use crate::clock::{Clock, SystemClock};
use crate::config::{Backend, PASSWORD_ENV, REDIS_DEFAULT_MAX_ITEM, RemoteConfig, USERNAME_ENV};
use crate::memcached::Memcached;
use crate::resp::{Got, Redis};
use crate::shared::{Shared, SharedBreaker};
use crate::stats::{RemoteCounters, RemoteStats};

/// A [`Store`] on a remote service: Redis, memcached or S3 (see [`RemoteConfig`]). S3 is
/// reached through OpenDAL; Redis (`redis://`) through hoard's own RESP client on a
/// `TCP_NODELAY` socket, on the calling thread (OpenDAL's Redis service, async on the store's
/// runtime, made a 1 KiB hit about 13x a raw `GET`; `rediss://`, which needs TLS, still goes
/// through OpenDAL); memcached through rust-memcache's meta-protocol connection on a
/// `TCP_NODELAY` socket (OpenDAL 0.59's memcached client cannot set it, and waited for
/// delayed ACKs: about 90 ms per hit on loopback).
///
/// - **Layout.** A frame lives under `<prefix>/<namespace>/<digest>` (the digest in lowercase
///   hex); on S3 a shard segment, the digest's first byte in hex, comes before the digest
///   (`<prefix>/<namespace>/<shard>/<digest>`), spreading keys over 256 prefixes as S3's
///   per-prefix request rates want.
/// - **Frames as they are.** The store moves the bytes hoard framed; whoever reads them
///   verifies them, so a value damaged or swapped in the remote is a miss, never served.
/// - **Sizes.** A frame larger than [`RemoteConfig::max_item_size`] (memcached's default item
///   limit is 1 MiB) is not sent: the put fails with [`ErrorKind::TooLarge`] and is counted
///   in [`RemoteStats::skipped_too_large`]. Large artifacts are not chunked: a chunked value
///   is several keys that the backend evicts independently and that concurrent writers can
///   interleave, and S3, where large artifacts belong, takes them whole.
/// - **Bounded gets.** A value longer than a get's limit is refused with
///   [`ErrorKind::TooLarge`] (counted in [`RemoteStats::too_large`]), and where the backend
///   can say a value's length first it is never fetched: on S3 one ranged request whose
///   answer gives the object's size before its body is read; on Redis, when the limit is
///   below its item limit ([`RemoteConfig::max_item_size`], at least Redis's default 512
///   MiB), `EXISTS` and `STRLEN` before `GET` (one more round trip per hit; under the
///   default 1 GiB cap a hit is one `GET`, bounded by Redis's own limit, and a value whose
///   announced length is over the limit is not read). Memcached has no ranged or sized
///   read: a get receives at most its item limit (1 MiB by default) and is refused after
///   the fetch. What is kept is copied at most once on its way to the caller (not at all
///   for Redis and memcached).
/// - **Failures.** Each operation has a timeout ([`RemoteConfig::timeout`]). An error or a
///   timeout is returned as an [`ErrorKind::Io`] error (the facade turns it into a counted
///   miss) and counts towards the circuit breaker: after
///   [`RemoteConfig::failure_threshold`] consecutive failures, operations fail at once for
///   [`RemoteConfig::cooldown`], then a single probe decides whether the remote is back. The
///   breaker reads its time from a [`Clock`] ([`with_clock`](Self::with_clock)); timeouts
///   are always real time.
/// - **Connection check.** The first operation, and the first after a failure, checks the
///   connection first within [`RemoteConfig::connect_timeout`] (250 ms by default): a TCP
///   connection to the server, then for Redis and memcached one answer over the client's
///   own pooled connection (`redis://` and memcached: a new connection, with its
///   authentication and database selection, answering `PING` or `mn`, then used for the
///   operation). A refused connection fails at once (OpenDAL's Redis client would otherwise
///   retry it until the operation's timeout), and a server that accepts nothing or answers
///   nothing fails after the connect timeout. Through OpenDAL (S3, `rediss://`), an
///   operation over a live connection that has not finished within the connect timeout
///   checks that the server still accepts connections, so a server killed under it fails
///   the operation then; hoard's own clients need no such watch, since a killed server's
///   connections end at once (EOF or reset) and they never retry. So a dead remote
///   costs any process at most the connect timeout; only a server that accepts connections
///   and then stops answering an operation in progress costs the operation's timeout.
/// - **Shared breaker.** With [`with_shared_breaker`](Self::with_shared_breaker) (the
///   facade passes the cache directory), the breaker's state is also kept in the directory's
///   `state/`: a remote one process found failing is bypassed by every process using the
///   directory for the rest of the cool-down, and when it ends exactly one of them probes
///   it (a bounded probe: the connection check comes first). So with a refused or hung
///   remote only one process per cool-down pays anything.
/// - **Lease.** [`Store::lease`] takes `<key>.lease`: on Redis with `SET NX PX`, on S3 by
///   a create conditional on its absence (an expired one replaced by a write conditional on
///   its ETag), so that a fleet sharing the remote computes a key once (see the facade's
///   single-flight); under the same timeout and breaker as every operation. Memcached
///   offers none.
/// - **Listing.** S3 lists (under the prefix); Redis and memcached cannot, and `list`
///   returns [`ErrorKind::NotSupportedByStore`].
/// - **Runtime.** OpenDAL is async; the store owns a two-thread tokio runtime and blocks the
///   calling thread on it, so it is usable from plain threads and from inside another async
///   runtime alike (there it waits without entering the caller's runtime). The Redis and
///   memcached clients are blocking and run on the calling thread, under the same timeouts;
///   the Redis lease alone still uses the `redis` crate's async connection on the runtime.
pub struct RemoteStore {
    config: RemoteConfig,
    op: Operator,
    /// memcached's client (`memcached.rs`), which every memcached operation goes through
    /// instead of `op`.
    memcached: Option<Memcached>,
    /// The Redis client (`resp.rs`) of a `redis://` remote, which its gets, puts, removals
    /// and pings go through instead of `op` (`rediss://` stays on `op`: TLS).
    redis: Option<Redis>,
    runtime: Option<tokio::runtime::Runtime>,
    breaker: Breaker,
    clock: Arc<dyn Clock>,
    counters: RemoteCounters,
    /// The breaker state every process using one cache directory shares, if given.
    shared: Option<SharedBreaker>,
    /// Whether the remote answered since this store's last failure; the next operation
    /// checks the connection first otherwise.
    reachable: Arc<AtomicBool>,
    /// Whether this process claimed the shared probe and has not seen its outcome yet.
    shared_probe: AtomicBool,
    /// The Redis lease client (`remote/lease.rs`); S3 leases go through `op`.
    leases: Option<Arc<lease::RedisLeases>>,
}

impl fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteStore")
            .field("url", &self.config.url())
            .field("prefix", &self.config.get_prefix())
            .field("breaker_open", &self.breaker.is_open())
            .field(
                "shared_breaker",
                &self.shared.as_ref().map(|s| s.name().as_str()),
            )
            .finish_non_exhaustive()
    }
}

/// How one remote operation ended.
pub(crate) enum Outcome<T> {
    Done(opendal::Result<T>),
    TimedOut,
    Bypassed,
    /// The connection check failed at once (refused, no such host).
    ConnectFailed(opendal::Error),
    /// The connection check did not finish within the connect timeout.
    ConnectTimedOut,
}

impl RemoteStore {
    /// Connects lazily to the remote `config` names: nothing is sent until the first
    /// operation, so an unreachable remote is not an error here. Fails only for a
    /// configuration OpenDAL refuses, or when the runtime's threads cannot be started.
    pub fn open(config: RemoteConfig) -> Result<Self> {
        install_defaults();
        let op = operator(&config)?;
        let leases = lease::RedisLeases::open(&config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hoard-remote")
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot start the runtime of remote {}: {e}", config.url()),
                )
                .with_source(e)
            })?;
        let memcached = (config.backend() == Backend::Memcached).then(|| {
            Memcached::new(
                config
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                config.port().unwrap_or(11211),
                user_and_password(&config),
                config.get_timeout(),
            )
        });
        let redis = (config.backend() == Backend::Redis && !config.tls()).then(|| {
            Redis::new(
                config
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                config.port().unwrap_or(6379),
                config.redis_db(),
                user_and_password(&config),
                config.get_timeout(),
            )
        });
        Ok(Self {
            memcached,
            redis,
            breaker: Breaker::new(config.get_failure_threshold(), config.get_cooldown()),
            config,
            op,
            runtime: Some(runtime),
            clock: Arc::new(SystemClock),
            counters: RemoteCounters::default(),
            shared: None,
            reachable: Arc::new(AtomicBool::new(false)),
            shared_probe: AtomicBool::new(false),
            leases,
        })
    }

    /// Keeps the circuit breaker's state in `keeper`'s state blobs as well (a cache
    /// directory's `state/remote-breaker-<hash of the remote>`, through
    /// [`Housekeeping::read_state`] and [`Housekeeping::write_state`], the probe claimed
    /// under the named lock of the same name), so that every process using that directory
    /// honours a cool-down any of them started, and at most one of them probes the remote
    /// per cool-down. Each operation then reads the blob (one small file read, next to a
    /// network round trip); it is written only when the breaker trips or a probe succeeds.
    #[must_use]
    pub fn with_shared_breaker(mut self, keeper: Arc<dyn Housekeeping>) -> Self {
        self.shared = Some(SharedBreaker::new(keeper, &self.config));
        self
    }

    /// Reads the circuit breaker's time from `clock` (default: [`SystemClock`]), so that a
    /// test can step through cool-downs with a [`ManualClock`](crate::ManualClock). The
    /// per-operation timeout stays real time.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    /// This store's counters so far.
    pub fn stats(&self) -> RemoteStats {
        self.counters.snapshot()
    }

    /// Whether the circuit breaker currently bypasses the remote.
    pub fn is_bypassed(&self) -> bool {
        self.breaker.is_open()
    }

    /// The OpenDAL operator, for tools that need the backend itself (the benchmarks compare
    /// against a plain OpenDAL read of the same key). For memcached it is OpenDAL's own
    /// memcached service over the same server and keys (binary protocol, SASL credentials),
    /// and for `redis://` OpenDAL's Redis service over the same server, database and keys;
    /// the store itself uses neither.
    pub fn operator(&self) -> &Operator {
        &self.op
    }

    /// The backend key of `(ns, digest)` (see the layout above).
    pub fn object_key(&self, ns: &Namespace, digest: &Digest) -> String {
        let hex = digest.to_hex();
        match self.config.backend() {
            Backend::S3 => format!(
                "{}/{}/{}/{}",
                self.config.get_prefix(),
                ns.as_str(),
                &hex[..2],
                hex
            ),
            Backend::Redis | Backend::Memcached => {
                format!("{}/{}/{}", self.config.get_prefix(), ns.as_str(), hex)
            }
        }
    }

    /// Whether an operation may go to the remote now: the process's own breaker, then the
    /// shared state (claiming the probe when a shared cool-down is over).
    fn admit(&self) -> bool {
        let now = self.clock.now();
        let admit = self.breaker.admit(now);
        if admit == Admit::Bypass {
            RemoteCounters::bump(&self.counters.bypassed);
            return false;
        }
        let mut probe = admit == Admit::Probe;
        if let Some(shared) = &self.shared {
            let bypass_until = match shared.read(now) {
                Shared::Closed => None,
                Shared::Open(until) => Some(until),
                Shared::Expired if shared.claim(now) => {
                    self.shared_probe.store(true, Ordering::Relaxed);
                    probe = true;
                    None
                }
                // Another process holds the claim: it probes, this one waits a cool-down.
                Shared::Expired => Some(now.checked_add(self.config.get_cooldown()).unwrap_or(now)),
            };
            if let Some(until) = bypass_until {
                self.breaker.defer(until);
                RemoteCounters::bump(&self.counters.bypassed);
                return false;
            }
        }
        if probe {
            RemoteCounters::bump(&self.counters.probes);
        }
        true
    }

    /// Runs `fut` on the store's runtime within the timeout, through the breaker, after the
    /// connection check when the remote has not answered since the last failure.
    fn run<T, F>(&self, fut: F) -> Outcome<T>
    where
        F: Future<Output = opendal::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        if !self.admit() {
            return Outcome::Bypassed;
        }
        let timeout = self.config.get_timeout();
        let connect_timeout = self.config.get_connect_timeout();
        let check = (!self.reachable.load(Ordering::Relaxed)).then(|| self.connection_check());
        let reachable = Arc::clone(&self.reachable);
        let (host, port) = self.check_address();
        let timed = async move {
            if let Some(check) = check {
                match tokio::time::timeout(connect_timeout, check).await {
                    Err(_) => return Some(Outcome::ConnectTimedOut),
                    Ok(Err(e)) => return Some(Outcome::ConnectFailed(e)),
                    Ok(Ok(())) => reachable.store(true, Ordering::Relaxed),
                }
            }
            // An operation that has not finished within the connect timeout checks that
            // the server still accepts connections: a server killed under a live
            // connection is then refused at once, where the client would retry until the
            // operation's timeout.
            let watch = async move {
                tokio::time::sleep(connect_timeout).await;
                tcp_connect(&host, port).await
            };
            let op = tokio::time::timeout(timeout, fut);
            let (mut op, mut watch) = (std::pin::pin!(op), Some(Box::pin(watch)));
            std::future::poll_fn(|cx| {
                if let std::task::Poll::Ready(done) = op.as_mut().poll(cx) {
                    return std::task::Poll::Ready(done.ok().map(Outcome::Done));
                }
                if let Some(w) = watch.as_mut()
                    && let std::task::Poll::Ready(checked) = w.as_mut().poll(cx)
                {
                    watch = None;
                    if let Err(e) = checked {
                        return std::task::Poll::Ready(Some(Outcome::ConnectFailed(e)));
                    }
                }
                std::task::Poll::Pending
            })
            .await
        };
        let runtime = self.runtime();
        let result = if tokio::runtime::Handle::try_current().is_ok() {
            // Inside someone's runtime `block_on` would panic: run on ours and wait here.
            let (tx, rx) = mpsc::sync_channel(1);
            runtime.spawn(async move {
                // The receiver only goes away if this thread stopped waiting.
                let _ = tx.send(timed.await);
            });
            rx.recv_timeout(timeout + connect_timeout + Duration::from_secs(1))
                .ok()
                .flatten()
        } else {
            runtime.block_on(timed)
        };
        result.unwrap_or(Outcome::TimedOut)
    }

    /// Runs a memcached request (`op`, given the connect timeout when the connection is to
    /// be checked first) through the breaker, on the calling thread: the client blocks on
    /// its socket, under the operation's timeout, and checks the connection itself (a new
    /// connection that must answer within the connect timeout) when the remote has not
    /// answered since the last failure.
    fn run_memcached<T>(
        &self,
        op: impl FnOnce(&Memcached, Option<Duration>) -> Outcome<T>,
    ) -> Outcome<T> {
        let Some(mc) = &self.memcached else {
            return Outcome::Done(Err(opendal::Error::new(
                opendal::ErrorKind::Unsupported,
                "not a memcached remote",
            )));
        };
        self.run_blocking(mc, op)
    }

    /// Runs a Redis request on the calling thread, as [`run_memcached`](Self::run_memcached)
    /// runs a memcached one: through the breaker, under the operation's timeout, the
    /// client checking the connection itself (a new connection that must answer `PING`
    /// within the connect timeout) when the remote has not answered since the last failure.
    fn run_redis<T>(&self, op: impl FnOnce(&Redis, Option<Duration>) -> Outcome<T>) -> Outcome<T> {
        let Some(redis) = &self.redis else {
            return Outcome::Done(Err(opendal::Error::new(
                opendal::ErrorKind::Unsupported,
                "not a redis:// remote",
            )));
        };
        self.run_blocking(redis, op)
    }

    /// The breaker and the connection check around a request of a blocking client.
    fn run_blocking<C, T>(
        &self,
        client: &C,
        op: impl FnOnce(&C, Option<Duration>) -> Outcome<T>,
    ) -> Outcome<T> {
        if !self.admit() {
            return Outcome::Bypassed;
        }
        let check = !self.reachable.load(Ordering::Relaxed);
        let outcome = op(client, check.then(|| self.config.get_connect_timeout()));
        if check
            && !matches!(
                outcome,
                Outcome::ConnectFailed(_) | Outcome::ConnectTimedOut
            )
        {
            self.reachable.store(true, Ordering::Relaxed);
        }
        outcome
    }

    /// Where the connection check connects: the Redis or memcached server, or the S3
    /// endpoint (AWS's regional one when none is set).
    fn check_address(&self) -> (String, u16) {
        let unbracket = |h: &str| h.trim_start_matches('[').trim_end_matches(']').to_owned();
        match self.config.backend() {
            Backend::Redis => (
                unbracket(self.config.host()),
                self.config.port().unwrap_or(6379),
            ),
            Backend::Memcached => (
                unbracket(self.config.host()),
                self.config.port().unwrap_or(11211),
            ),
            Backend::S3 => {
                let endpoint = self
                    .config
                    .get_endpoint()
                    .and_then(|e| url::Url::parse(e).ok());
                match endpoint {
                    Some(u) => (
                        unbracket(u.host_str().unwrap_or("")),
                        u.port_or_known_default().unwrap_or(443),
                    ),
                    None => (
                        format!(
                            "s3.{}.amazonaws.com",
                            self.config.get_region().unwrap_or("us-east-1")
                        ),
                        443,
                    ),
                }
            }
        }
    }

    /// The connection check: a TCP connection to [`check_address`](Self::check_address)
    /// (a refusal fails at once, where the Redis client would retry until the operation's
    /// timeout), then for `rediss://` Redis one `exists` through the operator (the
    /// `redis://` and memcached clients check on their own: see
    /// [`run_redis`](Self::run_redis) and [`run_memcached`](Self::run_memcached)), which opens
    /// the pooled connection (the client's handshake) that the operation then uses. The
    /// caller bounds it by the connect timeout.
    fn connection_check(&self) -> impl Future<Output = opendal::Result<()>> + Send + 'static {
        let (host, port) = self.check_address();
        let answer = (self.config.backend() == Backend::Redis).then(|| {
            (
                self.op.clone(),
                format!("{}/.ping", self.config.get_prefix()),
            )
        });
        async move {
            tcp_connect(&host, port).await?;
            if let Some((op, key)) = answer {
                op.exists(&key).await?;
            }
            Ok(())
        }
    }

    /// Records an answer from the remote: the breaker closes, and a shared probe this
    /// process claimed closes the shared state.
    fn succeeded(&self) {
        self.breaker.success();
        if self.shared_probe.swap(false, Ordering::Relaxed)
            && let Some(shared) = &self.shared
        {
            shared.close();
        }
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime is only taken by Drop")
    }

    /// Records a failed operation with the breaker and the counters, and returns the error
    /// the caller sees.
    /// A bypassed operation counts only as bypassed; others bump `counter` too.
    fn failed(&self, what: &str, key: &str, outcome: Failure, counter: &AtomicU64) -> Error {
        if !matches!(outcome, Failure::Bypassed) {
            RemoteCounters::bump(counter);
            self.reachable.store(false, Ordering::Relaxed);
            // A claimed shared probe that failed leaves the state open for the cool-down
            // the claim wrote.
            self.shared_probe.store(false, Ordering::Relaxed);
        }
        let message = match &outcome {
            Failure::Bypassed => {
                return Error::new(
                    ErrorKind::Io,
                    format!(
                        "remote {} bypassed for {key}: it failed recently (circuit breaker open)",
                        self.config.url()
                    ),
                );
            }
            Failure::TimedOut => {
                RemoteCounters::bump(&self.counters.timeouts);
                format!(
                    "remote {} {what} of {key} timed out after {:?}",
                    self.config.url(),
                    self.config.get_timeout()
                )
            }
            Failure::Error(e) => {
                format!("remote {} {what} of {key} failed: {e}", self.config.url())
            }
            Failure::ConnectFailed(e) => {
                RemoteCounters::bump(&self.counters.connect_failures);
                format!("remote {} {what} of {key} failed: {e}", self.config.url())
            }
            Failure::ConnectTimedOut => {
                RemoteCounters::bump(&self.counters.connect_failures);
                RemoteCounters::bump(&self.counters.timeouts);
                format!(
                    "remote {} {what} of {key} failed: no connection and answer within the connect timeout of {:?}",
                    self.config.url(),
                    self.config.get_connect_timeout()
                )
            }
        };
        let now = self.clock.now();
        if self.breaker.failure(now) == Tripped::Yes {
            if let Some(shared) = &self.shared {
                shared.open(now);
            }
            RemoteCounters::bump(&self.counters.breaker_trips);
            tracing::warn!(
                remote = self.config.url(),
                cooldown = ?self.config.get_cooldown(),
                "remote failing; bypassing it for the cool-down: {message}"
            );
        }
        let err = Error::new(ErrorKind::Io, message);
        match outcome {
            Failure::Error(e) | Failure::ConnectFailed(e) => err.with_source(e),
            _ => err,
        }
    }

    /// The value of a finished operation, or its failure recorded (see [`failed`]) and
    /// returned as an error.
    ///
    /// [`failed`]: Self::failed
    fn settle<T>(
        &self,
        what: &str,
        key: &str,
        outcome: Outcome<T>,
        counter: &AtomicU64,
    ) -> Result<T> {
        match outcome.split() {
            Ok(Ok(value)) => {
                self.succeeded();
                Ok(value)
            }
            Ok(Err(e)) => Err(self.failed(what, key, Failure::Error(e), counter)),
            Err(f) => Err(self.failed(what, key, f, counter)),
        }
    }

    /// Checks that the remote answers: one read of a key that does not exist. Counts like
    /// any other operation (a failure trips the breaker).
    pub fn ping(&self) -> Result<Duration> {
        let key = format!("{}/.ping", self.config.get_prefix());
        let op = self.op.clone();
        let path = key.clone();
        let start = Instant::now();
        let outcome = if self.memcached.is_some() {
            self.run_memcached(|mc, check| mc.exists(check, &path))
        } else if self.redis.is_some() {
            self.run_redis(|redis, check| redis.exists(check, &path))
        } else {
            self.run(async move { op.exists(&path).await })
        };
        self.settle("ping", &key, outcome, &self.counters.get_failures)?;
        Ok(start.elapsed())
    }
}

enum Failure {
    Error(opendal::Error),
    TimedOut,
    Bypassed,
    ConnectFailed(opendal::Error),
    ConnectTimedOut,
}

impl<T> Outcome<T> {
    fn split(self) -> std::result::Result<opendal::Result<T>, Failure> {
        match self {
            Outcome::Done(r) => Ok(r),
            Outcome::TimedOut => Err(Failure::TimedOut),
            Outcome::Bypassed => Err(Failure::Bypassed),
            Outcome::ConnectFailed(e) => Err(Failure::ConnectFailed(e)),
            Outcome::ConnectTimedOut => Err(Failure::ConnectTimedOut),
        }
    }
}

impl Drop for RemoteStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Safe inside another runtime, unlike dropping it; nothing of ours is pending.
            runtime.shutdown_background();
        }
    }
}

impl Store for RemoteStore {
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        let key = self.object_key(ns, digest);
        let op = self.op.clone();
        let path = key.clone();
        let plan = self.read_plan(limit);
        let done = if self.memcached.is_some() {
            match self.run_memcached(|mc, check| mc.get(check, &path)) {
                Outcome::Done(value) => Outcome::Done(value.map(Fetched::value)),
                Outcome::TimedOut => Outcome::TimedOut,
                Outcome::Bypassed => Outcome::Bypassed,
                Outcome::ConnectFailed(e) => Outcome::ConnectFailed(e),
                Outcome::ConnectTimedOut => Outcome::ConnectTimedOut,
            }
        } else if self.redis.is_some() {
            let length_first = plan == ReadPlan::LengthFirst;
            match self.run_redis(|redis, check| redis.get(check, &path, limit, length_first)) {
                Outcome::Done(got) => Outcome::Done(got.map(|got| match got {
                    Got::Value(bytes) => Fetched::value(bytes),
                    Got::TooLarge(len) => Fetched::too_large(len, 0),
                })),
                Outcome::TimedOut => Outcome::TimedOut,
                Outcome::Bypassed => Outcome::Bypassed,
                Outcome::ConnectFailed(e) => Outcome::ConnectFailed(e),
                Outcome::ConnectTimedOut => Outcome::ConnectTimedOut,
            }
        } else {
            self.run(async move { read_bounded(&op, &path, limit, plan).await })
        };
        let result = match done.split() {
            Ok(Ok(fetched)) => {
                self.succeeded();
                RemoteCounters::add(&self.counters.bytes_read, fetched.received);
                Ok(fetched)
            }
            Ok(Err(e)) if e.kind() == opendal::ErrorKind::NotFound => {
                self.succeeded();
                RemoteCounters::bump(&self.counters.misses);
                return Ok(None);
            }
            Ok(Err(e)) => {
                Err(self.failed("get", &key, Failure::Error(e), &self.counters.get_failures))
            }
            Err(f) => Err(self.failed("get", &key, f, &self.counters.get_failures)),
        };
        let fetched = result?;
        match fetched.value {
            Some(bytes) if bytes.len() as u64 <= limit => {
                RemoteCounters::bump(&self.counters.hits);
                Ok(Some(bytes))
            }
            _ => {
                RemoteCounters::bump(&self.counters.too_large);
                Err(Error::new(
                    ErrorKind::TooLarge,
                    format!(
                        "remote value {key} is {} bytes, larger than the {limit}-byte limit of this read",
                        fetched.len
                    ),
                ))
            }
        }
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        let key = self.object_key(ns, digest);
        let limit = self.config.get_max_item_size();
        if frame.len() as u64 > limit {
            RemoteCounters::bump(&self.counters.skipped_too_large);
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "not sending {key} to remote {}: its {} bytes exceed the backend's {limit}-byte item limit",
                    self.config.url(),
                    frame.len()
                ),
            ));
        }
        let path = key.clone();
        let outcome = if self.memcached.is_some() {
            self.run_memcached(|mc, check| mc.set(check, &path, frame.to_vec()))
        } else if self.redis.is_some() {
            self.run_redis(|redis, check| redis.set(check, &path, frame))
        } else {
            let (op, body) = (self.op.clone(), frame.to_vec());
            self.run(async move { op.write(&path, body).await.map(drop) })
        };
        self.settle("put", &key, outcome, &self.counters.put_failures)?;
        RemoteCounters::bump(&self.counters.puts);
        RemoteCounters::add(&self.counters.bytes_written, frame.len());
        Ok(())
    }

    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        let key = self.object_key(ns, digest);
        let (op, path) = (self.op.clone(), key.clone());
        // memcached's delete and Redis's `DEL` say whether there was a value.
        if self.memcached.is_some() || self.redis.is_some() {
            let outcome = if self.memcached.is_some() {
                self.run_memcached(|mc, check| mc.delete(check, &path))
            } else {
                self.run_redis(|redis, check| redis.delete(check, &path))
            };
            let existed = self.settle("remove", &key, outcome, &self.counters.remove_failures)?;
            RemoteCounters::bump(&self.counters.removes);
            return Ok(existed);
        }
        // Deletes are idempotent on S3 (and OpenDAL's Redis, for `rediss://`), so whether there was an entry takes
        // a look first; removal is rare (damaged entries, operators).
        let outcome = self.run(async move {
            let existed = op.exists(&path).await?;
            if existed {
                op.delete(&path).await?;
            }
            Ok(existed)
        });
        let existed = self.settle("remove", &key, outcome, &self.counters.remove_failures)?;
        RemoteCounters::bump(&self.counters.removes);
        Ok(existed)
    }

    fn lease(&self, ns: &Namespace, digest: &Digest, ttl: Duration) -> Result<Option<Lease>> {
        self.take_lease(ns, digest, ttl)
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
        if self.config.backend() != Backend::S3 {
            return Err(Error::new(
                ErrorKind::NotSupportedByStore,
                format!(
                    "remote {} cannot list its keys ({} has no listing)",
                    self.config.url(),
                    self.config.backend()
                ),
            ));
        }
        let prefix = format!("{}/", self.config.get_prefix());
        let (op, dir) = (self.op.clone(), prefix.clone());
        let opened = self.run(async move { op.lister_with(&dir).recursive(true).await });
        let mut lister = self.settle("list", &prefix, opened, &self.counters.get_failures)?;
        loop {
            let next = self.run(async move {
                let item = std::future::poll_fn(|cx| Pin::new(&mut lister).poll_next(cx)).await;
                Ok((item, lister))
            });
            let (item, back) = self.settle("list", &prefix, next, &self.counters.get_failures)?;
            lister = back;
            let entry = match item {
                None => break,
                Some(Ok(entry)) => entry,
                Some(Err(e)) => {
                    let failed = Outcome::<()>::Done(Err(e));
                    return self.settle("list", &prefix, failed, &self.counters.get_failures);
                }
            };
            let Some(info) = self.entry_info(&prefix, &entry) else {
                continue;
            };
            if visit(info).is_break() {
                break;
            }
        }
        Ok(())
    }
}

impl RemoteStore {
    /// The entry an S3 listing item describes, if it is one of hoard's names
    /// (`<namespace>/<shard>/<hex digest>` under the prefix, shard matching the digest).
    fn entry_info(&self, prefix: &str, entry: &opendal::Entry) -> Option<EntryInfo> {
        let rest = entry.path().strip_prefix(prefix)?;
        let mut parts = rest.split('/');
        let (ns, shard, hex) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !entry.metadata().is_file() {
            return None;
        }
        let namespace = Namespace::new(ns).ok()?;
        let digest = Digest::from_hex(hex).ok()?;
        if digest.to_hex() != hex || !hex.starts_with(shard) || shard.len() != 2 {
            return None;
        }
        let meta = entry.metadata();
        let modified = meta.last_modified().map(SystemTime::from);
        Some(EntryInfo::new(
            namespace,
            digest,
            meta.content_length(),
            modified,
            None,
        ))
    }
}

/// A TCP connection to `host:port`, closed at once: whether the server accepts connections.
async fn tcp_connect(host: &str, port: u16) -> opendal::Result<()> {
    tokio::net::TcpStream::connect((host, port))
        .await
        .map(drop)
        .map_err(|e| {
            opendal::Error::new(
                opendal::ErrorKind::Unexpected,
                format!("cannot connect to {host}:{port}"),
            )
            .set_source(e)
        })
}

/// How a get reads a value so that it holds at most its limit in memory (or, where the
/// backend cannot say a value's length first, at most the backend's own item limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadPlan {
    /// One request for the whole value: memcached (which has no ranged or sized read: its
    /// item limit, 1 MiB by default, bounds what a get receives), and Redis when the limit
    /// is at least the backend's item limit, [`RemoteConfig::max_item_size`] and never less
    /// than Redis's default 512 MiB (`GET`, one round trip; Redis refuses longer strings).
    Whole,
    /// The length first, then the whole value only if it fits: Redis under a limit below
    /// its item limit (`redis://`: `EXISTS` and `STRLEN` pipelined, then `GET`: two round
    /// trips for a hit, one for a miss; `rediss://` through OpenDAL: three round trips for a
    /// hit). A value replaced by a longer one in between is caught by the `GET`'s announced
    /// length before it is read (`redis://`), or after the fetch, which the backend's item
    /// limit bounds (`rediss://`). Not a ranged read: OpenDAL's is `EXISTS` +
    /// `STRLEN` + `GETRANGE` and fails for a range past the value's end, so a range of
    /// `limit + 1` bytes cannot read a value that fits, and would fetch `limit + 1` bytes of
    /// one that does not.
    LengthFirst,
    /// One request for the first `limit + 1` bytes whose answer carries the full length
    /// (S3: an HTTP `Range` request, `Content-Range` giving the object's size); a value
    /// over the limit is refused before its body is read.
    Ranged,
}

impl RemoteStore {
    /// The [`ReadPlan`] of a get bounded by `limit`.
    fn read_plan(&self, limit: u64) -> ReadPlan {
        match self.config.backend() {
            Backend::S3 => ReadPlan::Ranged,
            Backend::Memcached => ReadPlan::Whole,
            // Redis keeps strings up to its `proto-max-bulk-len` (512 MiB by default),
            // whatever hoard sends: a lower `max_item_size` does not bound a planted value.
            Backend::Redis
                if limit >= self.config.get_max_item_size().max(REDIS_DEFAULT_MAX_ITEM) =>
            {
                ReadPlan::Whole
            }
            Backend::Redis => ReadPlan::LengthFirst,
        }
    }
}

/// What a bounded read brought back.
struct Fetched {
    /// The value, unless it was longer than the limit.
    value: Option<Vec<u8>>,
    /// The value's full length as the backend reported it (or as received).
    len: u64,
    /// Bytes received from the backend.
    received: usize,
}

impl Fetched {
    fn value(bytes: Vec<u8>) -> Self {
        Self {
            len: bytes.len() as u64,
            received: bytes.len(),
            value: Some(bytes),
        }
    }

    fn too_large(len: u64, received: usize) -> Self {
        Self {
            value: None,
            len,
            received,
        }
    }
}

/// Reads the value at `path` by `plan`, never keeping more than `limit` bytes (and, for
/// [`ReadPlan::Whole`], more than the backend's item limit); a longer value comes back as
/// [`Fetched::too_large`].
async fn read_bounded(
    op: &Operator,
    path: &str,
    limit: u64,
    plan: ReadPlan,
) -> opendal::Result<Fetched> {
    match plan {
        ReadPlan::Whole => Ok(Fetched::value(into_vec(op.read(path).await?))),
        ReadPlan::LengthFirst => {
            let len = op.stat(path).await?.content_length();
            if len > limit {
                return Ok(Fetched::too_large(len, 0));
            }
            Ok(Fetched::value(into_vec(op.read(path).await?)))
        }
        ReadPlan::Ranged => read_ranged(op, path, limit).await,
    }
}

/// The bytes of `buffer` as one `Vec`, copied at most once: a buffer of one chunk (what
/// Redis and memcached return) becomes the `Vec` without a copy once the buffer has let go
/// of it; several chunks are copied once into a `Vec` of the exact length.
fn into_vec(buffer: opendal::Buffer) -> Vec<u8> {
    let len = buffer.len();
    // Collecting drops the buffer, so that a single chunk is then the only owner of its
    // memory and converts in place.
    let mut chunks: Vec<_> = buffer.collect();
    if chunks.len() == 1
        && let Some(only) = chunks.pop()
    {
        return Vec::from(only);
    }
    let mut out = Vec::with_capacity(len);
    for chunk in chunks {
        out.extend_from_slice(&chunk);
    }
    out
}

/// A ranged read of the first `limit + 1` bytes of the object at `path`. The answer's
/// metadata (S3's `Content-Range`) gives the object's full length before any of the body is
/// read: an object longer than `limit` is refused there and its body never read (dropping
/// the stream closes the connection). Otherwise the body is streamed into a `Vec` reserved
/// for exactly that length, so each byte is copied once, until that length has arrived; a
/// body that ends early fails the read, one that goes past the limit is refused.
async fn read_ranged(op: &Operator, path: &str, limit: u64) -> opendal::Result<Fetched> {
    let reader = op.reader(path).await?;
    let opened = match limit.checked_add(1) {
        Some(end) => reader.into_stream(0..end).await,
        None => reader.into_stream(..).await,
    };
    let mut stream = match opened {
        Ok(stream) => stream,
        Err(e) => return empty_if_unsatisfiable(e),
    };
    let len = match stream.metadata().await {
        Ok(meta) => meta.content_length(),
        Err(e) => return empty_if_unsatisfiable(e),
    };
    if len > limit {
        return Ok(Fetched::too_large(len, 0));
    }
    let mut out = Vec::new();
    out.try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
        .map_err(|e| {
            opendal::Error::new(
                opendal::ErrorKind::Unexpected,
                format!("cannot allocate {len} bytes for the object"),
            )
            .set_source(std::io::Error::other(e))
        })?;
    // Stop at the announced length: past it OpenDAL checks that the requested range (one
    // byte more than a value that fits) arrived whole, and fails the read.
    while (out.len() as u64) < len {
        let Some(buffer) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await
        else {
            break;
        };
        for chunk in buffer? {
            out.extend_from_slice(&chunk);
        }
        if out.len() as u64 > limit {
            let received = out.len();
            return Ok(Fetched::too_large(received as u64, received));
        }
    }
    Ok(Fetched::value(out))
}

/// An empty object cannot satisfy a range starting at 0 (S3 answers 416): its value is
/// empty, which readers reject like any damaged frame. Any other error stands.
fn empty_if_unsatisfiable(e: opendal::Error) -> opendal::Result<Fetched> {
    if e.kind() == opendal::ErrorKind::RangeNotSatisfied {
        Ok(Fetched::value(Vec::new()))
    } else {
        Err(e)
    }
}

/// A TLS crypto provider for the process, unless the program installed one (rustls panics
/// without one when the first TLS client is built).
fn install_defaults() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only if a provider is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The program's credentials, else [`USERNAME_ENV`] / [`PASSWORD_ENV`] (a password alone
/// is Redis's `AUTH password`).
pub(crate) fn user_and_password(config: &RemoteConfig) -> Option<(String, String)> {
    if let Some(c) = config.get_credentials() {
        return Some((c.user.clone(), c.secret.clone()));
    }
    env(PASSWORD_ENV).map(|password| (env(USERNAME_ENV).unwrap_or_default(), password))
}

fn operator(config: &RemoteConfig) -> Result<Operator> {
    let built = match config.backend() {
        Backend::Redis => {
            let scheme = if config.tls() { "rediss" } else { "redis" };
            let port = config.port().unwrap_or(6379);
            let mut b = services::Redis::default()
                .endpoint(&format!("{scheme}://{}:{port}", config.host()))
                .db(config.redis_db());
            if let Some((user, password)) = user_and_password(config) {
                if !user.is_empty() {
                    b = b.username(&user);
                }
                b = b.password(&password);
            }
            Operator::new(b)
        }
        Backend::Memcached => {
            let port = config.port().unwrap_or(11211);
            let mut b =
                services::Memcached::default().endpoint(&format!("tcp://{}:{port}", config.host()));
            if let Some((user, password)) = user_and_password(config) {
                b = b.username(&user).password(&password);
            }
            Operator::new(b)
        }
        Backend::S3 => {
            let mut b = services::S3::default()
                .bucket(config.host())
                .root("/")
                .region(config.get_region().unwrap_or("us-east-1"))
                // Credentials come from the environment only, read here; nothing else.
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(endpoint) = config.get_endpoint() {
                b = b.endpoint(endpoint);
            }
            let given = config
                .get_credentials()
                .map(|c| (c.user.clone(), c.secret.clone()));
            match given.or_else(|| env("AWS_ACCESS_KEY_ID").zip(env("AWS_SECRET_ACCESS_KEY"))) {
                Some((id, secret)) => {
                    b = b.access_key_id(&id).secret_access_key(&secret);
                    if let Some(token) = env("AWS_SESSION_TOKEN") {
                        b = b.session_token(&token);
                    }
                }
                None => b = b.skip_signature(),
            }
            Operator::new(b)
        }
    };
    // The HTTP transport is set on this operator, not installed process-wide.
    let built = built.map(|op| {
        let context = op
            .context()
            .with_http_transport(HttpTransporter::new(ReqwestTransport::default()));
        op.with_context(context)
    });
    built.map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!("cannot use remote {}: {e}", config.url()),
        )
        .with_source(e)
    })
}
