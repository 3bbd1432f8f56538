#![doc = include_str!("../README.md")]

mod incremental;
mod module;

pub use incremental::IncrementalCache;
pub use module::ModuleCache;
