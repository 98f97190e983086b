//! Ed25519 signing keys for access tokens, and the JWKS that publishes their public halves.
//!
//! Keys live in `jwt-keys.json` in the data directory (mode 0600), generated on first start, or
//! come from `SATANG_JWT_PRIVATE_KEY` (base64 PKCS#8). The newest key signs; older keys stay
//! published so tokens signed before a rotation keep verifying until they expire.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const KEY_FILE: &str = "jwt-keys.json";

#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
    pub(crate) encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey {{ kid: {:?} }}", self.kid)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid Ed25519 PKCS#8 key")]
    Invalid,
    #[error("key file {0}: {1}")]
    Io(String, std::io::Error),
    #[error("key file is damaged: {0}")]
    Parse(String),
}

impl SigningKey {
    pub fn generate() -> Result<SigningKey, KeyError> {
        let doc =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Invalid)?;
        SigningKey::from_pkcs8(doc.as_ref())
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<SigningKey, KeyError> {
        let pair =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|_| KeyError::Invalid)?;
        let public = pair.public_key().as_ref().to_vec();
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(&public)[..12]);
        Ok(SigningKey {
            kid,
            pkcs8: pkcs8.to_vec(),
            public,
            encoding: EncodingKey::from_ed_der(pkcs8),
        })
    }

    pub fn from_base64(text: &str) -> Result<SigningKey, KeyError> {
        let der = STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::Invalid)?;
        SigningKey::from_pkcs8(&der)
    }

    pub fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            alg: "EdDSA".into(),
            key_use: "sig".into(),
            kid: self.kid.clone(),
            x: URL_SAFE_NO_PAD.encode(&self.public),
        }
    }
}

/// The keys this process signs with; the last one is current.
#[derive(Debug, Clone)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    pkcs8: String,
}

impl SigningKeys {
    pub fn single(key: SigningKey) -> Self {
        SigningKeys { keys: vec![key] }
    }

    /// Reads the key file in `dir`, creating it with a fresh key when missing.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let stored: Vec<StoredKey> =
                    serde_json::from_str(&text).map_err(|e| KeyError::Parse(e.to_string()))?;
                let keys = stored
                    .iter()
                    .map(|k| SigningKey::from_base64(&k.pkcs8))
                    .collect::<Result<Vec<_>, _>>()?;
                if keys.is_empty() {
                    return Err(KeyError::Parse("no keys".into()));
                }
                Ok(SigningKeys { keys })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keys = SigningKeys::single(SigningKey::generate()?);
                keys.save(dir)?;
                Ok(keys)
            }
            Err(e) => Err(KeyError::Io(path.display().to_string(), e)),
        }
    }

    /// Adds a new current key and saves the file; earlier keys keep verifying.
    pub fn rotate(dir: &Path) -> Result<String, KeyError> {
        let mut keys = SigningKeys::load_or_create(dir)?;
        let key = SigningKey::generate()?;
        let kid = key.kid.clone();
        keys.keys.push(key);
        keys.save(dir)?;
        Ok(kid)
    }

    fn save(&self, dir: &Path) -> Result<(), KeyError> {
        let stored: Vec<StoredKey> = self
            .keys
            .iter()
            .map(|k| StoredKey {
                kid: k.kid.clone(),
                pkcs8: STANDARD.encode(&k.pkcs8),
            })
            .collect();
        let text =
            serde_json::to_string_pretty(&stored).map_err(|e| KeyError::Parse(e.to_string()))?;
        write_private_file(&dir.join(KEY_FILE), text.as_bytes())
            .map_err(|e| KeyError::Io(dir.join(KEY_FILE).display().to_string(), e))
    }

    pub fn current(&self) -> &SigningKey {
        // `keys` is never empty: every constructor puts at least one key in.
        &self.keys[self.keys.len() - 1]
    }

    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.keys.iter().rev().map(SigningKey::jwk).collect(),
        }
    }
}

/// Writes a file readable by its owner only.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let tmp = path.with_extension("tmp");
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(tmp, path)
}

/// A JSON Web Key Set (RFC 7517) of Ed25519 public keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub key_use: String,
    pub kid: String,
    pub x: String,
}

impl Jwk {
    pub fn decoding_key(&self) -> Option<DecodingKey> {
        (self.kty == "OKP" && self.crv == "Ed25519")
            .then(|| DecodingKey::from_ed_components(&self.x).ok())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_and_rotate() {
        let dir = std::env::temp_dir().join(format!("satang-keys-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = SigningKeys::load_or_create(&dir).unwrap();
        let again = SigningKeys::load_or_create(&dir).unwrap();
        assert_eq!(first.current().kid, again.current().kid);
        let new_kid = SigningKeys::rotate(&dir).unwrap();
        let rotated = SigningKeys::load_or_create(&dir).unwrap();
        assert_eq!(rotated.current().kid, new_kid);
        assert_eq!(rotated.jwks().keys.len(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
