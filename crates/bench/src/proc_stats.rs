//! What Linux's `/proc` says about a process (resident memory, CPU time) and about the machine
//! (CPU model, cores, memory, kernel), for the report.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;

/// Resident memory (`VmRSS`) of a process, in bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .context("no VmRSS in /proc/<pid>/status")?;
    Ok(kib * 1024)
}

/// CPU time used so far — by one process (user + system), or by the whole machine (every
/// state but idle and I/O wait) — and when it was read.
pub struct CpuClock {
    source: CpuSource,
    ticks: u64,
    at: Instant,
}

enum CpuSource {
    Process(String),
    Machine,
}

impl CpuSource {
    fn ticks(&self) -> anyhow::Result<u64> {
        match self {
            CpuSource::Process(path) => process_ticks(path),
            CpuSource::Machine => machine_busy_ticks(),
        }
    }
}

impl CpuClock {
    pub fn of_process(pid: u32) -> anyhow::Result<CpuClock> {
        CpuClock::start(CpuSource::Process(format!("/proc/{pid}/stat")))
    }

    pub fn of_self() -> anyhow::Result<CpuClock> {
        CpuClock::start(CpuSource::Process("/proc/self/stat".into()))
    }

    pub fn of_machine() -> anyhow::Result<CpuClock> {
        CpuClock::start(CpuSource::Machine)
    }

    fn start(source: CpuSource) -> anyhow::Result<CpuClock> {
        Ok(CpuClock {
            ticks: source.ticks()?,
            source,
            at: Instant::now(),
        })
    }

    /// Average number of cores busy since the clock was read (1.0 = one core throughout).
    pub fn cores_since(&self) -> anyhow::Result<f64> {
        let ticks = self.source.ticks()?.saturating_sub(self.ticks);
        let seconds = ticks as f64 / clock_ticks_per_second();
        Ok(seconds / self.at.elapsed().as_secs_f64())
    }
}

/// `utime + stime` from `/proc/<pid>/stat`, in clock ticks.
fn process_ticks(path: &str) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    // The command name (field 2) may hold spaces; the fields after it are counted from its
    // closing parenthesis. utime and stime are fields 14 and 15.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc/<pid>/stat format")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        fields
            .get(n - 3)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no field {n} in {path}"))
    };
    Ok(field(14)? + field(15)?)
}

/// `utime + stime` of each process whose command name is `name`.
fn ticks_by_pid(name: &str) -> anyhow::Result<HashMap<u32, u64>> {
    let mut ticks = HashMap::new();
    for entry in std::fs::read_dir("/proc").context("cannot read /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim_end() == name {
            // A process may exit between the two reads.
            if let Ok(t) = process_ticks(&format!("/proc/{pid}/stat")) {
                ticks.insert(pid, t);
            }
        }
    }
    Ok(ticks)
}

/// CPU of every process called `name`, sampled every 100 ms from a thread of its own, so
/// processes that start and exit meanwhile (pgbench's connections) are counted too, all but
/// their last 100 ms.
pub struct NamedCpuSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
    at: Instant,
}

impl NamedCpuSampler {
    pub fn start(name: &str) -> anyhow::Result<NamedCpuSampler> {
        let mut last = ticks_by_pid(name)?;
        let stop = Arc::new(AtomicBool::new(false));
        let name = name.to_owned();
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut total = 0;
            loop {
                let done = stopping.load(Ordering::Relaxed);
                if let Ok(now) = ticks_by_pid(&name) {
                    for (pid, ticks) in &now {
                        // A process first seen now started after the previous sample.
                        let before = last.get(pid).copied().unwrap_or(0);
                        total += ticks.saturating_sub(before);
                    }
                    last = now;
                }
                if done {
                    return total;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        Ok(NamedCpuSampler {
            stop,
            thread,
            at: Instant::now(),
        })
    }

    /// Average number of cores busy since the start.
    pub fn stop(self) -> f64 {
        let elapsed = self.at.elapsed().as_secs_f64();
        self.stop.store(true, Ordering::Relaxed);
        let ticks = self.thread.join().unwrap_or(0);
        ticks as f64 / clock_ticks_per_second() / elapsed
    }
}

/// Ticks every core spent on anything but idling or waiting for I/O, from `/proc/stat`.
fn machine_busy_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("no cpu line in /proc/stat")?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    anyhow::ensure!(values.len() == 8, "unexpected /proc/stat format");
    let busy = values[0] + values[1] + values[2] + values[5] + values[6] + values[7];
    Ok(busy)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The machine a run happened on.
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_bytes: u64,
    pub kernel: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_bytes = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024);
        // "Linux version 6.8.0-1 (builder@host) (gcc …) #1 SMP …" → "Linux 6.8.0-1".
        let version = std::fs::read_to_string("/proc/version").unwrap_or_default();
        let words: Vec<&str> = version.split_whitespace().collect();
        let kernel = match words.as_slice() {
            [os, "version", release, ..] => format!("{os} {release}"),
            _ => "unknown kernel".into(),
        };
        Machine {
            cpu_model,
            cores: cores(),
            memory_bytes,
            kernel,
        }
    }
}

/// Cores this process may run on (what `nproc` prints).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
