//! A `satang serve` process under test: the release binary beside this one, on a free loopback
//! port, with its own data directory and (for PostgreSQL) its own database.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::StatusCode;
use tokio::process::{Child, Command};

use crate::load::{Target, send_once};

/// argon2id parameters the server hashes with: Satang's defaults, passed explicitly so the
/// report states what actually ran.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_ITERATIONS: u32 = 2;
pub const ARGON2_PARALLELISM: u32 = 1;

pub const ADMIN_EMAIL: &str = "bench@satang.test";
pub const ADMIN_PASSWORD: &str = "Bench-paddy-Harvest-2024!";

/// Where the `satang` binary is: beside this executable (both are built into the same
/// `target/release`), unless given.
pub fn satang_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("satang"),
    };
    anyhow::ensure!(
        path.is_file(),
        "no satang binary at {}: build it first with `cargo build --release -p satang` \
         (or pass --satang <path>)",
        path.display()
    );
    Ok(path)
}

pub struct RunningServer {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl RunningServer {
    /// Starts `satang serve` on a fresh data directory (and `database_url`, PostgreSQL), runs
    /// `measure` on it and stops it, whatever `measure` returned.
    pub async fn measure_fresh<T>(
        binary: &Path,
        database_url: Option<&str>,
        measure: impl AsyncFnOnce(&RunningServer) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        RunningServer::measure_fresh_with(binary, database_url, &[], measure).await
    }

    /// [`RunningServer::measure_fresh`] with these settings (`SATANG_…`) added.
    pub async fn measure_fresh_with<T>(
        binary: &Path,
        database_url: Option<&str>,
        settings: &[(&str, String)],
        measure: impl AsyncFnOnce(&RunningServer) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let dir = tempfile::Builder::new().prefix("satang-bench-").tempdir()?;
        let server = RunningServer::start_with(binary, dir.path(), database_url, settings).await?;
        println!("serving on {} (pid {})", server.addr, server.pid);
        let measured = measure(&server).await;
        let stopped = server.stop().await;
        let measured = measured?;
        stopped?;
        Ok(measured)
    }

    /// Starts `satang serve` and waits until `/readyz` answers 200.
    pub async fn start(
        binary: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
    ) -> anyhow::Result<RunningServer> {
        RunningServer::start_with(binary, data_dir, database_url, &[]).await
    }

    /// [`RunningServer::start`] with these settings added.
    pub async fn start_with(
        binary: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
        settings: &[(&str, String)],
    ) -> anyhow::Result<RunningServer> {
        let addr = free_port()?;
        let log = data_dir.join("server.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            // A failed run must not leave a server behind.
            .kill_on_drop(true);
        // Only our settings: none of the caller's SATANG_* variables leak into the measurement.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("SATANG_") || key == "DATABASE_URL" {
                command.env_remove(key.as_ref());
            }
        }
        command
            .env("SATANG_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("SATANG_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("SATANG_API_RATE_LIMIT", "0")
            // Every load-generator connection comes from 127.0.0.1.
            .env("SATANG_MAX_CONNECTIONS_PER_IP", "0")
            .env("SATANG_LOG", "warn")
            .env("SATANG_ARGON2_MEMORY_KIB", ARGON2_MEMORY_KIB.to_string())
            .env("SATANG_ARGON2_ITERATIONS", ARGON2_ITERATIONS.to_string())
            .env("SATANG_ARGON2_PARALLELISM", ARGON2_PARALLELISM.to_string());
        if let Some(url) = database_url {
            command.env("DATABASE_URL", url);
        }
        for (key, value) in settings {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let mut server = RunningServer {
            child,
            pid,
            addr,
            log,
        };
        server.wait_ready(Duration::from_secs(120)).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        let readyz = Target::get("/readyz");
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "the server exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                );
            }
            if let Ok((StatusCode::OK, _)) = send_once(self.addr, &readyz).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "the server was not ready within {within:?}:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then wait for the graceful shutdown (SIGKILL after 30 s).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let pid = libc::pid_t::try_from(self.pid)?;
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                anyhow::ensure!(
                    status.success(),
                    "the server exited with {status} on SIGTERM:\n{}",
                    self.log_tail()
                );
            }
            Err(_) => {
                self.child.kill().await?;
                anyhow::bail!("the server did not stop within 30 s of SIGTERM");
            }
        }
        Ok(())
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}
