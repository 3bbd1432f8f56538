#![doc = include_str!("../README.md")]

mod module;

pub use module::ModuleCache;
