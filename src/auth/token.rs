//! The token secret: `bkpd_` + 43 base62 digits of 256 random bits + 6 base62 digits of a CRC32
//! of what precedes them. The prefix and the checksum let a leaked token be found by a scanner
//! (`grep -E 'bkpd_[0-9A-Za-z]{49}'`, the checksum tells a real one from a look-alike) and let a
//! mistyped one be refused without touching the token table. Only SHA-256 of the whole secret is
//! kept; a presented secret is hashed and compared in constant time.

use crate::events::TokenHash;
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "bkpd_";
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^43 > 2^256: 43 digits hold any 32 bytes.
const BODY_LEN: usize = 43;
/// 62^6 > 2^32: 6 digits hold any CRC32.
const CHECK_LEN: usize = 6;
/// Every secret has exactly this many characters.
pub const SECRET_LEN: usize = PREFIX.len() + BODY_LEN + CHECK_LEN;

/// A token's secret. Its `Debug` shows only the prefix, so a stray `{:?}` cannot log it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({PREFIX}…)")
    }
}

impl Secret {
    /// The text to show once, to whoever created the token.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

/// Why a presented text is not a token secret; none of them quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("a token starts with {PREFIX:?}")]
    Prefix,
    #[error("a token has {SECRET_LEN} characters, not {0}")]
    Length(usize),
    #[error("a token holds only the digits and letters A-Z, a-z after its prefix")]
    Alphabet,
    #[error("the token's checksum does not match (a character was mistyped or cut)")]
    Checksum,
}

/// A new secret from the operating system's random source.
pub fn generate() -> std::io::Result<Secret> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(std::io::Error::other)?;
    Ok(encode(&bytes))
}

/// The secret of 32 random bytes (pure: `generate` brings the randomness).
pub fn encode(bytes: &[u8; 32]) -> Secret {
    let mut text = String::with_capacity(SECRET_LEN);
    text.push_str(PREFIX);
    text.push_str(&base62(bytes, BODY_LEN));
    let check = crc32fast::hash(text.as_bytes());
    text.push_str(&base62(&check.to_be_bytes(), CHECK_LEN));
    Secret(text)
}

/// A presented text, checked for the shape and the checksum of a secret.
pub fn parse(text: &str) -> Result<Secret, FormatError> {
    let Some(rest) = text.strip_prefix(PREFIX) else {
        return Err(FormatError::Prefix);
    };
    if text.len() != SECRET_LEN {
        return Err(FormatError::Length(text.chars().count()));
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(FormatError::Alphabet);
    }
    let (signed, check) = text.split_at(PREFIX.len() + BODY_LEN);
    let want = base62(&crc32fast::hash(signed.as_bytes()).to_be_bytes(), CHECK_LEN);
    if check != want {
        return Err(FormatError::Checksum);
    }
    Ok(Secret(text.to_string()))
}

/// Equal digests, in time that does not depend on where they differ.
pub fn same(a: &TokenHash, b: &TokenHash) -> bool {
    // `subtle`'s comparison is built to stay branch-free through the optimiser, which a
    // hand-rolled fold only hopes for.
    use subtle::ConstantTimeEq;
    a.0.ct_eq(&b.0).into()
}

/// A big-endian number in exactly `width` base62 digits, most significant first.
fn base62(bytes: &[u8], width: usize) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(width);
    for _ in 0..width {
        // Long division of the whole number by 62; the remainder is the next digit.
        let mut rem = 0u32;
        for byte in number.iter_mut() {
            let acc = (rem << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            rem = acc % 62;
        }
        digits.push(ALPHABET[rem as usize]);
    }
    debug_assert!(number.iter().all(|&b| b == 0), "width too small");
    digits.reverse();
    String::from_utf8(digits).expect("the alphabet is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_their_shape_and_parse_back() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        for s in [&a, &b, &encode(&[0; 32]), &encode(&[255; 32])] {
            let text = s.expose();
            assert_eq!(text.len(), SECRET_LEN);
            assert!(text.starts_with("bkpd_"));
            assert_eq!(parse(text).as_ref(), Ok(s));
            assert_eq!(parse(text).unwrap().hash(), s.hash());
        }
        assert_ne!(a.hash(), b.hash());
        assert_eq!(format!("{a:?}"), "Secret(bkpd_…)");
    }

    #[test]
    fn base62_is_a_fixed_width_number() {
        assert_eq!(base62(&[0, 0], 3), "000");
        assert_eq!(base62(&[0, 61], 3), "00z");
        assert_eq!(base62(&[0, 62], 3), "010");
        assert_eq!(base62(&[1, 0], 3), "048"); // 256 = 4*62 + 8
        let max = base62(&[255; 32], BODY_LEN);
        assert_eq!(max.len(), BODY_LEN);
        assert!(!max.starts_with('0'), "2^256-1 needs all 43 digits: {max}");
    }

    #[test]
    fn every_single_character_change_is_refused() {
        let s = encode(&[7; 32]);
        let text = s.expose();
        for i in PREFIX.len()..text.len() {
            for c in ['0', 'a', 'Z'] {
                let mut changed: Vec<char> = text.chars().collect();
                if changed[i] == c {
                    continue;
                }
                changed[i] = c;
                let changed: String = changed.into_iter().collect();
                assert_eq!(parse(&changed), Err(FormatError::Checksum), "{i} {c}");
            }
        }
        assert_eq!(parse("bkpd_"), Err(FormatError::Length(5)));
        assert_eq!(parse(&text[..SECRET_LEN - 1]), Err(FormatError::Length(53)));
        assert_eq!(
            parse(&text.replace("bkpd_", "ghp__")),
            Err(FormatError::Prefix)
        );
        assert_eq!(parse(""), Err(FormatError::Prefix));
        let dashed = format!("{}-{}", &text[..10], &text[11..]);
        assert_eq!(parse(&dashed), Err(FormatError::Alphabet));
        let wide = format!("{}é{}", &text[..10], &text[12..]);
        assert_eq!(parse(&wide), Err(FormatError::Alphabet));
    }

    #[test]
    fn digests_compare_equal_only_when_equal() {
        let h = encode(&[1; 32]).hash();
        assert!(same(&h, &h));
        for i in 0..32 {
            let mut other = h;
            other.0[i] ^= 1;
            assert!(!same(&h, &other), "{i}");
        }
    }
}
