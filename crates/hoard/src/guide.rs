#![doc = include_str!("../../../docs/writing-a-plugin.md")]
