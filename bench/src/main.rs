//! `infinitedb-bench`: fio-style benchmarks of infinitedb.
#![forbid(unsafe_code)]

fn main() {
    eprintln!("infinitedb-bench: the benchmark suite is not built yet (issue 6)");
}
