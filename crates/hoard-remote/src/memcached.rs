//! The memcached client of [`RemoteStore`](crate::RemoteStore): rust-memcache's blocking
//! meta-protocol connection (`memcache::exp::MetaConnection`) over a `std::net::TcpStream`
//! opened here, with `TCP_NODELAY`, in a small pool of idle connections. Requests run on the
//! calling thread, bounded by socket timeouts armed with what is left of the operation's
//! deadline (the connection's `set_io_timeout`), so a hit costs one write and one read, as a
//! raw client's does: no hop to the store's runtime and back (a first version on tokio, the
//! same requests over an async connection, measured 1.7-4x a raw get). Measured with
//! `cargo bench -p hoard-bench --bench remote` on loopback, medians of one run on the busy
//! 2-core machine: a 1 KiB hit 19.5 µs beside a raw client's 16.7 µs (1.17x), 64 KiB
//! 31.7 µs beside 29.1 µs (1.09x); OpenDAL's took about 90 ms.
//!
//! OpenDAL 0.59's memcached service writes each request in several small pieces on a socket
//! without `TCP_NODELAY`, and has no option to set it: every request then waits for the
//! server's delayed ACK (about 40 ms on Linux), twice per get with its pool's `version` check,
//! so a hit took about 90 ms on loopback. Here a request is one write on a `TCP_NODELAY`
//! socket and one answer; a pooled connection is reused without a check, and any failure
//! drops it (and every other idle one: a failure usually means the server went away), so a
//! connection whose exchange was cut short (a timeout) never answers the next request with
//! the previous one's reply.
//!
//! Commands: `mg <key> v` (a get: `VA <len>` and the value, or `EN`), `ms <key> <len>` (a
//! set: `HD`), `md <key>` (a delete: `HD`, or `NF` when there was nothing), `mn` (the
//! connection check's answer: `MN`). Keys are hoard's `<prefix>/<namespace>/<hex digest>`,
//! printable ASCII of at most 230 bytes, sent as they are.
//!
//! Credentials use memcached's text-protocol authentication (a server started with `-Y
//! <authfile>`, memcached 1.5.15 or later): the first command of each connection is `set` of
//! any key with the value `<user> <password>`, answered `STORED`. The binary protocol's SASL,
//! which OpenDAL used, has no counterpart in the text protocols the meta commands belong to.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use memcache::exp::{MetaCommand, MetaConnection, MetaOp, MetaResponse, ReturnCode};

use crate::remote::Outcome;
use crate::socket::{self, ConnectError, Idle, remaining};

/// A memcached server: where it is, the credentials, the operation timeout, and the idle
/// connections.
#[derive(Clone)]
pub(crate) struct Memcached {
    inner: Arc<Inner>,
}

struct Inner {
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    timeout: Duration,
    idle: Idle<MetaConnection>,
}

impl fmt::Debug for Memcached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memcached")
            .field("host", &self.inner.host)
            .field("port", &self.inner.port)
            .finish_non_exhaustive()
    }
}

impl Memcached {
    /// A client of the server at `host:port` whose requests take at most `timeout` each;
    /// nothing is connected until the first request.
    pub(crate) fn new(
        host: String,
        port: u16,
        credentials: Option<(String, String)>,
        timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                host,
                port,
                credentials,
                timeout,
                idle: Idle::new(),
            }),
        }
    }

    /// A new connection within `deadline`: TCP with `TCP_NODELAY`, then the
    /// authentication when credentials are set.
    fn connect(&self, deadline: Instant) -> Result<MetaConnection, ConnectError> {
        let (host, port) = (self.inner.host.as_str(), self.inner.port);
        let stream = socket::connect(host, port, deadline)?;
        let stream = match &self.inner.credentials {
            Some((user, password)) => {
                authenticate(stream, user, password, deadline).map_err(|e| match e.kind() {
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                        ConnectError::TimedOut
                    }
                    _ => ConnectError::Failed(
                        opendal::Error::new(
                            opendal::ErrorKind::PermissionDenied,
                            format!("memcached {host}:{port}: authentication failed"),
                        )
                        .set_source(e),
                    ),
                })?
            }
            None => stream,
        };
        Ok(MetaConnection::from_stream(stream))
    }

    /// The connection check: the idle connections (from before a failure, or never used)
    /// are dropped, and a new connection must answer `mn`, all within `connect_timeout`; it
    /// is then used for the request that follows.
    fn checked(&self, connect_timeout: Duration) -> Result<MetaConnection, ConnectError> {
        self.inner.idle.clear();
        let deadline = Instant::now() + connect_timeout;
        let mut conn = self.connect(deadline)?;
        let left = remaining(deadline).ok_or(ConnectError::TimedOut)?;
        conn.set_io_timeout(Some(left));
        match conn.execute(&MetaCommand::new(MetaOp::Noop, "")) {
            Ok(response) if response.rc() == ReturnCode::Mn => Ok(conn),
            Ok(response) => Err(ConnectError::Failed(self.unexpected("mn", &response))),
            Err(e) if timed_out(&e) => Err(ConnectError::TimedOut),
            Err(e) => Err(ConnectError::Failed(self.error("no answer to mn", e))),
        }
    }

    /// Sends `command` and reads its answer within the operation timeout, over a connection
    /// checked first (`check`: the connect timeout), an idle one, or a new one; `answer`
    /// reads the response. The connection goes back to the pool only after a complete
    /// exchange; after a failure it is dropped with every idle one.
    fn exchange<T>(
        &self,
        check: Option<Duration>,
        command: &MetaCommand,
        answer: impl FnOnce(&Self, MetaResponse) -> opendal::Result<T>,
    ) -> Outcome<T> {
        let deadline = Instant::now() + self.inner.timeout;
        let mut conn =
            match self
                .inner
                .idle
                .acquire(check, deadline, |t| self.checked(t), |d| self.connect(d))
            {
                Ok(conn) => conn,
                Err(outcome) => return outcome,
            };
        let Some(left) = remaining(deadline) else {
            return Outcome::TimedOut;
        };
        conn.set_io_timeout(Some(left));
        match conn.execute(command) {
            Ok(response) => {
                self.inner.idle.keep(conn);
                Outcome::Done(answer(self, response))
            }
            Err(e) => {
                self.inner.idle.clear();
                if timed_out(&e) {
                    Outcome::TimedOut
                } else {
                    Outcome::Done(Err(self.error("request failed", e)))
                }
            }
        }
    }

    fn error(&self, what: &str, e: memcache::exp::Error) -> opendal::Error {
        opendal::Error::new(
            opendal::ErrorKind::Unexpected,
            format!("memcached {}:{}: {what}", self.inner.host, self.inner.port),
        )
        .set_source(e)
    }

    fn unexpected(&self, command: &str, response: &MetaResponse) -> opendal::Error {
        opendal::Error::new(
            opendal::ErrorKind::Unexpected,
            format!(
                "memcached {}:{}: unexpected answer {:?} to {command}",
                self.inner.host,
                self.inner.port,
                response.rc()
            ),
        )
    }

    /// The value at `key`; a miss is an OpenDAL `NotFound` error, as OpenDAL's reads report
    /// one. `check`: the connect timeout, when the connection is to be checked first.
    pub(crate) fn get(&self, check: Option<Duration>, key: &str) -> Outcome<Vec<u8>> {
        let command = MetaCommand::new(MetaOp::Get, key).flag("v");
        self.exchange(check, &command, |mc, response| match response.rc() {
            ReturnCode::Va => Ok(response.into_value().unwrap_or_default()),
            ReturnCode::En => Err(opendal::Error::new(
                opendal::ErrorKind::NotFound,
                format!("memcached has no {key}"),
            )),
            _ => Err(mc.unexpected("mg", &response)),
        })
    }

    /// Whether `key` holds a value, without fetching it.
    pub(crate) fn exists(&self, check: Option<Duration>, key: &str) -> Outcome<bool> {
        let command = MetaCommand::new(MetaOp::Get, key);
        self.exchange(check, &command, |mc, response| match response.rc() {
            ReturnCode::Hd => Ok(true),
            ReturnCode::En => Ok(false),
            _ => Err(mc.unexpected("mg", &response)),
        })
    }

    /// Stores `value` at `key`, without expiry.
    pub(crate) fn set(&self, check: Option<Duration>, key: &str, value: Vec<u8>) -> Outcome<()> {
        let command = MetaCommand::new(MetaOp::Set, key).value(value);
        self.exchange(check, &command, |mc, response| match response.rc() {
            ReturnCode::Hd => Ok(()),
            _ => Err(mc.unexpected("ms", &response)),
        })
    }

    /// Removes `key`; whether there was a value.
    pub(crate) fn delete(&self, check: Option<Duration>, key: &str) -> Outcome<bool> {
        let command = MetaCommand::new(MetaOp::Delete, key);
        self.exchange(check, &command, |mc, response| match response.rc() {
            ReturnCode::Hd => Ok(true),
            ReturnCode::Nf => Ok(false),
            _ => Err(mc.unexpected("md", &response)),
        })
    }
}

/// Whether a request failed by running out of time (the connection's socket timeouts).
fn timed_out(e: &memcache::exp::Error) -> bool {
    match e {
        memcache::exp::Error::Timeout { .. } => true,
        memcache::exp::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ),
        memcache::exp::Error::Ambiguous { source, .. } => timed_out(source),
        _ => false,
    }
}

/// memcached's text-protocol authentication within `deadline`: `set` of any key with
/// `<user> <password>` as the value, answered `STORED` (anything else: refused).
fn authenticate(
    stream: TcpStream,
    user: &str,
    password: &str,
    deadline: Instant,
) -> std::io::Result<TcpStream> {
    let left = remaining(deadline).ok_or(std::io::ErrorKind::TimedOut)?;
    stream.set_read_timeout(Some(left))?;
    stream.set_write_timeout(Some(left))?;
    let secret = format!("{user} {password}");
    let mut request = format!("set hoard-auth 0 0 {}\r\n", secret.len()).into_bytes();
    request.extend_from_slice(secret.as_bytes());
    request.extend_from_slice(b"\r\n");
    let mut reader = BufReader::new(stream);
    reader.get_mut().write_all(&request)?;
    let mut answer = Vec::new();
    reader.read_until(b'\n', &mut answer)?;
    if answer != b"STORED\r\n" || !reader.buffer().is_empty() {
        // The answer is the server's; it never holds the credentials.
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "the server answered {:?}",
                String::from_utf8_lossy(&answer).trim_end()
            ),
        ));
    }
    Ok(reader.into_inner())
}
