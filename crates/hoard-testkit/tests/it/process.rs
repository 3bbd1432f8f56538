//! [`hoard_testkit::process::alone`]: the body runs in a child of this test binary, and a
//! wrong test path fails the calling test instead of running nothing.

use hoard_testkit::process::alone;

use crate::expect_failure;

/// The executable of process `pid` (read from `/proc`, so Linux only).
#[cfg(target_os = "linux")]
fn exe_of(pid: u32) -> std::path::PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe")).expect("a process's executable")
}

#[cfg(target_os = "linux")]
#[test]
fn the_body_runs_in_a_child_of_this_test_binary() {
    alone(
        "process::the_body_runs_in_a_child_of_this_test_binary",
        || {
            // A test's parent is the runner (cargo or nextest), unless `alone` started it.
            let parent = std::os::unix::process::parent_id();
            assert_eq!(
                exe_of(parent),
                exe_of(std::process::id()),
                "the parent is the test binary itself"
            );
        },
    );
}

#[test]
fn a_wrong_test_path_fails() {
    expect_failure("a wrong path", "did not run in its own process", || {
        alone("process::no_such_test", || {});
    });
}
