//! What `token_created` records of an API token: its scopes and the SHA-256 of its secret (the
//! secret itself is never recorded).

use serde::{Deserialize, Serialize};

use super::hex;

/// What an API token may do (schema v5). Persisted in `token_created`: new scopes go at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every GET and `/metrics`.
    Read,
    /// Run, cancel, pause, resume, verify; start and stop the scheduler.
    Operate,
    /// Create, change and delete jobs; forget backups.
    Manage,
    /// Restore a backup; download a backup's file contents.
    Restore,
    /// Tokens; and every other scope.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Read,
        Scope::Operate,
        Scope::Manage,
        Scope::Restore,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operate => "operate",
            Scope::Manage => "manage",
            Scope::Restore => "restore",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// SHA-256 of a token's secret (schema v5): 32 raw bytes in the log, lowercase hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHash({})", hex(&self.0))
    }
}

impl Serialize for TokenHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex(&self.0))
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        if !d.is_human_readable() {
            return <[u8; 32]>::deserialize(d).map(TokenHash);
        }
        let text = String::deserialize(d)?;
        let bad = || D::Error::custom(format!("token hash {text:?} is not 64 hex digits"));
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(TokenHash(out))
    }
}
