//! The server's secret key and what is made with it: secrets at rest (AES-256-GCM with a random
//! nonce per message), keys derived from it for message authentication (HMAC-SHA256), and the
//! signature of webhook deliveries.

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    /// HMAC-SHA256 of a fixed label under the key: the root of derived keys, so the key itself
    /// is used for one algorithm only.
    derive_root: [u8; 32],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot decrypt: wrong key or damaged data")]
pub struct DecryptError;

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> Self {
        SecretBox {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
            derive_root: hmac_sha256(key, b"satang derived keys v1"),
        }
    }

    /// A key for `purpose` (such as `console-csrf`), the same in every process that has this
    /// encryption key and across restarts; different purposes get unrelated keys.
    pub fn mac_key(&self, purpose: &str) -> MacKey {
        MacKey(hmac_sha256(&self.derive_root, purpose.as_bytes()))
    }

    /// `nonce || ciphertext+tag`.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        // Encryption with a valid key and a fresh nonce cannot fail for in-memory buffers.
        out.extend(self.cipher.encrypt(&nonce, plaintext).unwrap_or_default());
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, DecryptError> {
        if sealed.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| DecryptError)
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// A key that authenticates messages with HMAC-SHA256 (see [`SecretBox::mac_key`]).
#[derive(Clone)]
pub struct MacKey([u8; 32]);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(..)")
    }
}

impl MacKey {
    pub fn tag(&self, message: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.0, message)
    }

    /// Whether `tag` is the tag of `message`, compared in constant time.
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_depend_on_the_key_and_the_purpose() {
        let a = SecretBox::new(&[7u8; 32]);
        let tag = a.mac_key("console-csrf").tag(b"login:1");
        assert!(a.mac_key("console-csrf").verify(b"login:1", &tag));
        assert!(!a.mac_key("console-csrf").verify(b"login:2", &tag));
        assert!(!a.mac_key("other").verify(b"login:1", &tag));
        assert!(
            !SecretBox::new(&[8u8; 32])
                .mac_key("console-csrf")
                .verify(b"login:1", &tag)
        );
        assert!(!a.mac_key("console-csrf").verify(b"login:1", &tag[..31]));
    }

    #[test]
    fn round_trip_and_tamper() {
        let sb = SecretBox::new(&[7u8; 32]);
        let sealed = sb.seal(b"tok_4242");
        assert_eq!(sb.open(&sealed).unwrap(), b"tok_4242");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(sb.open(&bad).is_err());
        assert!(SecretBox::new(&[8u8; 32]).open(&sealed).is_err());
    }
}

/// The `Satang-Signature` header of a webhook delivery: `t=<unix seconds>,v1=<hex>` where the
/// hex is HMAC-SHA256 over `"<t>.<body>"` with the endpoint's secret. Receivers recompute it and
/// reject old timestamps, so a captured delivery cannot be replayed later.
pub fn webhook_signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod signature_tests {
    #[test]
    fn signature_matches_a_known_vector() {
        // HMAC-SHA256(key = "whsec_test", "1700000000.{}") as Python's hmac module computes it.
        assert_eq!(
            super::webhook_signature(b"whsec_test", 1_700_000_000, b"{}"),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }
}
