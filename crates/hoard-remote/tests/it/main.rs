//! Integration tests of hoard-remote against real Redis, memcached and S3 (moto) servers.

mod backends;
mod lease;
mod memcached;
mod outage;
mod redis;
mod sharded;
mod tiered;
