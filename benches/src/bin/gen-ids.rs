//! Writes a seeded file of post IDs, one per line, with a given share of repeated IDs: the input of
//! `scripts/bench-shard` and of the shard criterion bench.
//!
//! ```text
//! gen-ids OUT [--lines N] [--duplicates FRACTION] [--seed S]
//! ```
//!
//! Every ID is a 19-digit snowflake of a post made between 2019 and 2025, so that byte order
//! (`LC_ALL=C sort`) and numeric order agree and every peer produces the same shards.

use std::io::Write;

fn main() {
    let mut out = None;
    let mut lines: u64 = 26_000_000;
    let mut duplicates: f64 = 0.05;
    let mut seed: u64 = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--lines" => lines = value().parse().unwrap_or_else(|_| usage("--lines N")),
            "--duplicates" => {
                duplicates = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--duplicates FRACTION"));
            }
            "--seed" => seed = value().parse().unwrap_or_else(|_| usage("--seed S")),
            _ if out.is_none() && !arg.starts_with("--") => out = Some(arg),
            _ => usage(&format!("unexpected argument `{arg}`")),
        }
    }
    let Some(out) = out else { usage("missing OUT") };
    let file = std::fs::File::create(&out).unwrap_or_else(|e| usage(&format!("{out}: {e}")));
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    for id in xcomply_bench::ids::seeded_ids(seed, lines, duplicates) {
        writeln!(writer, "{id}").expect("writing the ID file");
    }
    writer.flush().expect("writing the ID file");
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "gen-ids: {problem}\nusage: gen-ids OUT [--lines N] [--duplicates FRACTION] [--seed S]"
    );
    std::process::exit(2)
}
