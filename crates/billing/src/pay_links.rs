//! Payment links (SPEC §2.13): `/pay/{token}` shows one invoice's amount due and takes its
//! payment without signing in. The token is the invoice id and an expiry, authenticated with
//! HMAC-SHA256 under a key derived from the instance's secret key for this purpose only: it
//! opens that one invoice's pay page and payment intents until it expires, and nothing else.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use satang_auth::crypto::MacKey;
use satang_store::Tx;
use satang_store::audit::{self, Actor, Change};
use satang_store::invoices::Invoice;

use crate::{Error, Result};

/// How long a link works: a month, as long as an invoice usually waits.
pub const LINK_DAYS: i64 = 30;

/// The purpose the link key is derived for (`SecretBox::mac_key`).
pub const KEY_PURPOSE: &str = "payment-link";

const PAYLOAD_LEN: usize = 16 + 8;
const TAG_LEN: usize = 16;

/// The token for `invoice_id`, valid until `expires_at`.
pub fn sign(key: &MacKey, invoice_id: Uuid, expires_at: DateTime<Utc>) -> String {
    let mut bytes = Vec::with_capacity(PAYLOAD_LEN + TAG_LEN);
    bytes.extend_from_slice(invoice_id.as_bytes());
    bytes.extend_from_slice(&expires_at.timestamp().to_be_bytes());
    let tag = key.tag(&bytes);
    bytes.extend_from_slice(&tag[..TAG_LEN]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Why a token does not open a pay page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this payment link is not valid")]
    Invalid,
    #[error("this payment link has expired; ask the seller for a new one")]
    Expired,
}

/// The invoice a token opens at `now`, with its expiry.
pub fn verify(
    key: &MacKey,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(Uuid, DateTime<Utc>), LinkError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .map_err(|_| LinkError::Invalid)?;
    if bytes.len() != PAYLOAD_LEN + TAG_LEN {
        return Err(LinkError::Invalid);
    }
    let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
    let full = key.tag(payload);
    // Constant-time comparison of the truncated tag.
    let diff = full[..TAG_LEN]
        .iter()
        .zip(tag)
        .fold(0u8, |d, (a, b)| d | (a ^ b));
    if diff != 0 {
        return Err(LinkError::Invalid);
    }
    let invoice_id = Uuid::from_slice(&payload[..16]).map_err(|_| LinkError::Invalid)?;
    let mut secs = [0u8; 8];
    secs.copy_from_slice(&payload[16..]);
    let expires_at = Utc
        .timestamp_opt(i64::from_be_bytes(secs), 0)
        .single()
        .ok_or(LinkError::Invalid)?;
    if expires_at <= now {
        return Err(LinkError::Expired);
    }
    Ok((invoice_id, expires_at))
}

/// A new link to `inv`'s pay page under `public_url`, audited.
pub async fn create(
    tx: &mut Tx,
    key: &MacKey,
    public_url: &str,
    actor: &Actor,
    inv: &Invoice,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>)> {
    if !inv.status.accepts_payment() || inv.amount_due <= 0 {
        return Err(Error::InvalidState(format!(
            "a payment link is for an open invoice with money due; this one is {}",
            inv.status
        )));
    }
    let expires_at = now + Duration::days(LINK_DAYS);
    let url = url_for(key, public_url, inv.id, expires_at);
    audit::record(
        tx,
        actor,
        Change {
            action: "invoice.payment_link_created",
            entity_type: "invoice",
            entity_id: inv.id.to_string(),
            before: None,
            after: Some(json!({"expires_at": expires_at})),
        },
        now,
    )
    .await?;
    Ok((url, expires_at))
}

/// The pay page's URL for `invoice_id` (the invoice e-mail's link as well).
pub fn url_for(
    key: &MacKey,
    public_url: &str,
    invoice_id: Uuid,
    expires_at: DateTime<Utc>,
) -> String {
    format!(
        "{}/pay/{}",
        public_url.trim_end_matches('/'),
        sign(key, invoice_id, expires_at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use satang_auth::crypto::SecretBox;

    #[test]
    fn a_token_opens_its_invoice_until_it_expires_and_nothing_forged() {
        let key = SecretBox::new(&[3u8; 32]).mac_key(KEY_PURPOSE);
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let id = Uuid::now_v7();
        let token = sign(&key, id, now + Duration::days(30));
        assert_eq!(verify(&key, &token, now).unwrap().0, id);
        assert_eq!(
            verify(&key, &token, now + Duration::days(30)),
            Err(LinkError::Expired)
        );
        let other = SecretBox::new(&[4u8; 32]).mac_key(KEY_PURPOSE);
        assert_eq!(verify(&other, &token, now), Err(LinkError::Invalid));
        let csrf = SecretBox::new(&[3u8; 32]).mac_key("console-csrf");
        assert_eq!(verify(&csrf, &token, now), Err(LinkError::Invalid));
        // Every single flipped character is refused.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 1;
            let forged = URL_SAFE_NO_PAD.encode(&bytes);
            assert!(verify(&key, &forged, now).is_err(), "byte {i}");
            bytes[i] ^= 1;
        }
        assert_eq!(verify(&key, "", now), Err(LinkError::Invalid));
        assert_eq!(verify(&key, "not base64!", now), Err(LinkError::Invalid));
    }
}
