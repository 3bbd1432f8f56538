//! The database's tables and settings, and the checks made before it is opened.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use hoard_core::{Error, ErrorKind, Result};
use rusqlite::Connection;

use crate::BUSY_TIMEOUT;

/// The schema this build writes (`PRAGMA user_version`); a database of a later one is
/// refused rather than misread.
const SCHEMA_VERSION: i64 = 1;

/// Prepared statements kept per connection: every statement the store runs, with room.
const STATEMENT_CACHE: usize = 32;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS entries (
    namespace TEXT NOT NULL,
    digest BLOB NOT NULL,
    frame BLOB NOT NULL,
    version INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    accessed INTEGER NOT NULL,
    PRIMARY KEY (namespace, digest)
);
CREATE TABLE IF NOT EXISTS buckets (
    namespace TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    stamp INTEGER NOT NULL,
    PRIMARY KEY (namespace, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counter (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counter (id, value) VALUES (0, 0);
CREATE TABLE IF NOT EXISTS state (
    name TEXT PRIMARY KEY NOT NULL,
    bytes BLOB NOT NULL
);
";

/// Settings of every connection: write-ahead log (readers never block the writer),
/// `synchronous = NORMAL` (in WAL mode a power cut may lose the last commits, never
/// corrupt the database: hoard's default durability), the busy timeout and the statement
/// cache.
pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidQuery);
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

/// Creates the tables (once, in one transaction) and checks the schema version.
pub(crate) fn create(conn: &mut Connection, path: &Path) -> Result<()> {
    let err = |what: &'static str, e: rusqlite::Error| {
        Error::new(ErrorKind::Io, what)
            .with_path(path)
            .with_source(e)
    };
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| err("cannot open the database for writing", e))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| err("cannot read the database's schema version", e))?;
    if version > SCHEMA_VERSION {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("database schema {version} is newer than this build's ({SCHEMA_VERSION})"),
        )
        .with_path(path));
    }
    tx.execute_batch(TABLES)
        .map_err(|e| err("cannot create the database's tables", e))?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(|e| err("cannot set the database's schema version", e))?;
    tx.commit()
        .map_err(|e| err("cannot create the database's tables", e))
}

fn insecure(message: &'static str, path: &Path) -> Error {
    Error::new(ErrorKind::Insecure, message).with_path(path)
}

/// Refuses a database whose directory others could tamper with: as hoard-fs refuses such a
/// cache root. The directory must be owned by this user or root and not writable by others
/// (group-writable is allowed, for group-shared caches); an existing database must be a
/// regular file (not a symlink) owned by this user.
pub(crate) fn check_parent(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::metadata(parent)
        .map_err(|e| Error::io("cannot inspect the database's directory", parent, e))?;
    let me = rustix::process::geteuid().as_raw();
    if !dir.is_dir() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a directory").with_path(parent));
    }
    if dir.uid() != me && dir.uid() != 0 {
        return Err(insecure(
            "the database's directory is owned by another user",
            parent,
        ));
    }
    if dir.mode() & 0o002 != 0 {
        return Err(insecure(
            "the database's directory is writable by others",
            parent,
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => {
            Err(insecure("the database is not a regular file", path))
        }
        Ok(m) if m.uid() != me => Err(insecure("the database is owned by another user", path)),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot inspect the database", path, e)),
    }
}
