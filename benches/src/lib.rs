//! Seeded generators of benchmark and test data (ID files, results JSON Lines, datasets) and the
//! criterion benchmarks in `benches/`.
//!
//! It deliberately holds no product logic: everything it measures lives in the library crates.

pub mod ids;
pub mod results_jsonl;
