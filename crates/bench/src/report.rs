//! `BENCHMARKS.md`: each bench owns one section between `<!-- bench:NAME:start -->` and
//! `<!-- bench:NAME:end -->` and replaces only that, so benches can be run one at a time.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::auth::{AuthArgs, BackendResult, BackendRun, MB};
use crate::load::Outcome;
use crate::proc_stats::Machine;
use crate::server::{ARGON2_ITERATIONS, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM};

pub const AUTH_SECTION: &str = "auth";

/// `/api/auth/me` must reach at least this share of the `/healthz` rate.
const ME_SHARE_TARGET: f64 = 0.50;
/// Resident memory of an idle `satang serve`, at most.
const IDLE_RSS_TARGET_MB: f64 = 40.0;

const PREAMBLE: &str = "# Benchmarks\n\n\
Figures written by `satang-bench` (`crates/bench`); each bench replaces only its own section, \
so run any of them again to refresh it. Numbers from a shared or virtual machine move by \
several per cent from run to run.\n";

/// Replaces (or appends) the section `name` of the markdown file at `path`.
pub fn write_section(path: &Path, name: &str, body: &str) -> anyhow::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => PREAMBLE.to_owned(),
        Err(e) => return Err(e.into()),
    };
    std::fs::write(path, splice(&existing, name, body))?;
    Ok(())
}

fn splice(existing: &str, name: &str, body: &str) -> String {
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->");
    let block = format!("{start}\n{}\n{end}", body.trim_end());
    if let Some(from) = existing.find(&start)
        && let Some(to) = existing[from..].find(&end).map(|i| from + i + end.len())
    {
        return format!("{}{block}{}", &existing[..from], &existing[to..]);
    }
    // A new section goes before the closing notes on what limits the figures, which stay last.
    if let Some(at) = existing.find(LAST_HEADING) {
        return format!(
            "{}\n\n{block}\n\n{}",
            existing[..at].trim_end(),
            &existing[at..]
        );
    }
    format!("{}\n\n{block}\n", existing.trim_end())
}

/// The heading of the section that stays at the end of `BENCHMARKS.md`.
const LAST_HEADING: &str = "## What limits the figures";

pub struct AuthReport<'a> {
    pub machine: &'a Machine,
    pub command_line: &'a str,
    pub args: &'a AuthArgs,
    pub backends: &'a [(&'a str, &'a BackendRun)],
}

impl AuthReport<'_> {
    pub fn render(&self) -> String {
        let m = self.machine;
        let a = self.args;
        let login = a.login_plan();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## Auth: `GET /api/auth/me` against the HTTP ceiling, logins, idle memory\n"
        );
        let _ = writeln!(
            out,
            "- **When**: {} on commit `{}`",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
            git_commit()
        );
        let _ = writeln!(
            out,
            "- **Machine**: {}, {} cores, {:.1} GiB memory, {}",
            m.cpu_model,
            m.cores,
            m.memory_bytes as f64 / crate::auth::GIB,
            m.kernel
        );
        let _ = writeln!(
            out,
            "- **Command**: `cargo build --release -p satang -p satang-bench && {}`",
            self.command_line
        );
        let _ = writeln!(
            out,
            "- **Load**: {} concurrent keep-alive HTTP/1.1 connections on loopback, each a closed \
             loop (send, read the whole answer, send again), {} s per endpoint after a 1 s \
             warm-up; every latency recorded (HDR histogram). Logins: {} concurrent \
             connections (one per core) for {} s after a 1 s warm-up.",
            a.concurrency.max(1),
            a.seconds.max(1),
            login.concurrency,
            login.measure.as_secs()
        );
        let _ = writeln!(
            out,
            "- **Server**: the release `satang serve`, a fresh data directory (and a fresh \
             PostgreSQL database) per backend, API rate limit off, log level `warn`, argon2id \
             m={ARGON2_MEMORY_KIB} KiB, t={ARGON2_ITERATIONS}, p={ARGON2_PARALLELISM} (the \
             defaults). `/healthz` touches neither auth nor the database: it is the ceiling of \
             the HTTP stack. `/api/auth/me` verifies the EdDSA access token (verified tokens \
             are cached), reads the user (cached for 1 s) and queries the memberships: one \
             database query per request."
        );
        let _ = writeln!(
            out,
            "- **Caveat**: the load generator runs on the same {}-core machine as the server, so \
             the two share the CPU. The CPU columns show the split, in cores busy on average \
             (the whole-machine figure also counts PostgreSQL's own processes and anything else \
             running). A dedicated client machine would show higher rates for both endpoints.",
            m.cores
        );
        for (name, run) in self.backends {
            let _ = writeln!(out, "\n### {name}\n");
            match run {
                BackendRun::Skipped(why) => {
                    let _ = writeln!(out, "Not measured: {why}.");
                }
                BackendRun::Measured(r) => render_backend(&mut out, r),
            }
        }
        out
    }
}

fn render_backend(out: &mut String, r: &BackendResult) {
    let _ = writeln!(
        out,
        "| endpoint | req/s | p50 | p99 | errors | CPU: server | load generator | whole machine |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, o) in [
        ("`GET /healthz`", &r.healthz),
        ("`GET /api/auth/me`", &r.me),
        ("`POST /api/auth/login`", &r.login),
    ] {
        row(out, name, o);
    }
    let share = r.me.per_second() / r.healthz.per_second();
    let idle_mb = r.idle_rss as f64 / MB;
    let used_mb = r.rss_idle_after_use as f64 / MB;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- `/api/auth/me` runs at **{:.0} %** of the `/healthz` rate (target ≥ {:.0} %): **{}**",
        share * 100.0,
        ME_SHARE_TARGET * 100.0,
        pass(share >= ME_SHARE_TARGET)
    );
    let _ = writeln!(
        out,
        "- Logins: **{:.1} /s**, p99 {} (argon2id m={ARGON2_MEMORY_KIB} KiB, t={ARGON2_ITERATIONS}, \
         p={ARGON2_PARALLELISM}: bound by the deliberate cost of the hash)",
        r.login.per_second(),
        ms(r.login.percentile_ms(0.99))
    );
    let _ = writeln!(
        out,
        "- RSS of `satang serve`: idle after start {idle_mb:.1} MB; **idle after five logins \
         {used_mb:.1} MB** (target ≤ {IDLE_RSS_TARGET_MB:.0} MB): **{}**; right after the HTTP \
         load {:.1} MB, after the login load {:.1} MB",
        pass(used_mb <= IDLE_RSS_TARGET_MB),
        r.rss_after_load as f64 / MB,
        r.rss_after_login as f64 / MB,
    );
}

fn row(out: &mut String, name: &str, o: &Outcome) {
    let _ = writeln!(
        out,
        "| {name} | {:.0} | {} | {} | {} | {:.2} | {:.2} | {:.2} |",
        o.per_second(),
        ms(o.percentile_ms(0.50)),
        ms(o.percentile_ms(0.99)),
        o.errors,
        o.server_cores,
        o.client_cores,
        o.machine_cores
    );
}

pub fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2} ms")
    } else {
        format!("{value:.0} ms")
    }
}

pub fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// The short hash of HEAD, or `unknown` outside a git checkout.
/// The "When", "Machine" and "Command" lines every bench section starts with.
pub fn run_header(out: &mut String, m: &Machine, command_line: &str) {
    let _ = writeln!(
        out,
        "- **When**: {} on commit `{}`",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        git_commit()
    );
    let _ = writeln!(
        out,
        "- **Machine**: {}, {} cores, {:.1} GiB memory, {}; PostgreSQL as installed \
         (default settings)",
        m.cpu_model,
        m.cores,
        m.memory_bytes as f64 / crate::auth::GIB,
        m.kernel
    );
    let _ = writeln!(
        out,
        "- **Command**: `cargo build --release -p satang -p satang-bench && {command_line}`"
    );
}

pub fn git_commit() -> String {
    // The checkout this bench was built from, wherever it is run from.
    let checkout = env!("CARGO_MANIFEST_DIR");
    let run = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(checkout)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(hash) if !hash.is_empty() => hash,
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::splice;

    #[test]
    fn a_section_is_appended_then_replaced_leaving_others_alone() {
        let first = splice("# Benchmarks\n", "auth", "one");
        assert_eq!(
            first,
            "# Benchmarks\n\n<!-- bench:auth:start -->\none\n<!-- bench:auth:end -->\n"
        );
        let with_other = splice(&first, "load", "bulk");
        let replaced = splice(&with_other, "auth", "two\n");
        assert!(replaced.contains("<!-- bench:auth:start -->\ntwo\n<!-- bench:auth:end -->"));
        assert!(replaced.contains("<!-- bench:load:start -->\nbulk\n<!-- bench:load:end -->"));
        assert!(!replaced.contains("one"));
        assert!(replaced.find("bench:auth").unwrap() < replaced.find("bench:load").unwrap());
    }
}
