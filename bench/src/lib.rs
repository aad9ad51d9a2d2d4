//! The harness of `infinitedb-bench`: fio-style benchmarks of infinitedb, with the raw device
//! and fio figures that bound them measured in the same run.
//!
//! Modules, one concept each:
//! - [`workload`]: engine workloads (durable commits with N writers, bulk ingest, overwrite,
//!   point reads, mixed, box queries) on a fresh temporary database; `points` (private): the
//!   key set's points; [`executor`]: the one-thread executor of `--api async` submitters;
//! - [`lifecycle`]: the compaction lifecycle (`--rw lifecycle`): preload, many overwrites
//!   with reopens, and the space and write amplification, level shape, read and commit
//!   latency they lead to, with compaction on and off;
//! - [`peers`]: the comparison with other embedded engines (`--rw peers`; fjall and redb with
//!   the cargo feature `peers`): the same load, point-get and range workloads through one
//!   trait, every value checked;
//! - [`query`]: box-query sizing and the brute-force check of the engine's answers;
//! - [`raw`]: device workloads through `uring-io` (commits, sequential writes, random reads);
//! - [`handoff`]: the thread hand-off ceiling, with no I/O: what parking and waking one thread
//!   per operation allows on this machine (the CPU bound of many blocking writers);
//! - [`fio`]: runs fio with matching parameters and parses its JSON output;
//! - [`plot`]: `--plot`, the jobs' latency percentile curves as one SVG chart;
//! - [`report`]: latency summaries, comparisons, the text and JSON renderings (the JSON schema
//!   is documented there);
//! - [`environment`]: kernel, filesystem, device queue attributes, backend;
//! - [`suite`]: the main job (no arguments); [`compare`]: `--vs-fio`, medians of repeats;
//! - [`job`]: limits and progress; [`units`]: fio-style sizes and durations.
//!
//! The binary (`src/main.rs`) only parses arguments and prints.
#![forbid(unsafe_code)]

pub mod compare;
pub mod environment;
mod error;
pub mod executor;
pub mod fio;
pub mod handoff;
pub mod job;
pub mod lifecycle;
pub mod peers;
pub mod plot;
mod points;
pub mod query;
pub mod raw;
pub mod report;
pub mod suite;
pub mod units;
pub mod workload;

pub use error::{BenchError, Result};
