//! Where mail goes: an SMTP server (`SATANG_SMTP_URL`: `smtp://host:port` in plain text,
//! `smtp://…?tls=required` for STARTTLS, `smtps://user:pass@host` for TLS from the first byte),
//! or, when none is configured, `.eml` files in the data directory's `outbox/` folder.
//!
//! A message's file name and its `Message-ID` come from the delivery's id, so writing it again
//! (a retry after a crash) replaces the same file, and a resend over SMTP carries the same id.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use crate::compose::Composed;

/// How long one SMTP conversation may take before it counts as a (transient) failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A configuration that cannot work: reported at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("SATANG_SMTP_URL {url} is not a usable SMTP URL: {detail}")]
    SmtpUrl { url: String, detail: String },
    #[error("SATANG_SMTP_FROM {0:?} is not an address such as `Satang <billing@example.com>`")]
    From(String),
}

/// Why a message was not handed over.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth another try later: the server is down, busy, or answered 4xx.
    #[error("{0}")]
    Transient(String),
    /// Will not work however often it is tried: a 5xx answer, an unusable address.
    #[error("{0}")]
    Permanent(String),
}

/// An SMTP server, or the outbox folder.
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// The URL without its password, for logs.
        redacted: String,
    },
    Outbox {
        dir: PathBuf,
    },
}

/// A message ready to be built: who, what, when.
pub struct Outgoing<'a> {
    /// The delivery's id: the `Message-ID`'s left part and the outbox file's name.
    pub id: Uuid,
    pub from: &'a Mailbox,
    pub reply_to: Option<Mailbox>,
    pub to: Mailbox,
    pub composed: &'a Composed,
    pub date: DateTime<Utc>,
    /// A file to attach: name, MIME type, bytes.
    pub attachment: Option<(String, String, Vec<u8>)>,
}

/// `user:password@` taken out of a URL, so it can be logged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{tail}"),
        None => url.to_owned(),
    }
}

/// Parses the sender (`Satang <billing@localhost>`).
pub fn parse_from(from: &str) -> Result<Mailbox, ConfigError> {
    from.parse().map_err(|_| ConfigError::From(from.to_owned()))
}

impl Mailer {
    /// An SMTP transport (pooled). Must be called inside the Tokio runtime.
    pub fn smtp(url: &str) -> Result<Mailer, ConfigError> {
        let redacted = redact_url(url);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| ConfigError::SmtpUrl {
                url: redacted.clone(),
                detail: e.to_string(),
            })?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Mailer::Smtp {
            transport,
            redacted,
        })
    }

    pub fn outbox(dir: impl Into<PathBuf>) -> Mailer {
        Mailer::Outbox { dir: dir.into() }
    }

    /// Where mail goes, safe to log.
    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp { redacted, .. } => format!("SMTP {redacted}"),
            Mailer::Outbox { dir } => format!("outbox folder {}", dir.display()),
        }
    }

    /// Sends (or writes) the message.
    pub async fn send(&self, id: Uuid, message: &Message) -> Result<(), SendError> {
        match self {
            Mailer::Smtp { transport, .. } => match transport.send(message.clone()).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                Err(e) => Err(SendError::Transient(e.to_string())),
            },
            Mailer::Outbox { dir } => write_eml(dir, id, &message.formatted())
                .await
                .map_err(|e| SendError::Transient(format!("cannot write to the outbox: {e}"))),
        }
    }
}

/// Writes `<dir>/<id>.eml` whole or not at all (a temporary file renamed into place).
async fn write_eml(dir: &Path, id: Uuid, bytes: &[u8]) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let tmp = dir.join(format!(".{id}.eml.tmp"));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, dir.join(format!("{id}.eml"))).await
}

/// The `Message-ID` of a delivery: `<id@domain of the sender>`.
pub fn message_id(id: Uuid, from: &Mailbox) -> String {
    format!("<{id}@{}>", from.email.domain())
}

/// Builds the MIME message: text and HTML alternatives, and the attachment if any.
pub fn build_message(out: Outgoing<'_>) -> Result<Message, SendError> {
    let mut builder = Message::builder()
        .from(out.from.clone())
        .to(out.to)
        .subject(out.composed.subject.clone())
        .message_id(Some(message_id(out.id, out.from)))
        .date(SystemTime::from(out.date))
        .user_agent("Satang".into());
    if let Some(reply_to) = out.reply_to {
        builder = builder.reply_to(reply_to);
    }
    let body =
        MultiPart::alternative_plain_html(out.composed.text.clone(), out.composed.html.clone());
    let result = match out.attachment {
        None => builder.multipart(body),
        Some((name, mime, bytes)) => {
            let content_type = ContentType::parse(&mime)
                .map_err(|e| SendError::Permanent(format!("attachment type {mime}: {e}")))?;
            let file: SinglePart = Attachment::new(name).body(bytes, content_type);
            builder.multipart(MultiPart::mixed().multipart(body).singlepart(file))
        }
    };
    result.map_err(|e| SendError::Permanent(format!("the message cannot be built: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The pooled transport spawns its housekeeping on the runtime, as in `satang serve`.
    #[tokio::test]
    async fn passwords_never_reach_the_logs() {
        assert_eq!(
            redact_url("smtps://user:s3cret@mail.example.com:465"),
            "smtps://***@mail.example.com:465"
        );
        assert_eq!(
            redact_url("smtp://u:p@ss@host:587?tls=required"),
            "smtp://***@host:587?tls=required"
        );
        assert_eq!(redact_url("smtp://127.0.0.1:2525"), "smtp://127.0.0.1:2525");
        assert_eq!(redact_url("nonsense"), "(not a URL)");
        let mailer = Mailer::smtp("smtps://user:s3cret@mail.example.com").unwrap();
        assert!(!mailer.describe().contains("s3cret"));
        assert!(Mailer::smtp("http://example.com").is_err());
        assert!(parse_from("Satang <billing@localhost>").is_ok());
        assert!(parse_from("not an address").is_err());
    }

    #[tokio::test]
    async fn the_outbox_gets_one_file_per_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::outbox(dir.path().join("outbox"));
        let from = parse_from("สตางค์ <billing@satang.test>").unwrap();
        let composed = Composed {
            subject: "ใบแจ้งหนี้เลขที่ INV-2026-000001".into(),
            text: "เรียน ลูกค้า\n".into(),
            html: "<p>เรียน ลูกค้า</p>".into(),
        };
        let id = Uuid::now_v7();
        let message = build_message(Outgoing {
            id,
            from: &from,
            reply_to: None,
            to: "farm@example.com".parse().unwrap(),
            composed: &composed,
            date: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            attachment: Some(("a.pdf".into(), "application/pdf".into(), b"%PDF".to_vec())),
        })
        .unwrap();
        mailer.send(id, &message).await.unwrap();
        mailer.send(id, &message).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files, vec![format!("{id}.eml")]);
        let text = std::fs::read_to_string(dir.path().join("outbox").join(&files[0])).unwrap();
        assert!(text.contains(&format!("Message-ID: <{id}@satang.test>")));
        assert!(
            text.contains("Subject: =?utf-8?"),
            "Thai subject is encoded: {text}"
        );
        assert!(text.contains("Content-Type: application/pdf"));
        assert!(text.contains("Date: Fri, 15 Jan 2027"), "{text}");
    }
}
