//! Passwords: argon2id hashing (PHC strings) and verification, and the policy for passwords that
//! users choose themselves (PW-1, PW-5). Randomness (the salt) is passed in.

use argon2::password_hash::PasswordVerifier;
use argon2::{Algorithm, Argon2, Params, Version};
use rand::CryptoRng;

/// Longest password a user may choose, in characters (never truncated).
pub use crate::config::PASSWORD_MAX_LENGTH as MAX_LENGTH;
/// Shortest password a user may choose, in characters (defined by `config`, which checks
/// `password.length` against it).
pub use crate::config::PASSWORD_MIN_LENGTH as MIN_LENGTH;
use crate::config::PasswordConfig;
use crate::user::User;

/// The alphabet of generated passwords: letters and digits without look-alikes
/// (no `0 O o 1 l I`), 56 characters, so 5.8 bits each; 16 characters carry 93 bits.
pub const ALPHABET: &[u8; 56] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A new random password of `length` characters, each drawn uniformly from [`ALPHABET`]
/// (rejection sampling inside `random_range`, so no modulo bias).
pub fn generate(length: usize, rng: &mut impl CryptoRng) -> crate::secret::Secret {
    use rand::RngExt as _;
    let mut out = zeroize::Zeroizing::new(String::with_capacity(length));
    for _ in 0..length {
        out.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    crate::secret::Secret::new(out.to_string())
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash password: {0}")]
pub struct HashError(pub String);

/// An argon2id hasher that keeps its working memory (19 MiB by default) between hashes, so a
/// bulk run does not allocate and fault in that much memory for every user.
pub struct Hasher {
    argon2: Argon2<'static>,
    params: Params,
    memory: Vec<argon2::Block>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    /// A hasher with the configured parameters.
    pub fn new(config: &PasswordConfig) -> Result<Self, HashError> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|e| HashError(e.to_string()))?;
        let memory = vec![argon2::Block::default(); params.block_count()];
        Ok(Hasher {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
            params,
            memory,
        })
    }

    /// Hash a password with a fresh 16-byte salt; returns the PHC string.
    pub fn hash(&mut self, password: &str, rng: &mut impl CryptoRng) -> Result<String, HashError> {
        use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
        let error = |e: &dyn std::fmt::Display| HashError(e.to_string());
        let mut salt = [0_u8; 16];
        rng.fill_bytes(&mut salt);
        let mut out = [0_u8; 32];
        self.argon2
            .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut self.memory)
            .map_err(|e| error(&e))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| error(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| error(&e))?),
            hash: Some(Output::new(&out).map_err(|e| error(&e))?),
        };
        Ok(phc.to_string())
    }
}

/// Hash a password with argon2id and a fresh 16-byte salt; returns the PHC string.
pub fn hash(
    password: &str,
    config: &PasswordConfig,
    rng: &mut impl CryptoRng,
) -> Result<String, HashError> {
    Hasher::new(config)?.hash(password, rng)
}

/// Whether `password` matches a stored PHC string (parameters are read from the string).
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// Why a chosen password is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Fewer than [`MIN_LENGTH`] characters.
    #[error("the new password is too short: use at least {MIN_LENGTH} characters")]
    TooShort,
    /// More than [`MAX_LENGTH`] characters.
    #[error("the new password is too long: use at most {MAX_LENGTH} characters")]
    TooLong,
    /// A common password, a word, a pattern, or the user's own name.
    #[error(
        "the new password is too easy to guess (a common password, word, pattern or name); choose another"
    )]
    Common,
    /// The same as the username or email.
    #[error("the new password must not be the username or email")]
    SameAsIdentity,
}

/// Check a password a user chose: length 12..=128 characters, not the user's own username or
/// email, not easy to guess. No composition rules (NIST SP 800-63B).
pub fn check_policy(password: &str, user: &User) -> Result<(), PolicyError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(PolicyError::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(PolicyError::TooLong);
    }
    let same = |other: &str| {
        password.eq_ignore_ascii_case(other) || password.to_lowercase() == other.to_lowercase()
    };
    if same(&user.username) || user.email.as_deref().is_some_and(same) {
        return Err(PolicyError::SameAsIdentity);
    }
    let words = context_words(user);
    let context: Vec<&str> = words.iter().map(String::as_str).collect();
    if is_common(password, &context) {
        return Err(PolicyError::Common);
    }
    Ok(())
}

/// The user's own words (parts of username, email and name), which make a password guessable.
fn context_words(user: &User) -> Vec<String> {
    let texts = [
        Some(user.username.as_str()),
        user.email.as_deref(),
        user.display_name.as_deref(),
    ];
    texts
        .into_iter()
        .flatten()
        .flat_map(|text| text.split(|c: char| !c.is_alphanumeric()))
        .filter(|word| word.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect()
}

/// Whether a password is easy to guess, by zxcvbn's estimate (score 0 or 1: under about a
/// million guesses). zxcvbn ships inside the binary with 30,000 common passwords from public
/// leak corpora and lists of English words and names, and also spots keyboard patterns,
/// sequences, repetitions, dates, and the user's own names (`context`).
pub fn is_common(password: &str, context: &[&str]) -> bool {
    u8::from(zxcvbn::zxcvbn(password, context).score()) < 2
}

#[cfg(test)]
#[expect(
    clippy::disallowed_methods,
    reason = "tests draw real salts and passwords from the OS RNG"
)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: 1,
            username: "alice.andersen".into(),
            email: Some("alice.andersen@example.com".into()),
            display_name: None,
            active: true,
            has_password: false,
            must_change_password: false,
            temp_password_expires_at: None,
            password_changed_at: None,
            created_at: 0,
            updated_at: 0,
            locale: None,
        }
    }

    #[test]
    fn hash_is_argon2id_with_configured_params_and_verifies() {
        let phc = hash(
            "correct horse battery",
            &PasswordConfig::default(),
            &mut rand::rng(),
        )
        .expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batterY", &phc));
        let other = hash(
            "correct horse battery",
            &PasswordConfig::default(),
            &mut rand::rng(),
        )
        .expect("hash");
        assert_ne!(phc, other, "fresh salt each time");
    }

    #[test]
    fn generated_passwords_use_the_alphabet_uniformly() {
        let password = generate(16, &mut rand::rng());
        assert_eq!(password.expose().chars().count(), 16);
        assert!(password.expose().bytes().all(|b| ALPHABET.contains(&b)));
        assert!(
            !ALPHABET.iter().any(|b| b"0Oo1lI".contains(b)),
            "no look-alikes"
        );
        // 56,000 draws: every symbol appears, none far from the expected 1,000.
        let mut counts = [0_u32; 56];
        let sample = generate(56_000, &mut rand::rng());
        for b in sample.expose().bytes() {
            let index = ALPHABET.iter().position(|a| *a == b).expect("in alphabet");
            counts[index] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        let bits = 16.0 * f64::from(u8::try_from(ALPHABET.len()).expect("small")).log2();
        assert!(bits >= 90.0, "{bits} bits");
    }

    #[test]
    fn policy_length_bounds_count_characters() {
        assert_eq!(
            check_policy("elevenchars", &user()),
            Err(PolicyError::TooShort)
        );
        assert_eq!(
            check_policy("ëxqzåbvwéfjh", &user()),
            Ok(()),
            "12 characters, 15 bytes"
        );
        assert_eq!(
            check_policy(&"x7".repeat(65), &user()),
            Err(PolicyError::TooLong)
        );
        assert_eq!(
            check_policy(&varied(128), &user()),
            Ok(()),
            "128 characters are fine"
        );
    }

    fn varied(n: usize) -> String {
        let alphabet: Vec<char> = "abcdefghijkmnopqrstuvwxyz23456789".chars().collect();
        let mut state = 12_345_u64;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                alphabet[usize::try_from(state >> 59).expect("small") % alphabet.len()]
            })
            .collect()
    }

    #[test]
    fn policy_rejects_identity_and_common_passwords() {
        assert_eq!(
            check_policy("Alice.Andersen", &user()),
            Err(PolicyError::SameAsIdentity)
        );
        assert_eq!(
            check_policy("ALICE.ANDERSEN@example.com", &user()),
            Err(PolicyError::SameAsIdentity)
        );
        for common in [
            "123456789012",
            "qwertyuiopasdfgh",
            "1qaz2wsx3edc4rfv",
            "passwordpassword",
            "Password1234",
        ] {
            assert_eq!(
                check_policy(common, &user()),
                Err(PolicyError::Common),
                "{common}"
            );
        }
        assert_eq!(
            context_words(&user()),
            ["alice", "andersen", "alice", "andersen", "example", "com"]
        );
        assert!(!is_common("violet-harbour-tractor-41", &[]));
        assert_eq!(check_policy("violet-harbour-tractor-41", &user()), Ok(()));
    }
}
