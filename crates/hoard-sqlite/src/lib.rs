#![doc = include_str!("../README.md")]

mod lock;
mod schema;

use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoard_core::{
    Bucket, BucketInfo, DIGEST_LEN, Digest, EntryInfo, Error, ErrorKind, HeldLock, Housekeeping,
    Item, ItemKind, LockTarget, Namespace, Result, StateName, Store,
};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

/// How long a statement waits for another connection's write lock before it fails with
/// [`ErrorKind::Busy`] (SQLite's `busy_timeout`). Writes are single short transactions, so
/// only a stopped writer holds the database that long.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections kept open for reuse; more are opened while more threads are inside the store
/// at once, and closed when they are done.
const IDLE_CONNECTIONS: usize = 8;

/// Rows fetched per page of [`Store::list`], so that a visitor may call the store and a
/// listing never holds a read transaction while it runs.
const LIST_PAGE: i64 = 512;

/// A [`Store`] and [`Housekeeping`] in one SQLite database file: see the
/// [crate documentation](crate).
pub struct SqliteStore {
    path: PathBuf,
    locks: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and its lock directory
    /// `<path>.locks/`.
    ///
    /// Refused with [`ErrorKind::Insecure`]: a parent directory owned by another user (root
    /// aside) or writable by others, a database or lock directory that is a symlink or owned
    /// by another user. A database of a newer schema is [`ErrorKind::Unsupported`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        schema::check_parent(&path)?;
        let mut locks = path.clone().into_os_string();
        locks.push(".locks");
        let locks = PathBuf::from(locks);
        lock::prepare_dir(&locks)?;
        let store = Self {
            path,
            locks,
            idle: Mutex::new(Vec::new()),
        };
        let mut conn = store.connect()?;
        schema::create(&mut conn, &store.path)?;
        store.idle().push(conn);
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves everything the write-ahead log holds into the database file and truncates the
    /// log (`PRAGMA wal_checkpoint(TRUNCATE)`), so that the database file alone holds the
    /// entries: before a copy or a backup of the file, or to measure its size. Readers and
    /// writers of other connections may delay it (SQLite checkpoints what it can).
    pub fn checkpoint(&self) -> Result<()> {
        self.with(
            || "cannot checkpoint the write-ahead log".to_owned(),
            |conn| conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())),
        )
    }

    /// The bucket of an entry: its namespace and the first byte of its digest in two hex
    /// digits (256 buckets per namespace).
    pub fn bucket_of(ns: &Namespace, digest: &Digest) -> Bucket {
        let name = format!("{:02x}", digest.as_bytes()[0]);
        Bucket::new(ns.clone(), &name).expect("two hex digits are a valid bucket name")
    }

    /// The digest and row version of `item` when it is an entry of this store in `bucket`;
    /// `None` for anything else (a `Temp` item, another bucket's entry, a version no row
    /// can hold), which `remove_item` and `replace_item` leave alone.
    fn own_entry(bucket: &Bucket, item: &Item) -> Option<(Digest, i64)> {
        let ItemKind::Entry(d) = item.kind else {
            return None;
        };
        if Self::bucket_of(bucket.namespace(), &d) != *bucket {
            return None;
        }
        let version = i64::try_from(item.version).ok()?;
        Some((d, version))
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // A connection is pushed or popped whole: the list is consistent whatever a
        // panicking holder did.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn connect(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| self.err("cannot open the database", e))?;
        schema::configure(&conn).map_err(|e| self.err("cannot configure the database", e))?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection; `what` names the operation in errors.
    fn with<R>(
        &self,
        what: impl FnOnce() -> String,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> Result<R> {
        let popped = self.idle().pop();
        let mut conn = match popped {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let out = f(&mut conn);
        let mut idle = self.idle();
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(conn);
        }
        drop(idle);
        out.map_err(|e| self.err(what(), e))
    }

    fn err(&self, what: impl Into<String>, e: rusqlite::Error) -> Error {
        let kind = match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                ErrorKind::Busy
            }
            _ => ErrorKind::Io,
        };
        Error::new(kind, what.into())
            .with_path(&self.path)
            .with_source(e)
    }

    fn entry_exists(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        self.with(
            || format!("cannot look up entry {ns}/{digest}"),
            |c| {
                c.prepare_cached("SELECT 1 FROM entries WHERE namespace = ?1 AND digest = ?2")?
                    .query_row(params![ns.as_str(), digest.as_bytes()], |_| Ok(()))
                    .optional()
                    .map(|found| found.is_some())
            },
        )
    }
}

/// Milliseconds since the epoch, as the tables store times (0 before the epoch).
fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A `u64` limit as SQLite's signed integer.
fn limit_sql(limit: u64) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn len_of(len: i64) -> u64 {
    u64::try_from(len).unwrap_or(0)
}

/// Versions and stamps are positive SQLite integers from one counter.
fn version_of(v: i64) -> u128 {
    u128::from(u64::try_from(v).unwrap_or(0))
}

fn too_large(what: String, len: u64, limit: u64) -> Error {
    Error::new(
        ErrorKind::TooLarge,
        format!("{what} is {len} bytes, above the {limit}-byte limit of this read"),
    )
}

/// The first and last digest of the bucket named `name` (two lowercase hex digits).
fn digest_range(name: &str) -> Option<([u8; DIGEST_LEN], [u8; DIGEST_LEN])> {
    if name.len() != 2 {
        return None;
    }
    let first = u8::from_str_radix(name, 16).ok()?;
    if format!("{first:02x}") != name {
        return None;
    }
    let mut lo = [0u8; DIGEST_LEN];
    let mut hi = [0xffu8; DIGEST_LEN];
    lo[0] = first;
    hi[0] = first;
    Some((lo, hi))
}

fn digest_of(bytes: &[u8]) -> Option<Digest> {
    <[u8; DIGEST_LEN]>::try_from(bytes)
        .ok()
        .map(Digest::from_bytes)
}

/// Records a change in the bucket of `(ns, digest)`: takes the next value of the one
/// counter, which becomes both the bucket's stamp and the new version of the entry.
fn changed(tx: &Transaction<'_>, ns: &Namespace, digest: &Digest) -> rusqlite::Result<i64> {
    let v: i64 = tx
        .prepare_cached("UPDATE counter SET value = value + 1 WHERE id = 0 RETURNING value")?
        .query_row([], |r| r.get(0))?;
    tx.prepare_cached(
        "INSERT INTO buckets (namespace, bucket, stamp) VALUES (?1, ?2, ?3)
         ON CONFLICT (namespace, bucket) DO UPDATE SET stamp = excluded.stamp",
    )?
    .execute(params![ns.as_str(), digest.as_bytes()[0], v])?;
    Ok(v)
}

/// Forgets the bucket of `(ns, digest)` if its last entry is gone (a later put recreates it
/// with a stamp from the counter, which only grows, so no stamp is ever repeated).
fn prune(tx: &Transaction<'_>, ns: &Namespace, digest: &Digest) -> rusqlite::Result<()> {
    let first = digest.as_bytes()[0];
    let (lo, hi) = digest_range(&format!("{first:02x}")).expect("a formatted byte parses back");
    tx.prepare_cached(
        "DELETE FROM buckets WHERE namespace = ?1 AND bucket = ?2 AND NOT EXISTS
         (SELECT 1 FROM entries WHERE namespace = ?1 AND digest BETWEEN ?3 AND ?4)",
    )?
    .execute(params![ns.as_str(), first, &lo[..], &hi[..]])?;
    Ok(())
}

fn immediate(c: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    c.transaction_with_behavior(TransactionBehavior::Immediate)
}

/// A row's frame (or `None` above the limit) and its length: one statement, so both
/// describe the same row.
const SELECT_BOUNDED: &str = "SELECT length(frame), CASE WHEN length(frame) <= ?3 THEN frame END,
     version, modified, accessed FROM entries WHERE namespace = ?1 AND digest = ?2";

struct Row {
    len: u64,
    frame: Option<Vec<u8>>,
    version: u128,
    modified: SystemTime,
    accessed: SystemTime,
}

fn bounded_row(
    c: &Connection,
    ns: &Namespace,
    digest: &Digest,
    limit: u64,
) -> rusqlite::Result<Option<Row>> {
    c.prepare_cached(SELECT_BOUNDED)?
        .query_row(
            params![ns.as_str(), digest.as_bytes(), limit_sql(limit)],
            |r| {
                Ok(Row {
                    len: len_of(r.get(0)?),
                    frame: r.get(1)?,
                    version: version_of(r.get(2)?),
                    modified: from_ms(r.get(3)?),
                    accessed: from_ms(r.get(4)?),
                })
            },
        )
        .optional()
}

impl Store for SqliteStore {
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        let row = self.with(
            || format!("cannot read entry {ns}/{digest}"),
            |c| bounded_row(c, ns, digest, limit),
        )?;
        match row {
            None => Ok(None),
            Some(Row {
                frame: Some(frame), ..
            }) => Ok(Some(frame)),
            Some(Row { len, .. }) => {
                Err(too_large(format!("entry {ns}/{digest}"), len, limit).with_path(&self.path))
            }
        }
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        let now = to_ms(SystemTime::now());
        self.with(
            || format!("cannot store entry {ns}/{digest}"),
            |c| {
                let tx = immediate(c)?;
                let v = changed(&tx, ns, digest)?;
                tx.prepare_cached(
                    "INSERT INTO entries (namespace, digest, frame, version, modified, accessed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                     ON CONFLICT (namespace, digest) DO UPDATE SET frame = excluded.frame,
                     version = excluded.version, modified = excluded.modified,
                     accessed = excluded.accessed",
                )?
                .execute(params![
                    ns.as_str(),
                    digest.as_bytes(),
                    frame,
                    v,
                    now
                ])?;
                tx.commit()
            },
        )
    }

    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        self.with(
            || format!("cannot remove entry {ns}/{digest}"),
            |c| {
                let tx = immediate(c)?;
                let n = tx
                    .prepare_cached("DELETE FROM entries WHERE namespace = ?1 AND digest = ?2")?
                    .execute(params![ns.as_str(), digest.as_bytes()])?;
                if n > 0 {
                    changed(&tx, ns, digest)?;
                    prune(&tx, ns, digest)?;
                }
                tx.commit()?;
                Ok(n > 0)
            },
        )
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
        let mut after: (String, Vec<u8>) = (String::new(), Vec::new());
        loop {
            let page = self.with(
                || "cannot list the entries".to_owned(),
                |c| {
                    let mut st = c.prepare_cached(
                        "SELECT namespace, digest, length(frame), modified, accessed FROM entries
                         WHERE (namespace, digest) > (?1, ?2) ORDER BY namespace, digest
                         LIMIT ?3",
                    )?;
                    let rows = st.query_map(params![after.0, after.1, LIST_PAGE], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, Vec<u8>>(1)?,
                            len_of(r.get(2)?),
                            from_ms(r.get(3)?),
                            from_ms(r.get(4)?),
                        ))
                    })?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()
                },
            )?;
            let full = page.len() as i64 == LIST_PAGE;
            for (ns, digest, len, modified, accessed) in page {
                // Rows that are not the store's own names are neither reported nor touched.
                if let (Ok(n), Some(d)) = (Namespace::new(&ns), digest_of(&digest)) {
                    let info = EntryInfo::new(n, d, len, Some(modified), Some(accessed));
                    if visit(info).is_break() {
                        return Ok(());
                    }
                }
                after = (ns, digest);
            }
            if !full {
                return Ok(());
            }
        }
    }
}

impl Housekeeping for SqliteStore {
    fn buckets(&self, visit: &mut dyn FnMut(BucketInfo) -> ControlFlow<()>) -> Result<()> {
        let all = self.with(
            || "cannot list the buckets".to_owned(),
            |c| {
                let mut st = c.prepare_cached("SELECT namespace, bucket, stamp FROM buckets")?;
                let rows = st.query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            },
        )?;
        for (ns, first, stamp) in all {
            let (Ok(ns), Ok(first)) = (Namespace::new(&ns), u8::try_from(first)) else {
                continue;
            };
            let name = format!("{first:02x}");
            let bucket = Bucket::new(ns, &name).expect("two hex digits are a valid bucket name");
            if visit(BucketInfo::new(bucket, Some(version_of(stamp)))).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn scan_bucket(
        &self,
        bucket: &Bucket,
        visit: &mut dyn FnMut(Item) -> ControlFlow<()>,
    ) -> Result<Option<u128>> {
        let Some((lo, hi)) = digest_range(bucket.name()) else {
            return Ok(None);
        };
        let ns = bucket.namespace().as_str();
        // Stamp and items from one read transaction: one snapshot of the database.
        let (stamp, items) = self.with(
            || format!("cannot scan bucket {bucket}"),
            |c| {
                let tx = c.transaction()?;
                let stamp: Option<i64> = tx
                    .prepare_cached(
                        "SELECT stamp FROM buckets WHERE namespace = ?1 AND bucket = ?2",
                    )?
                    .query_row(params![ns, lo[0]], |r| r.get(0))
                    .optional()?;
                let mut st = tx.prepare_cached(
                    "SELECT digest, length(frame), modified, accessed, version FROM entries
                     WHERE namespace = ?1 AND digest BETWEEN ?2 AND ?3 ORDER BY digest",
                )?;
                let items = st
                    .query_map(params![ns, &lo[..], &hi[..]], |r| {
                        Ok((
                            r.get::<_, Vec<u8>>(0)?,
                            len_of(r.get(1)?),
                            from_ms(r.get(2)?),
                            from_ms(r.get(3)?),
                            version_of(r.get(4)?),
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                drop(st);
                tx.commit()?;
                Ok((stamp, items))
            },
        )?;
        for (digest, len, modified, accessed, version) in items {
            let Some(d) = digest_of(&digest) else {
                continue;
            };
            let item = Item::new(
                ItemKind::Entry(d),
                len,
                Some(modified),
                Some(accessed),
                version,
            );
            if visit(item).is_break() {
                break;
            }
        }
        Ok(stamp.map(version_of))
    }

    fn remove_item(&self, bucket: &Bucket, item: &Item) -> Result<bool> {
        // Transactions are atomic: this store has no temporary objects, so a `Temp` item
        // (or another bucket's entry) is never one of its own.
        let Some((d, version)) = Self::own_entry(bucket, item) else {
            return Ok(false);
        };
        let ns = bucket.namespace();
        self.with(
            || format!("cannot remove entry {ns}/{d}"),
            |c| {
                let tx = immediate(c)?;
                let n = tx
                    .prepare_cached(
                        "DELETE FROM entries WHERE namespace = ?1 AND digest = ?2 AND version = ?3",
                    )?
                    .execute(params![ns.as_str(), d.as_bytes(), version])?;
                if n > 0 {
                    changed(&tx, ns, &d)?;
                    prune(&tx, ns, &d)?;
                }
                tx.commit()?;
                Ok(n > 0)
            },
        )
    }

    fn read_item(
        &self,
        ns: &Namespace,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<(Bucket, Item, Vec<u8>)>> {
        // One statement: the bytes and the version are those of the same row.
        let row = self.with(
            || format!("cannot read entry {ns}/{digest}"),
            |c| bounded_row(c, ns, digest, limit),
        )?;
        let Some(row) = row else {
            return Ok(None);
        };
        let Some(frame) = row.frame else {
            return Err(
                too_large(format!("entry {ns}/{digest}"), row.len, limit).with_path(&self.path)
            );
        };
        let item = Item::new(
            ItemKind::Entry(*digest),
            row.len,
            Some(row.modified),
            Some(row.accessed),
            row.version,
        );
        Ok(Some((Self::bucket_of(ns, digest), item, frame)))
    }

    fn replace_item(&self, bucket: &Bucket, item: &Item, frame: &[u8]) -> Result<bool> {
        let Some((d, version)) = Self::own_entry(bucket, item) else {
            return Ok(false);
        };
        let ns = bucket.namespace();
        let now = to_ms(SystemTime::now());
        // Check and swap inside one write transaction: no put can land in between.
        self.with(
            || format!("cannot replace entry {ns}/{d}"),
            |c| {
                let tx = immediate(c)?;
                let current: Option<i64> = tx
                    .prepare_cached(
                        "SELECT version FROM entries WHERE namespace = ?1 AND digest = ?2",
                    )?
                    .query_row(params![ns.as_str(), d.as_bytes()], |r| r.get(0))
                    .optional()?;
                if current != Some(version) {
                    return Ok(false);
                }
                let v = changed(&tx, ns, &d)?;
                tx.prepare_cached(
                    "UPDATE entries SET frame = ?3, version = ?4, modified = ?5, accessed = ?5
                     WHERE namespace = ?1 AND digest = ?2",
                )?
                .execute(params![ns.as_str(), d.as_bytes(), frame, v, now])?;
                tx.commit()?;
                Ok(true)
            },
        )
    }

    fn touch(&self, ns: &Namespace, used: &[(Digest, SystemTime)]) -> Result<u64> {
        if used.is_empty() {
            return Ok(0);
        }
        self.with(
            || format!("cannot touch {} entries of {ns}", used.len()),
            |c| {
                let tx = immediate(c)?;
                let mut set = 0;
                {
                    let mut st = tx.prepare_cached(
                        "UPDATE entries SET accessed = ?3 WHERE namespace = ?1 AND digest = ?2",
                    )?;
                    for (d, when) in used {
                        set += st.execute(params![ns.as_str(), d.as_bytes(), to_ms(*when)])? as u64;
                    }
                }
                tx.commit()?;
                Ok(set)
            },
        )
    }

    fn lock(&self, target: LockTarget<'_>, wait: bool) -> Result<Option<HeldLock>> {
        match target {
            LockTarget::Named(name) => {
                lock::take(&lock::named_path(&self.locks, name), wait, false)
            }
            LockTarget::Entry(ns, d) => {
                if !self.entry_exists(ns, d)? {
                    return Ok(None);
                }
                lock::take(&lock::entry_path(&self.locks, ns, d), wait, true)
            }
            _ => Err(Error::new(
                ErrorKind::NotSupportedByStore,
                "the sqlite store does not know this kind of lock",
            )
            .with_path(&self.path)),
        }
    }

    fn lock_path(&self, target: LockTarget<'_>) -> Option<PathBuf> {
        match target {
            LockTarget::Named(name) => Some(lock::named_path(&self.locks, name)),
            LockTarget::Entry(ns, d) => Some(lock::entry_path(&self.locks, ns, d)),
            _ => None,
        }
    }

    fn read_state(&self, name: &StateName, limit: u64) -> Result<Option<Vec<u8>>> {
        let row = self.with(
            || format!("cannot read state {name}"),
            |c| {
                c.prepare_cached(
                    "SELECT length(bytes), CASE WHEN length(bytes) <= ?2 THEN bytes END
                     FROM state WHERE name = ?1",
                )?
                .query_row(params![name.as_str(), limit_sql(limit)], |r| {
                    Ok((len_of(r.get(0)?), r.get::<_, Option<Vec<u8>>>(1)?))
                })
                .optional()
            },
        )?;
        match row {
            None => Ok(None),
            Some((_, Some(bytes))) => Ok(Some(bytes)),
            Some((len, None)) => {
                Err(too_large(format!("state {name}"), len, limit).with_path(&self.path))
            }
        }
    }

    fn write_state(&self, name: &StateName, bytes: &[u8]) -> Result<()> {
        self.with(
            || format!("cannot write state {name}"),
            |c| {
                c.prepare_cached(
                    "INSERT INTO state (name, bytes) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET bytes = excluded.bytes",
                )?
                .execute(params![name.as_str(), bytes])?;
                Ok(())
            },
        )
    }
}
