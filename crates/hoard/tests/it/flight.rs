//! Single-flight: threads (here; processes in the reliability row and the `hoard run`
//! tests) missing one key at the same time compute it once; a wait is bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hoard::{Cache, CacheBuilder};

fn cache(dir: &tempfile::TempDir, wait: Duration) -> Cache {
    CacheBuilder::new(dir.path())
        .namespace("flight")
        .without_worker()
        .single_flight_wait(wait)
        .build()
        .expect("the cache opens")
}

#[test]
fn concurrent_misses_of_one_key_compute_it_once() {
    const THREADS: usize = 6;
    let dir = tempfile::tempdir().expect("dir");
    let cache = cache(&dir, Duration::from_secs(60));
    let key = cache.key("slow artifact");
    let computes = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (cache, key, computes) = (cache.clone(), key, Arc::clone(&computes));
            std::thread::spawn(move || {
                let waiting = cache.clone();
                cache.get_or_compute(&key, || {
                    computes.fetch_add(1, Ordering::SeqCst);
                    // The computation lasts until every other thread waits for it (each
                    // counted as it starts waiting), so that they all overlap it.
                    while waiting.stats().flight_waits < (THREADS - 1) as u64 {
                        std::thread::yield_now();
                    }
                    b"the artifact".to_vec()
                })
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("no panic"), b"the artifact");
    }
    assert_eq!(computes.load(Ordering::SeqCst), 1);
    let s = cache.stats();
    assert_eq!(
        (
            s.flight_waits,
            s.flight_wait_hits,
            s.flight_gave_up,
            s.inserts
        ),
        ((THREADS - 1) as u64, (THREADS - 1) as u64, 0, 1),
        "{s:?}"
    );
}

#[test]
fn a_wait_is_bounded_and_then_computes_anyway() {
    let dir = tempfile::tempdir().expect("dir");
    let cache = cache(&dir, Duration::from_millis(30));
    let key = cache.key("held elsewhere");
    // A holder that never finishes (a stopped process would be the same).
    let turn = cache.single_flight(&key);
    assert!(turn.is_locked() && !turn.waited());
    let got = cache.get_or_compute(&key, || b"computed anyway".to_vec());
    assert_eq!(got, b"computed anyway");
    let s = cache.stats();
    assert_eq!((s.flight_waits, s.flight_gave_up), (1, 1), "{s:?}");
    drop(turn);
    // Released: the next miss of another key of any stripe takes its turn at once.
    let other = cache.get_or_compute(&cache.key("next"), || b"x".to_vec());
    assert_eq!(other, b"x");
    assert_eq!(cache.stats().flight_waits, 1);
}

#[test]
fn get_data_computes_once_and_zero_turns_single_flight_off() {
    let dir = tempfile::tempdir().expect("dir");
    let off = cache(&dir, Duration::ZERO);
    let turn = off.single_flight(&off.key("k"));
    assert!(!turn.is_locked() && !turn.waited());
    let on = cache(&dir, Duration::from_secs(5));
    fn square(n: &u32) -> Result<u64, ()> {
        Ok(u64::from(*n) * u64::from(*n))
    }
    assert_eq!(on.get_data(7u32, square), Ok(49));
    assert_eq!(on.get_data(7u32, square), Ok(49));
    let s = on.stats();
    assert_eq!((s.inserts, s.hits, s.flight_waits), (1, 1, 0), "{s:?}");
}

#[test]
fn the_configuration_key_sets_the_wait() {
    let off = hoard::CacheConfig::from_toml_str("[cache]\nsingle-flight-wait = \"0s\"\n", None)
        .expect("valid");
    assert_eq!(off.single_flight_wait, Duration::ZERO);
    let default = hoard::CacheConfig::from_toml_str("[cache]\n", None).expect("valid");
    assert_eq!(
        default.single_flight_wait,
        hoard::DEFAULT_SINGLE_FLIGHT_WAIT
    );
    let err = hoard::CacheConfig::from_toml_str("[cache]\nsingle-flight-wait = 10\n", None)
        .expect_err("a duration needs a unit");
    assert!(err.to_string().contains("single-flight-wait"), "{err}");
    // Through the configuration: a zero wait takes no lock.
    let dir = tempfile::tempdir().expect("dir");
    let mut config = off;
    config.directory = Some(dir.path().to_path_buf());
    let cache = Cache::from_config(&config).expect("the cache opens");
    let turn = cache.single_flight(&cache.key("k"));
    assert!(!turn.is_locked());
}
