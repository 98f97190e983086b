//! Where the password-strength check runs.
//!
//! zxcvbn builds its ranked dictionaries (about 100,000 words in hash maps, several MB of heap)
//! on first use and keeps them for the life of the process. A server checks a password only when
//! one is chosen (first administrator, sign-up, invitation, reset), so it runs each check in a
//! short-lived child process of its own executable and the memory leaves with the child. The
//! password travels on the child's stdin, never on its command line.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::password::check_strength;

/// The hidden subcommand of the `satang` binary that answers one check.
pub const CHILD_COMMAND: &str = "password-strength";

/// A child that has not answered by then is killed and the check runs in this process.
const CHILD_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub enum StrengthCheck {
    /// In this process (tests, the CLI): zxcvbn's dictionaries stay once built.
    InProcess,
    /// In `<executable> password-strength`, one short-lived process per check.
    Child(PathBuf),
}

#[derive(Serialize, Deserialize)]
struct Question {
    password: String,
    user_inputs: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    /// Why the password was refused; none when it is strong enough.
    refused: Option<String>,
}

impl StrengthCheck {
    /// The same answer as [`check_strength`]. A child that cannot be started or does not answer
    /// is logged and the check runs here instead: a password is never let through unchecked.
    pub async fn check(&self, password: &str, user_inputs: &[&str]) -> Result<(), String> {
        if let StrengthCheck::Child(exe) = self {
            match ask_child(exe, password, user_inputs).await {
                Ok(answer) => return answer.refused.map_or(Ok(()), Err),
                Err(e) => tracing::warn!(
                    error = %e,
                    "password-strength child failed; checking in the server process"
                ),
            }
        }
        let password = password.to_owned();
        let inputs: Vec<String> = user_inputs.iter().map(|s| (*s).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            check_strength(&password, &inputs)
        })
        .await
        .unwrap_or_else(|e| Err(format!("could not be checked ({e})")))
    }
}

async fn ask_child(exe: &PathBuf, password: &str, user_inputs: &[&str]) -> std::io::Result<Answer> {
    let question = serde_json::to_vec(&Question {
        password: password.to_owned(),
        user_inputs: user_inputs.iter().map(|s| (*s).to_owned()).collect(),
    })?;
    let mut child = tokio::process::Command::new(exe)
        .arg(CHILD_COMMAND)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let exchange = async {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(&question).await?;
        drop(stdin);
        let mut out = Vec::new();
        child
            .stdout
            .take()
            .expect("piped stdout")
            .read_to_end(&mut out)
            .await?;
        let status = child.wait().await?;
        if !status.success() {
            return Err(std::io::Error::other(format!("child exited with {status}")));
        }
        serde_json::from_slice::<Answer>(&out).map_err(std::io::Error::other)
    };
    tokio::time::timeout(CHILD_TIMEOUT, exchange)
        .await
        .map_err(|_| std::io::Error::other("child did not answer in time"))?
}

/// The child's side: one question on `input`, one answer on `output`.
pub fn answer_child(
    input: impl std::io::Read,
    output: impl std::io::Write,
) -> Result<(), serde_json::Error> {
    let question: Question = serde_json::from_reader(input)?;
    let inputs: Vec<&str> = question.user_inputs.iter().map(String::as_str).collect();
    let refused = check_strength(&question.password, &inputs).err();
    serde_json::to_writer(output, &Answer { refused })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_answers_as_the_check_does() {
        for (password, inputs) in [
            ("satang123", vec!["somchai@farm.co.th"]),
            ("somchai2024!", vec!["somchai@farm.co.th", "Somchai"]),
            ("correct horse battery staple", vec![]),
            ("short", vec![]),
        ] {
            let question = serde_json::to_vec(&Question {
                password: password.to_owned(),
                user_inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
            })
            .unwrap();
            let mut out = Vec::new();
            answer_child(question.as_slice(), &mut out).unwrap();
            let answer: Answer = serde_json::from_slice(&out).unwrap();
            assert_eq!(
                answer.refused.map_or(Ok(()), Err),
                check_strength(password, &inputs),
                "{password}"
            );
        }
    }

    #[tokio::test]
    async fn a_child_that_cannot_start_falls_back_to_this_process() {
        let check = StrengthCheck::Child(PathBuf::from("/nonexistent/satang"));
        assert!(check.check("password1", &[]).await.is_err());
        assert_eq!(check.check("violet kettle orbit meadow", &[]).await, Ok(()));
    }
}
