//! Writes seeded compliance results (JSON Lines) of about a given size: the input of
//! `scripts/bench-decode`.
//!
//! ```text
//! gen-results OUT|- [--bytes N] [--type tweets|users|mixed] [--seed S]
//! ```

use std::io::Write;

use xcomply_bench::results_jsonl::{Shape, write_results};

fn main() {
    let mut out = None;
    let mut bytes: u64 = 1_000_000_000;
    let mut shape = Shape::Mixed;
    let mut seed: u64 = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--bytes" => bytes = value().parse().unwrap_or_else(|_| usage("--bytes N")),
            "--type" => {
                shape =
                    Shape::parse(&value()).unwrap_or_else(|| usage("--type tweets|users|mixed"));
            }
            "--seed" => seed = value().parse().unwrap_or_else(|_| usage("--seed S")),
            _ if out.is_none() && (arg == "-" || !arg.starts_with("--")) => out = Some(arg),
            _ => usage(&format!("unexpected argument `{arg}`")),
        }
    }
    let Some(out) = out else { usage("missing OUT") };
    let sink: Box<dyn Write> = if out == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(&out).unwrap_or_else(|e| usage(&format!("{out}: {e}"))))
    };
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, sink);
    write_results(&mut writer, seed, shape, bytes).expect("writing the results");
    writer.flush().expect("writing the results");
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "gen-results: {problem}\nusage: gen-results OUT|- [--bytes N] [--type tweets|users|mixed] [--seed S]"
    );
    std::process::exit(2)
}
