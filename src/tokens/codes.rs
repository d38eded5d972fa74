//! Short one-time codes that go with a reset link, for when the link cannot be clicked (a mail
//! client that mangles links, the mail read on a phone while the browser is on a laptop).
//!
//! A code is 8 characters of Crockford's base32 (no I, L, O or U, so nothing to mistake for a
//! 1 or a 0), 40 bits from the CSPRNG (WEB-6), shown in two groups: `K7QF-M2XD`. What is typed
//! is forgiven: case, dashes and spaces are ignored, and O, I and L read as 0, 1 and 1. Only a
//! keyed digest is stored: a 40-bit code under plain SHA-256 could be found by brute force from
//! a copy of the store, so the digest is an HMAC under a key derived from the audit key, which
//! is kept outside the store. Nothing here touches the store.

use rand::CryptoRng;
use zeroize::Zeroizing;

pub use crate::keys::CodeKey;
use crate::secret::Secret;

/// Crockford's base32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a code (8 x 5 bits = 40 bits).
pub const CODE_CHARS: usize = 8;
/// Wrong codes allowed per link; the link is revoked at this many.
pub const MAX_TRIES: u32 = 5;
/// A new code, uniformly drawn (32 symbols: 5 bits of each random byte, no bias), as shown to
/// the user: `XXXX-XXXX`.
pub fn generate(rng: &mut impl CryptoRng) -> Secret {
    let mut bytes = Zeroizing::new([0_u8; CODE_CHARS]);
    rng.fill_bytes(bytes.as_mut());
    let mut code = String::with_capacity(CODE_CHARS + 1);
    for (i, byte) in bytes.iter().enumerate() {
        if i == CODE_CHARS / 2 {
            code.push('-');
        }
        code.push(char::from(ALPHABET[usize::from(byte & 0x1f)]));
    }
    Secret::new(code)
}

/// The canonical form of a typed code (8 alphabet characters, upper case), or `None` when it
/// cannot be one.
pub fn normalize(input: &str) -> Option<String> {
    let mut code = String::with_capacity(CODE_CHARS);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' | '\t' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || code.len() == CODE_CHARS {
            return None;
        }
        code.push(c);
    }
    (code.len() == CODE_CHARS).then_some(code)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    #[expect(clippy::disallowed_methods, reason = "tests draw from the OS RNG")]
    fn generated_codes_are_grouped_and_normalise_to_themselves() {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let code = generate(&mut rng);
            let shown = code.expose();
            assert_eq!(shown.len(), CODE_CHARS + 1);
            assert_eq!(&shown[4..5], "-");
            assert!(!shown.contains(['I', 'L', 'O', 'U']), "{shown}");
            assert_eq!(normalize(shown).unwrap(), shown.replace('-', ""));
        }
    }

    #[test]
    fn typing_is_forgiven_but_wrong_lengths_and_letters_are_not() {
        assert_eq!(normalize("k7qf-m2xd").unwrap(), "K7QFM2XD");
        assert_eq!(normalize(" K7QF M2XD ").unwrap(), "K7QFM2XD");
        assert_eq!(normalize("OIL0-0000").unwrap(), "01100000");
        assert_eq!(normalize("K7QF-M2X"), None);
        assert_eq!(normalize("K7QF-M2XDD"), None);
        assert_eq!(normalize("K7QF-M2XU"), None, "U is not in the alphabet");
        assert_eq!(normalize("K7QF-M2XÉ"), None);
    }
}
