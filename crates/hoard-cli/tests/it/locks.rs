//! A lock held by another process (util-linux `flock` on Unix, as in issue 13's
//! reproduction; on Windows, which has no `flock`, this test binary again, holding the lock
//! through `FsStore`'s `LockFileEx`) never hangs a command: `gc`, `evict` and `stats --zero`
//! say "busy" within their bound with status 2; `put`, `get` and `stats` are not delayed
//! beyond the merge bound.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hoard::evict::{MERGE_LOCK_WAIT, OPERATION_LOCK_WAIT};
use hoard::{FsStore, Housekeeping, LockTarget, StateName};
use hoard_testkit::process::HeldElsewhere;

use crate::{Env, Run, s, text};

/// What a loaded machine may add to a bound (and a process's start) before the test calls
/// it a hang.
const SLACK: Duration = Duration::from_secs(3);

/// A cache with one entry (put by the command, so that `state/` exists) and the path of
/// its lock file `name`.
fn cache_and_lock(env: &Env, name: &str) -> PathBuf {
    let input = env.file("in", &text(1, 10_000));
    env.run(&["put", "k", s(&input)]).expect_code(0);
    env.dir().join("state").join(format!("{name}.lock"))
}

/// Set in the holder process (see [`holder_entry`]) to `ROOT|NAME`.
const HOLD_ENV: &str = "HOARD_CLI_IT_HOLD";

/// Starts a process holding the named lock `name` of the cache of `env`, whose lock file is
/// `file`: util-linux's `flock` on Unix, this binary's [`holder_entry`] on Windows.
fn held_elsewhere(env: &Env, name: &str, file: &Path) -> HeldElsewhere {
    if cfg!(unix) {
        return HeldElsewhere::new(file);
    }
    let spec = format!("{}|{name}", env.dir().display());
    let mut command = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args(["locks::holder_entry", "--exact", "--nocapture"])
        .env(HOLD_ENV, &spec);
    HeldElsewhere::started(command, &spec)
}

/// The holder's side: takes the named lock `HOLD_ENV` names, prints `held` and holds it
/// until stdin closes. Does nothing unless a test set the variable.
#[test]
fn holder_entry() {
    use std::io::Read;
    let Ok(spec) = std::env::var(HOLD_ENV) else {
        return;
    };
    let (root, name) = spec.split_once('|').expect("ROOT|NAME");
    let store = FsStore::open(root).expect("open");
    let name = StateName::new(name).expect("valid");
    let held = store
        .lock(LockTarget::Named(&name), true)
        .expect("lock")
        .expect("waited for");
    println!("held");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(held);
}

/// Runs `hoard ARGS`, asserting that it ended within `bound` plus the slack.
#[track_caller]
fn run_within(env: &Env, bound: Duration, args: &[&str]) -> Run {
    let started = Instant::now();
    let run = env.run(args);
    let took = started.elapsed();
    assert!(
        took <= bound + SLACK,
        "{args:?} took {took:?}, bound {bound:?}"
    );
    run
}

#[track_caller]
fn assert_busy(run: &Run, lock: &Path) {
    assert_eq!(run.code, 2, "stderr: {}", run.stderr);
    assert_eq!(
        run.one_error_line(),
        format!("hoard: busy: {} is held by another process", lock.display())
    );
}

#[test]
fn gc_and_evict_are_busy_while_another_process_holds_the_cleanup_lock() {
    let env = Env::new();
    let lock = cache_and_lock(&env, "cleanup");
    let held = held_elsewhere(&env, "cleanup", &lock);
    assert_busy(&run_within(&env, OPERATION_LOCK_WAIT, &["gc"]), &lock);
    assert_busy(
        &run_within(&env, OPERATION_LOCK_WAIT, &["evict", "--older-than", "1s"]),
        &lock,
    );
    // Nothing was evicted, and the entry is still served at once.
    let got = run_within(&env, MERGE_LOCK_WAIT, &["get", "k"]).expect_code(0);
    assert_eq!(got.stdout, text(1, 10_000));
    drop(held);
    env.run(&["gc"]).expect_code(0);
}

#[test]
fn stats_zero_is_busy_and_put_and_get_are_not_held_up_by_the_counters_lock() {
    let env = Env::new();
    let lock = cache_and_lock(&env, "counters");
    let held = held_elsewhere(&env, "counters", &lock);
    assert_busy(
        &run_within(&env, OPERATION_LOCK_WAIT, &["stats", "--zero"]),
        &lock,
    );
    let input = env.file("in2", &text(2, 5_000));
    run_within(&env, MERGE_LOCK_WAIT, &["put", "k2", s(&input)]).expect_code(0);
    let got = run_within(&env, MERGE_LOCK_WAIT, &["get", "k2"]).expect_code(0);
    assert_eq!(got.stdout, text(2, 5_000));
    run_within(&env, MERGE_LOCK_WAIT, &["stats"]).expect_code(0);
    // A recompression and a gc run; only their counts wait (and are lost at exit).
    run_within(&env, MERGE_LOCK_WAIT, &["recompress", "--level", "5"]).expect_code(0);
    run_within(&env, MERGE_LOCK_WAIT, &["gc"]).expect_code(0);
    drop(held);
    env.run(&["stats", "--zero"]).expect_code(0);
}
