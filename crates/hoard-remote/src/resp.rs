//! The Redis client of [`RemoteStore`](crate::RemoteStore) for `redis://` remotes: RESP2
//! over a `std::net::TcpStream` opened here, with `TCP_NODELAY`, in a small pool of idle
//! connections. Requests run on the calling thread, bounded by socket timeouts armed with
//! what is left of the operation's deadline before each system call, so a hit costs one
//! write and one read, as a raw client's does: no hop to the store's runtime and back, which
//! OpenDAL's Redis service (async, on the store's tokio runtime) cost on every operation
//! (a 1 KiB hit through it measured 13x a raw `GET` on loopback). Measured with
//! `cargo bench -p hoard-bench --bench remote` on loopback, medians of one run on the busy
//! 2-core machine (load about 3.5): a 1 KiB hit 19.0 µs beside a raw client's 18.9 µs
//! (1.00x), 64 KiB 35.1 µs beside 32.8 µs (1.07x), 1 MiB 205.6 µs beside 214.1 µs; OpenDAL's
//! own read took 112 µs for 1 KiB. A get bounded below Redis's item limit (the verified read
//! under the bench's 64 MiB cap) adds the `EXISTS` + `STRLEN` round trip: 37.9 µs for 1 KiB.
//!
//! The `redis` crate's synchronous connection was the first candidate; it is not used
//! because its TLS needs features the workspace does not build (`rediss://` stays on
//! OpenDAL), and because hoard needs one deadline for a whole exchange (connect,
//! authentication, request, answer) rather than fixed per-call timeouts. The protocol subset
//! is small: requests are arrays of bulk strings, answers a status (`+`), an error (`-`),
//! an integer (`:`) or a bulk string (`$`, `$-1` for nothing).
//!
//! A pooled connection is reused without a check; any failure drops it and every other idle
//! one (a failure usually means the server went away), so a connection whose exchange was
//! cut short (a timeout) never answers the next request with the previous one's reply.
//!
//! Commands: `GET`, `EXISTS` with `STRLEN` (one round trip, pipelined: a bounded get's
//! length check), `SET`, `DEL`, and `PING` (the connection check's answer). A new connection
//! first sends `AUTH [user] password` when credentials are set and `SELECT db` for a database
//! other than 0, as OpenDAL's Redis service (through the `redis` crate) did. Keys are the
//! strings OpenDAL used (`<prefix>/<namespace>/<hex digest>`), and values the same bytes, so
//! stores of either build share a server.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::remote::Outcome;
use crate::socket::{self, ConnectError, Idle, io_timed_out};

/// The longest status, error or integer line accepted from the server.
const MAX_LINE: usize = 4096;

/// A Redis server: where it is, the database, the credentials, the operation timeout, and
/// the idle connections.
#[derive(Clone)]
pub(crate) struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    host: String,
    port: u16,
    db: i64,
    credentials: Option<(String, String)>,
    timeout: Duration,
    idle: Idle<Conn>,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("host", &self.inner.host)
            .field("port", &self.inner.port)
            .field("db", &self.inner.db)
            .finish_non_exhaustive()
    }
}

/// What a bounded get brought back.
pub(crate) enum Got {
    /// The value.
    Value(Vec<u8>),
    /// A value of this many bytes, longer than the limit: not fetched.
    TooLarge(u64),
}

/// One answer of the server.
#[derive(Debug)]
enum Reply {
    /// `+`: a status such as `OK` or `PONG`.
    Status(Vec<u8>),
    /// `-`: an error; the connection stays in step.
    Error(String),
    /// `:`
    Integer(i64),
    /// `$`: a bulk string, `None` for `$-1` (nothing at the key).
    Bulk(Option<Vec<u8>>),
}

/// The socket under a deadline: each read and write first arms the socket's timeout with
/// what is left of it.
struct Timed {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(left(self.deadline)?))?;
        self.stream.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(left(self.deadline)?))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One connection: the socket, read through a buffer.
struct Conn {
    reader: BufReader<Timed>,
    /// Whether an answer was left unread (a value refused by its announced length): such a
    /// connection is out of step and never pooled.
    unread: bool,
}

impl Conn {
    fn set_deadline(&mut self, deadline: Instant) {
        self.reader.get_mut().deadline = deadline;
    }

    /// Sends `commands` (each an array of bulk strings) in one write.
    fn send(&mut self, commands: &[&[&[u8]]]) -> io::Result<()> {
        let mut request = Vec::with_capacity(
            commands
                .iter()
                .flat_map(|c| c.iter())
                .map(|a| a.len() + 16)
                .sum::<usize>()
                + 16 * commands.len(),
        );
        for args in commands {
            request.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for arg in *args {
                request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
                request.extend_from_slice(arg);
                request.extend_from_slice(b"\r\n");
            }
        }
        self.reader.get_mut().write_all(&request)
    }

    /// One line of the answer, without its `\r\n`.
    fn line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        (&mut self.reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)?;
        if line.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        if !line.ends_with(b"\r\n") {
            return Err(protocol("an answer line without its end"));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }

    /// The next answer; a bulk string longer than `max` bytes is not read (the connection is
    /// then out of step) and comes back as its announced length, `Err(len)`.
    fn reply(&mut self, max: u64) -> io::Result<Result<Reply, u64>> {
        let line = self.line()?;
        let (kind, rest) = line
            .split_first()
            .ok_or_else(|| protocol("an empty answer"))?;
        Ok(Ok(match kind {
            b'+' => Reply::Status(rest.to_vec()),
            b'-' => Reply::Error(String::from_utf8_lossy(rest).into_owned()),
            b':' => Reply::Integer(number(rest)?),
            b'$' => {
                let len = number(rest)?;
                let Ok(len) = u64::try_from(len) else {
                    return Ok(Ok(Reply::Bulk(None)));
                };
                if len > max {
                    self.unread = true;
                    return Ok(Err(len));
                }
                let size = usize::try_from(len).map_err(|_| protocol("a value too long"))?;
                let mut value = Vec::new();
                value
                    .try_reserve_exact(size + 2)
                    .map_err(|_| io::Error::other(format!("cannot allocate {len} bytes")))?;
                (&mut self.reader).take(len + 2).read_to_end(&mut value)?;
                if value.len() != size + 2 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection within a value",
                    ));
                }
                if !value.ends_with(b"\r\n") {
                    return Err(protocol("a value without its end"));
                }
                value.truncate(size);
                Reply::Bulk(Some(value))
            }
            _ => return Err(protocol("an answer of an unknown kind")),
        }))
    }

    /// The next answer, which must not be a bulk string longer than `max`.
    fn answer(&mut self, max: u64) -> io::Result<Reply> {
        self.reply(max)?
            .map_err(|len| protocol(&format!("an unexpected value of {len} bytes")))
    }
}

/// A request that failed: on the connection (dropped), or refused by the server.
enum Failed {
    Io(io::Error),
    Server(opendal::Error),
}

impl From<io::Error> for Failed {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl Redis {
    /// A client of database `db` on the server at `host:port` whose requests take at most
    /// `timeout` each; nothing is connected until the first request.
    pub(crate) fn new(
        host: String,
        port: u16,
        db: i64,
        credentials: Option<(String, String)>,
        timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                host,
                port,
                db,
                credentials,
                timeout,
                idle: Idle::new(),
            }),
        }
    }

    fn error(&self, kind: opendal::ErrorKind, what: &str) -> opendal::Error {
        opendal::Error::new(
            kind,
            format!("redis {}:{}: {what}", self.inner.host, self.inner.port),
        )
    }

    /// A new connection within `deadline`: TCP with `TCP_NODELAY`, then `AUTH` when
    /// credentials are set and `SELECT` for a database other than 0.
    fn connect(&self, deadline: Instant) -> Result<Conn, ConnectError> {
        let stream = socket::connect(&self.inner.host, self.inner.port, deadline)?;
        let mut conn = Conn {
            reader: BufReader::with_capacity(64 << 10, Timed { stream, deadline }),
            unread: false,
        };
        if let Some((user, password)) = &self.inner.credentials {
            let mut auth: Vec<&[u8]> = vec![b"AUTH"];
            if !user.is_empty() {
                auth.push(user.as_bytes());
            }
            auth.push(password.as_bytes());
            // The server's answer never repeats the credentials.
            self.handshake(&mut conn, &auth, "authentication failed")?;
        }
        if self.inner.db != 0 {
            let db = self.inner.db.to_string();
            self.handshake(
                &mut conn,
                &[b"SELECT", db.as_bytes()],
                "cannot select the database",
            )?;
        }
        Ok(conn)
    }

    /// One handshake command, which must be answered `+OK`.
    fn handshake(
        &self,
        conn: &mut Conn,
        args: &[&[u8]],
        refused: &str,
    ) -> Result<(), ConnectError> {
        let answer = conn.send(&[args]).and_then(|()| conn.answer(0));
        match answer {
            Ok(Reply::Status(s)) if s == b"OK" => Ok(()),
            Ok(Reply::Error(e)) => Err(ConnectError::Failed(self.error(
                opendal::ErrorKind::PermissionDenied,
                &format!("{refused}: {e}"),
            ))),
            Ok(other) => Err(ConnectError::Failed(self.error(
                opendal::ErrorKind::Unexpected,
                &format!("{refused}: unexpected answer {other:?}"),
            ))),
            Err(e) if io_timed_out(&e) => Err(ConnectError::TimedOut),
            Err(e) => Err(ConnectError::Failed(
                self.error(opendal::ErrorKind::Unexpected, refused)
                    .set_source(e),
            )),
        }
    }

    /// The connection check: the idle connections (from before a failure, or never used)
    /// are dropped, and a new connection must answer `PING`, all within `connect_timeout`;
    /// it is then used for the request that follows.
    fn checked(&self, connect_timeout: Duration) -> Result<Conn, ConnectError> {
        self.inner.idle.clear();
        let deadline = Instant::now() + connect_timeout;
        let mut conn = self.connect(deadline)?;
        match conn.send(&[&[b"PING"]]).and_then(|()| conn.answer(0)) {
            Ok(Reply::Status(s)) if s == b"PONG" => Ok(conn),
            Ok(other) => Err(ConnectError::Failed(self.error(
                opendal::ErrorKind::Unexpected,
                &format!("unexpected answer {other:?} to PING"),
            ))),
            Err(e) if io_timed_out(&e) => Err(ConnectError::TimedOut),
            Err(e) => Err(ConnectError::Failed(
                self.error(opendal::ErrorKind::Unexpected, "no answer to PING")
                    .set_source(e),
            )),
        }
    }

    /// Runs `request` within the operation timeout over a connection checked first
    /// (`check`: the connect timeout), an idle one, or a new one. The connection goes back
    /// to the pool only after a complete exchange; after a failure it is dropped with every
    /// idle one.
    fn exchange<T>(
        &self,
        check: Option<Duration>,
        request: impl FnOnce(&Self, &mut Conn) -> Result<T, Failed>,
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
        conn.set_deadline(deadline);
        match request(self, &mut conn) {
            Ok(value) => {
                if !conn.unread {
                    self.inner.idle.keep(conn);
                }
                Outcome::Done(Ok(value))
            }
            Err(failed) => {
                drop(conn);
                self.inner.idle.clear();
                match failed {
                    Failed::Io(e) if io_timed_out(&e) => Outcome::TimedOut,
                    Failed::Io(e) => Outcome::Done(Err(self
                        .error(opendal::ErrorKind::Unexpected, "request failed")
                        .set_source(e))),
                    Failed::Server(e) => Outcome::Done(Err(e)),
                }
            }
        }
    }

    /// An answer other than the ones a command may give.
    fn unexpected(&self, command: &str, reply: &Reply) -> Failed {
        let what = match reply {
            Reply::Error(e) => format!("{command} refused: {e}"),
            Reply::Bulk(Some(v)) => format!("unexpected value of {} bytes to {command}", v.len()),
            other => format!("unexpected answer {other:?} to {command}"),
        };
        Failed::Server(self.error(opendal::ErrorKind::Unexpected, &what))
    }

    fn not_found(&self, key: &str) -> Failed {
        Failed::Server(self.error(opendal::ErrorKind::NotFound, &format!("no value at {key}")))
    }

    /// The value at `key`, at most `limit` bytes: with `length_first`, `EXISTS` and
    /// `STRLEN` (pipelined, one round trip) say its length before it is fetched; otherwise
    /// one `GET`, whose announced length is checked before the value is read. A miss is an
    /// OpenDAL `NotFound` error, as OpenDAL's reads report one. `check`: the connect
    /// timeout, when the connection is to be checked first.
    pub(crate) fn get(
        &self,
        check: Option<Duration>,
        key: &str,
        limit: u64,
        length_first: bool,
    ) -> Outcome<Got> {
        self.exchange(check, |redis, conn| {
            if length_first {
                conn.send(&[&[b"EXISTS", key.as_bytes()], &[b"STRLEN", key.as_bytes()]])?;
                let (exists, len) = (conn.answer(0)?, conn.answer(0)?);
                match (exists, len) {
                    (Reply::Integer(0), Reply::Integer(_)) => return Err(redis.not_found(key)),
                    (Reply::Integer(_), Reply::Integer(len)) => {
                        let len = u64::try_from(len).unwrap_or(0);
                        if len > limit {
                            return Ok(Got::TooLarge(len));
                        }
                    }
                    (Reply::Integer(_), other) => return Err(redis.unexpected("STRLEN", &other)),
                    (other, _) => return Err(redis.unexpected("EXISTS", &other)),
                }
            }
            conn.send(&[&[b"GET", key.as_bytes()]])?;
            match conn.reply(limit)? {
                Ok(Reply::Bulk(Some(value))) => Ok(Got::Value(value)),
                Ok(Reply::Bulk(None)) => Err(redis.not_found(key)),
                Ok(other) => Err(redis.unexpected("GET", &other)),
                Err(len) => Ok(Got::TooLarge(len)),
            }
        })
    }

    /// Whether `key` holds a value, without fetching it.
    pub(crate) fn exists(&self, check: Option<Duration>, key: &str) -> Outcome<bool> {
        self.exchange(check, |redis, conn| {
            conn.send(&[&[b"EXISTS", key.as_bytes()]])?;
            match conn.answer(0)? {
                Reply::Integer(n) => Ok(n > 0),
                other => Err(redis.unexpected("EXISTS", &other)),
            }
        })
    }

    /// Stores `value` at `key`, without expiry.
    pub(crate) fn set(&self, check: Option<Duration>, key: &str, value: &[u8]) -> Outcome<()> {
        self.exchange(check, |redis, conn| {
            conn.send(&[&[b"SET", key.as_bytes(), value]])?;
            match conn.answer(0)? {
                Reply::Status(s) if s == b"OK" => Ok(()),
                other => Err(redis.unexpected("SET", &other)),
            }
        })
    }

    /// Removes `key`; whether there was a value.
    pub(crate) fn delete(&self, check: Option<Duration>, key: &str) -> Outcome<bool> {
        self.exchange(check, |redis, conn| {
            conn.send(&[&[b"DEL", key.as_bytes()]])?;
            match conn.answer(0)? {
                Reply::Integer(n) => Ok(n > 0),
                other => Err(redis.unexpected("DEL", &other)),
            }
        })
    }
}

/// The time left until `deadline`, or a timeout error when none is.
fn left(deadline: Instant) -> io::Result<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "the deadline passed"))
}

/// An answer the protocol does not allow.
fn protocol(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("redis protocol: {what}"),
    )
}

/// A RESP integer (a length or an integer answer).
fn number(digits: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| protocol("a malformed number"))
}
