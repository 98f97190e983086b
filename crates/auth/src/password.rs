//! Password rules and argon2id hashing.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 128;

/// Words every attacker tries first against a Satang install: the product's own name (in
/// Latin and Thai script). `satang123` is no better than `password1` here.
const PRODUCT_WORDS: &[&str] = &["satang", "สตางค์"];

/// The lowest zxcvbn score accepted: 3 ("safely unguessable", about 10⁸ guesses), so a name
/// or a known word with a few digits after it is refused.
const MIN_SCORE: u8 = 3;

/// Why a password was refused, in words shown to the person choosing it. `user_inputs` are the
/// person's own details (email, name); they, their parts (`somchai` of `somchai@farm.co.th`)
/// and the product's name count as words an attacker knows.
pub fn check_strength(password: &str, user_inputs: &[&str]) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(format!("must be at least {MIN_LENGTH} characters"));
    }
    if chars > MAX_LENGTH {
        return Err(format!("must be at most {MAX_LENGTH} characters"));
    }
    // zxcvbn knows common passwords, keyboard walks, dates and the words given to it.
    let words = known_words(user_inputs);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password, &words);
    if (estimate.score() as u8) < MIN_SCORE {
        return Err("is too easy to guess; use a longer phrase or mix unrelated words".into());
    }
    Ok(())
}

/// The product's words, each user input, and the parts of each input (split at anything not a
/// letter or digit) of three characters or more.
fn known_words(user_inputs: &[&str]) -> Vec<String> {
    let mut words: Vec<String> = PRODUCT_WORDS.iter().map(|w| (*w).to_owned()).collect();
    for input in user_inputs {
        let input = input.trim().to_lowercase();
        for part in input.split(|c: char| !c.is_alphanumeric()) {
            if part.chars().count() >= 3 && part != input && !words.iter().any(|w| w == part) {
                words.push(part.to_owned());
            }
        }
        if !input.is_empty() {
            words.push(input);
        }
    }
    words
}

/// argon2id with explicit parameters (the OWASP minimum by default: 19 MiB, 2 passes, 1 lane).
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, String> {
        let params =
            Params::new(memory_kib, iterations, parallelism, None).map_err(|e| e.to_string())?;
        Ok(PasswordHasher {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        })
    }

    pub fn params(&self) -> (u32, u32, u32) {
        let p = self.argon2.params();
        (p.m_cost(), p.t_cost(), p.p_cost())
    }

    pub fn hash(&self, password: &str) -> String {
        let salt = SaltString::generate(&mut OsRng);
        let hashed = || -> argon2::password_hash::Result<String> {
            let mut salt_bytes = [0u8; 64];
            let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes)?;
            let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
                Ok(hash_in_mapped_memory(
                    &self.argon2,
                    password.as_bytes(),
                    salt_bytes,
                    out,
                )?)
            })?;
            Ok(PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(self.argon2.params())?,
                salt: Some(salt.as_salt()),
                hash: Some(output),
            }
            .to_string())
        };
        // Hashing fails only for parameters `new` has already validated, or when the OS has no
        // memory to map.
        hashed().unwrap_or_default()
    }

    /// Verifies against a stored PHC string. The stored string carries its own parameters, so
    /// changing the defaults does not lock anybody out.
    pub fn verify(&self, password: &str, stored: &str) -> bool {
        let verified = || -> argon2::password_hash::Result<bool> {
            let parsed = PasswordHash::new(stored)?;
            let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
                return Ok(false);
            };
            let version = parsed
                .version
                .map(Version::try_from)
                .transpose()?
                .unwrap_or_default();
            let argon2 = Argon2::new(
                Algorithm::try_from(parsed.algorithm)?,
                version,
                Params::try_from(&parsed)?,
            );
            let mut salt_bytes = [0u8; 64];
            let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
            let computed = Output::init_with(expected.len(), |out| {
                Ok(hash_in_mapped_memory(
                    &argon2,
                    password.as_bytes(),
                    salt_bytes,
                    out,
                )?)
            })?;
            // `Output`'s comparison takes constant time.
            Ok(computed == expected)
        };
        verified().unwrap_or(false)
    }

    /// Spends the same time as a real verification, so an unknown email cannot be told apart
    /// from a wrong password by timing.
    pub fn verify_dummy(&self, password: &str) {
        let _ = self.hash(password);
    }
}

/// argon2 in memory mapped from the OS for this one hash and unmapped after it.
///
/// Why not the heap: the allocator keeps what is freed for reuse, so every login would leave
/// its 19 MiB of blocks (more with logins in parallel) resident in a server that then sits idle.
fn hash_in_mapped_memory(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let blocks = argon2.params().block_count();
    let mut map = memmap2::MmapMut::map_anon(blocks * Block::SIZE)
        .map_err(|_| argon2::Error::MemoryTooLittle)?;
    // Huge pages where the OS offers them: ten page faults for 19 MiB instead of thousands,
    // which otherwise cost a fifth of the logins per second.
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    // SAFETY: the mapping is page-aligned (a block needs 64 bytes), `blocks` blocks long and
    // zeroed, a block is an array of `u64` (any bits are a valid one), and the slice lives no
    // longer than the mapping.
    let memory =
        unsafe { std::slice::from_raw_parts_mut(map.as_mut_ptr().cast::<Block>(), blocks) };
    argon2.hash_password_into_with_memory(password, salt, out, memory)
}

impl Default for PasswordHasher {
    fn default() -> Self {
        PasswordHasher::new(19 * 1024, 2, 1).expect("valid default argon2 parameters")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_and_badly_sized_passwords_are_refused() {
        assert!(check_strength("short", &[]).is_err());
        assert!(check_strength("password", &[]).is_err());
        assert!(check_strength("12345678", &[]).is_err());
        assert!(check_strength("somchai@farm.co.th", &["somchai@farm.co.th"]).is_err());
        assert!(check_strength(&"a".repeat(129), &[]).is_err());
        assert!(check_strength("rice-paddy-Tractor-42", &[]).is_ok());
        assert!(check_strength("ข้าวหอมมะลิทุ่งกุลา", &[]).is_ok());
    }

    #[test]
    fn the_product_name_or_the_person_with_digits_is_weak() {
        for weak in ["satang123", "Satang2569", "satang@2026", "สตางค์1234"] {
            assert!(check_strength(weak, &[]).is_err(), "{weak} passed");
        }
        // Parts of the person's email and name count too, not only the whole text.
        let person = ["somchai@farm.co.th", "Somchai Jaidee"];
        for weak in ["Somchai1234", "jaidee2026!"] {
            assert!(check_strength(weak, &person).is_err(), "{weak} passed");
        }
        // The demo's password and the tests' one stay valid.
        for good in [
            "Satang-demo-2569",
            "rice-paddy-Tractor-42",
            "another-Rice-field-7",
        ] {
            assert_eq!(check_strength(good, &person), Ok(()), "{good}");
        }
    }

    #[test]
    fn hash_then_verify() {
        let hasher = PasswordHasher::new(1024, 1, 1).unwrap();
        let stored = hasher.hash("rice-paddy-Tractor-42");
        assert!(stored.starts_with("$argon2id$"));
        assert!(hasher.verify("rice-paddy-Tractor-42", &stored));
        assert!(!hasher.verify("rice-paddy-Tractor-43", &stored));
        assert!(!hasher.verify("x", "not a hash"));
    }

    /// Hashes made in mapped memory are the argon2 crate's own, both ways: stored hashes of
    /// earlier versions keep verifying, and ours verify anywhere.
    #[test]
    fn hashes_match_the_argon2_crates_own() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let ours = PasswordHasher::new(2048, 2, 1).unwrap();
        let theirs = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(2048, 2, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut OsRng);
        let stored = theirs
            .hash_password(b"mango-Sticky-rice-7", &salt)
            .unwrap()
            .to_string();
        assert!(ours.verify("mango-Sticky-rice-7", &stored));
        assert!(!ours.verify("mango-Sticky-rice-8", &stored));
        let mine = ours.hash("mango-Sticky-rice-7");
        let parsed = PasswordHash::new(&mine).unwrap();
        assert!(
            theirs
                .verify_password(b"mango-Sticky-rice-7", &parsed)
                .is_ok()
        );
        assert!(
            theirs
                .verify_password(b"mango-Sticky-rice-8", &parsed)
                .is_err()
        );
    }
}
