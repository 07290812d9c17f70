//! `promshard local`: the whole system on one machine, with real `prometheus`
//! processes as shards.
//!
//! - [`backend`]: the `local` shard backend (shards as local processes).
//! - [`process`]: starting, supervising and stopping one `prometheus` process.
//! - [`run`]: the `promshard local` command and its `--demo`.

pub mod backend;
pub mod process;
pub mod run;
