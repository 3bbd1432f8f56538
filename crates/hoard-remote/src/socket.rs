//! What the store's own protocol clients (memcached in [`memcached`](crate::memcached), Redis
//! in [`resp`](crate::resp)) share: a TCP connection with `TCP_NODELAY` made within a
//! deadline, and the pool of idle connections, emptied on any failure.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::remote::Outcome;

/// Idle connections kept per server: enough for the store's concurrent callers, few enough
/// that a server's connection limit is not a concern.
const MAX_IDLE: usize = 16;

/// Why a new connection could not be had.
pub(crate) enum ConnectError {
    /// Not within the time given.
    TimedOut,
    /// Refused, unreachable, no such host, or the handshake refused.
    Failed(opendal::Error),
}

/// What is left until `deadline`; `None` once it has passed.
pub(crate) fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

/// Whether an I/O error is running out of time (a socket timeout).
pub(crate) fn io_timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// A TCP connection to `host:port` within `deadline`, each of the name's addresses tried in
/// turn, with `TCP_NODELAY` set: requests and answers are small, and Nagle's algorithm
/// meeting the server's delayed ACKs would add tens of milliseconds to each.
pub(crate) fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, ConnectError> {
    let cannot = |e: io::Error| {
        if io_timed_out(&e) {
            return ConnectError::TimedOut;
        }
        ConnectError::Failed(
            opendal::Error::new(
                opendal::ErrorKind::Unexpected,
                format!("cannot connect to {host}:{port}"),
            )
            .set_source(e),
        )
    };
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(cannot)?.collect();
    let mut last = None;
    for addr in addrs {
        let left = remaining(deadline).ok_or(ConnectError::TimedOut)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(cannot)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(cannot(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the name has no address")
    })))
}

/// The idle connections of one server, at most [`MAX_IDLE`]. A connection goes back only
/// after a complete exchange, and any failure empties the pool (a failure usually means the
/// server went away), so a connection whose exchange was cut short never answers the next
/// request with the previous one's reply.
pub(crate) struct Idle<C> {
    conns: Mutex<Vec<C>>,
}

impl<C> Idle<C> {
    /// An empty pool.
    pub(crate) fn new() -> Self {
        Self {
            conns: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<C>> {
        // A list of connections is valid whatever a panicking holder did.
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection, if there is one.
    pub(crate) fn take(&self) -> Option<C> {
        self.lock().pop()
    }

    /// Keeps `conn`, after a complete exchange, unless the pool is full.
    pub(crate) fn keep(&self, conn: C) {
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// The connection for one exchange: a new one that passed `checked`, the connection check
    /// (when `check` gives its connect timeout), else an idle one, else a new one made by
    /// `connect` within `deadline`. What could not be had is the exchange's outcome.
    pub(crate) fn acquire<T>(
        &self,
        check: Option<Duration>,
        deadline: Instant,
        checked: impl FnOnce(Duration) -> Result<C, ConnectError>,
        connect: impl FnOnce(Instant) -> Result<C, ConnectError>,
    ) -> Result<C, Outcome<T>> {
        let pooled = match check {
            Some(connect_timeout) => match checked(connect_timeout) {
                Ok(conn) => Some(conn),
                Err(ConnectError::TimedOut) => return Err(Outcome::ConnectTimedOut),
                Err(ConnectError::Failed(e)) => return Err(Outcome::ConnectFailed(e)),
            },
            None => self.take(),
        };
        match pooled {
            Some(conn) => Ok(conn),
            None => connect(deadline).map_err(|e| match e {
                ConnectError::TimedOut => Outcome::TimedOut,
                ConnectError::Failed(e) => Outcome::Done(Err(e)),
            }),
        }
    }

    /// Drops every idle connection.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}
