//! The testkit tested: every suite passes on small, correct implementations (the public
//! `InMemory` store among them), and each check fails on an implementation with the flaw it
//! exists to catch.

mod codec;
mod data;
mod hasher;
mod memory;
mod process;
mod store;

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `check` and asserts that it panicked with a message containing `needle` (the contract
/// clause the check names). The house style has no `#[should_panic]`: a test says which
/// failure it expects.
#[track_caller]
fn expect_failure(what: &str, needle: &str, check: impl FnOnce()) {
    match catch_unwind(AssertUnwindSafe(check)) {
        Ok(()) => panic!("{what}: the check passed, but it should have caught the flaw"),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            assert!(
                message.contains(needle),
                "{what}: the check failed, but its message does not mention {needle:?}: {message}"
            );
        }
    }
}
