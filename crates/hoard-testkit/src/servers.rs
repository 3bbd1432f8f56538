//! Real servers for remote-store tests: `redis-server`, `memcached` and moto's S3 server
//! (`moto_server`), each started on a free loopback port and killed when dropped.
//!
//! No protocol is mocked: a test talks to the same server a deployment would. A missing
//! binary is a clear panic that says what to install (`.ci/run` installs all three), never
//! a silently skipped test.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server a [`Server`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// `redis-server`, no persistence.
    Redis,
    /// `memcached`, 64 MiB of memory, default 1 MiB item limit.
    Memcached,
    /// moto's S3-compatible server, in memory, with one bucket made. It is served by one
    /// thread: moto's threaded server (`moto_server`) answers concurrent puts of one key
    /// with HTTP 500 now and then (a race in its ETag computation on a closed buffer).
    S3,
}

impl Kind {
    fn program(self) -> &'static str {
        match self {
            Self::Redis => "redis-server",
            Self::Memcached => "memcached",
            Self::S3 => "python3",
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Self::Redis => "apt-get install redis-server",
            Self::Memcached => "apt-get install memcached",
            Self::S3 => "pip install 'moto[server]'",
        }
    }
}

/// moto's server application on werkzeug's single-threaded server.
const MOTO_LAUNCHER: &str = "import sys\n\
from werkzeug.serving import run_simple\n\
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app\n\
run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)\n";

/// The bucket [`Server::start`] creates on an S3 server.
pub const BUCKET: &str = "hoard-test";

/// A running server on `127.0.0.1`, killed (and reaped) on drop.
#[derive(Debug)]
pub struct Server {
    kind: Kind,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
    /// Arguments added to the kind's own (an authentication file).
    extra_args: Vec<String>,
}

impl Server {
    /// Starts a server of `kind` on a free loopback port and waits (up to 20 s) until it
    /// answers; for S3, also creates [`BUCKET`].
    ///
    /// # Panics
    /// If the program is not installed or does not come up, with what to install or where
    /// its log is.
    pub fn start(kind: Kind) -> Self {
        Self::start_with(kind, Vec::new())
    }

    /// Starts a memcached that requires text-protocol authentication (`-Y`, memcached
    /// 1.5.15 or later): `user` with `password` is its one account. The account file lives
    /// in the temporary directory beside the log.
    ///
    /// # Panics
    /// As [`start`](Self::start), or if the account file cannot be written.
    pub fn start_memcached_with_auth(user: &str, password: &str) -> Self {
        let file = std::env::temp_dir().join(format!(
            "hoard-memcached-auth-{}-{}",
            std::process::id(),
            free_port()
        ));
        #[expect(
            clippy::disallowed_methods,
            reason = "a test server's account file, outside any cache directory"
        )]
        std::fs::write(&file, format!("{user}:{password}\n"))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
        Self::start_with(
            Kind::Memcached,
            vec!["-Y".to_owned(), file.display().to_string()],
        )
    }

    fn start_with(kind: Kind, extra_args: Vec<String>) -> Self {
        let port = free_port();
        let mut server = Self {
            kind,
            port,
            child: None,
            log: std::env::temp_dir().join(format!("hoard-{}-{port}.log", kind.program())),
            extra_args,
        };
        server.spawn();
        if kind == Kind::S3 {
            let status = http(port, "PUT", &format!("/{BUCKET}"));
            assert!(
                status == 200,
                "creating bucket {BUCKET} on moto at port {port} answered HTTP {status}"
            );
        }
        server
    }

    /// Starts the server again on the same port after [`kill`](Self::kill) (its data is
    /// gone: none of the three persists here). For S3 the bucket is made again.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
        if self.kind == Kind::S3 {
            http(self.port, "PUT", &format!("/{BUCKET}"));
        }
    }

    /// Kills the server with SIGKILL and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already dead is as good.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with SIGSTOP: it keeps its port and its connections (the kernel
    /// still accepts new ones), but answers nothing until [`resume`](Self::resume), as a
    /// hung server does.
    ///
    /// # Panics
    /// If the signal cannot be sent.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Continues a server stopped by [`pause`](Self::pause) (SIGCONT).
    ///
    /// # Panics
    /// If the signal cannot be sent.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self
            .child
            .as_ref()
            .map(Child::id)
            .unwrap_or_else(|| panic!("{} is not running", self.kind.program()));
        let sent = Command::new("kill")
            .args([format!("-{sig}"), pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "kill -{sig} {pid} failed");
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The URL a hoard remote uses for this server: `redis://127.0.0.1:P/0`,
    /// `memcached://127.0.0.1:P`, or `s3://hoard-test/<prefix>` (with
    /// [`endpoint`](Self::endpoint)).
    pub fn url(&self, prefix: &str) -> String {
        match self.kind {
            Kind::Redis => format!("redis://127.0.0.1:{}/0", self.port),
            Kind::Memcached => format!("memcached://127.0.0.1:{}", self.port),
            Kind::S3 => format!("s3://{BUCKET}/{prefix}"),
        }
    }

    /// The HTTP endpoint of an S3 server: `http://127.0.0.1:P`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Which server this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let program = self.kind.program();
        let mut cmd = Command::new(program);
        match self.kind {
            Kind::Redis => cmd.args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ]),
            Kind::Memcached => {
                cmd.args(["-p", &port, "-l", "127.0.0.1", "-U", "0", "-m", "64"]);
                // memcached refuses to run as root unless told which user to be.
                if running_as_root() {
                    cmd.args(["-u", "root"]);
                }
                &mut cmd
            }
            Kind::S3 => cmd.args(["-c", MOTO_LAUNCHER, &port]),
        };
        cmd.args(&self.extra_args);
        let log = std::fs::File::create(&self.log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", self.log.display()));
        let err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot reopen {}: {e}", self.log.display()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {program} ({e}): is it installed? ({}; .ci/run installs it)",
                    self.kind.install_hint()
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "{program} exited with {status} before listening on port {}; see {}",
                    self.port,
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{program} did not listen on port {} within 20 s; see {}",
            self.port,
            self.log.display()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral loopback port")
}

fn running_as_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                == Some("0")
        })
}

/// One plain HTTP/1.1 request with an empty body; the status code (0 if unreadable).
fn http(port: u16, method: &str, path: &str) -> u16 {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return 0;
    };
    // A missing answer shows up as status 0 below.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Sends `command` (RESP arguments) to a Redis server and returns the raw reply, for tests
/// that change values behind hoard's back.
pub fn redis_command(port: u16, args: &[&[u8]]) -> Vec<u8> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connecting to redis");
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg);
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request).expect("writing to redis");
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("setting a read timeout");
    let mut reply = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.ends_with(b"\r\n") && complete(&reply) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    reply
}

/// Whether a RESP reply of the simple kinds (status, error, integer, bulk string) is whole.
fn complete(reply: &[u8]) -> bool {
    match reply.first() {
        Some(b'$') => {
            let Some(end) = reply.windows(2).position(|w| w == b"\r\n") else {
                return false;
            };
            let len: i64 = std::str::from_utf8(&reply[1..end])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(-1);
            len < 0 || reply.len() >= end + 2 + usize::try_from(len).unwrap_or(0) + 2
        }
        _ => true,
    }
}

/// The value of a bulk-string RESP reply (`$N\r\n...\r\n`), or `None` for a nil reply.
pub fn redis_bulk(reply: &[u8]) -> Option<Vec<u8>> {
    let end = reply.windows(2).position(|w| w == b"\r\n")?;
    let len: usize = std::str::from_utf8(reply.get(1..end)?).ok()?.parse().ok()?;
    reply.get(end + 2..end + 2 + len).map(<[u8]>::to_vec)
}
