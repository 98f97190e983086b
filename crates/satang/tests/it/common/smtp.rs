//! A real SMTP server for the e-mail tests: `aiosmtpd` (Python) from the venv `.ci/run` creates
//! at `$HOME/.cache/satang-aiosmtpd`, delivering into a Maildir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tool_missing;

const DEADLINE: Duration = Duration::from_secs(60);

/// An `aiosmtpd` server writing to a Maildir, stopped when dropped.
pub struct SmtpServer {
    child: Child,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    /// The files of the messages delivered so far, in name order.
    pub fn message_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.maildir.path().join("box/new"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Waits (up to a minute) until at least `n` messages have arrived; returns their files.
    pub async fn wait_for_message_files(&self, n: usize) -> Vec<PathBuf> {
        let start = Instant::now();
        loop {
            let files = self.message_files();
            if files.len() >= n {
                return files;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "waited for {n} messages, got {}",
                files.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The venv's Python with aiosmtpd, or `None` (after SKIPPED) when missing and not required.
pub fn aiosmtpd_python() -> Option<PathBuf> {
    let home = std::env::var("HOME").unwrap_or_default();
    let python = Path::new(&home).join(".cache/satang-aiosmtpd/bin/python");
    let works = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(python);
    }
    tool_missing(
        &format!(
            "aiosmtpd (python3 -m venv {0} && {0}/bin/pip install aiosmtpd)",
            Path::new(&home).join(".cache/satang-aiosmtpd").display()
        ),
        "SMTP checks need aiosmtpd in $HOME/.cache/satang-aiosmtpd (see .ci/run)",
    );
    None
}

/// Starts aiosmtpd on 127.0.0.1:`port` and waits until it listens.
pub async fn start_smtp(python: &Path, port: u16) -> SmtpServer {
    let maildir = tempfile::tempdir().unwrap();
    let child = Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir.path().join("box"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aiosmtpd starts");
    let server = SmtpServer { child, maildir };
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < DEADLINE,
            "aiosmtpd did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
}
