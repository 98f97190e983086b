//! The options every bench shares.

use std::path::PathBuf;

use clap::Args;

/// Where PostgreSQL is, whether to measure it, the report to write and the server binary.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// PostgreSQL server to create a scratch database on (skipped when unreachable).
    #[arg(
        long,
        env = "SATANG_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres_url: String,
    /// Measure SQLite only.
    #[arg(long)]
    pub no_postgres: bool,
    /// The report to write (only this bench's section is replaced).
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
    /// The `satang` binary (default: beside this executable).
    #[arg(long)]
    pub satang: Option<PathBuf>,
}
