//! The API tokens: name → scopes, expiry, hash, revocation, folded from `token_created` and
//! `token_revoked`. A name holds its latest token: one revoked or expired may be replaced by a
//! new token of the same name, and its history stays in the log.

use crate::events::{Envelope, Event, Scope, TokenHash, Ts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: Ts,
    /// Who created it (`cli`, `api:<token name>`).
    pub created_by: String,
    pub expires_at: Option<Ts>,
    pub hash: TokenHash,
    pub revoked_at: Option<Ts>,
    pub revoked_by: Option<String>,
}

impl Token {
    /// Not revoked and not expired at `now` (an expiry is the first instant it no longer opens).
    pub fn live(&self, now: Ts) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    pub by_name: BTreeMap<String, Token>,
}

impl Tokens {
    pub fn apply(&mut self, env: &Envelope) {
        match &env.payload {
            Event::TokenCreated {
                name,
                scopes,
                expires_at,
                hash,
            } => {
                self.by_name.insert(
                    name.clone(),
                    Token {
                        name: name.clone(),
                        scopes: scopes.clone(),
                        created_at: env.recorded_at,
                        created_by: env.actor.clone(),
                        expires_at: *expires_at,
                        hash: *hash,
                        revoked_at: None,
                        revoked_by: None,
                    },
                );
            }
            Event::TokenRevoked { name } => {
                if let Some(t) = self.by_name.get_mut(name) {
                    if t.revoked_at.is_none() {
                        t.revoked_at = Some(env.recorded_at);
                        t.revoked_by = Some(env.actor.clone());
                    }
                }
            }
            _ => {}
        }
    }

    /// The tokens that open something at `now`.
    pub fn live(&self, now: Ts) -> impl Iterator<Item = &Token> {
        self.by_name.values().filter(move |t| t.live(now))
    }

    pub fn any_live(&self, now: Ts) -> bool {
        self.live(now).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(position: u64, secs: i64, payload: Event) -> Envelope {
        Envelope {
            position,
            recorded_at: Ts::from_unix_nanos(secs * 1_000_000_000),
            actor: "cli".into(),
            correlation: None,
            payload,
        }
    }

    fn created(name: &str, expires: Option<i64>, byte: u8) -> Event {
        Event::TokenCreated {
            name: name.into(),
            scopes: vec![Scope::Read],
            expires_at: expires.map(|s| Ts::from_unix_nanos(s * 1_000_000_000)),
            hash: TokenHash([byte; 32]),
        }
    }

    #[test]
    fn created_revoked_expired_and_replaced() {
        let mut tokens = Tokens::default();
        let at = |s: i64| Ts::from_unix_nanos(s * 1_000_000_000);
        let log = [
            env(1, 10, created("ci", None, 1)),
            env(2, 11, created("short", Some(100), 2)),
            env(3, 12, Event::TokenRevoked { name: "ci".into() }),
            env(4, 13, Event::TokenRevoked { name: "ci".into() }),
            env(
                5,
                14,
                Event::TokenRevoked {
                    name: "nobody".into(),
                },
            ),
        ];
        for e in &log {
            tokens.apply(e);
        }
        let ci = &tokens.by_name["ci"];
        assert_eq!(ci.revoked_at, Some(at(12)), "the first revocation counts");
        assert!(!ci.live(at(12)));
        assert!(tokens.by_name["short"].live(at(99)));
        assert!(
            !tokens.by_name["short"].live(at(100)),
            "expiry is exclusive"
        );
        assert!(tokens.any_live(at(99)));
        assert!(!tokens.any_live(at(100)));
        tokens.apply(&env(6, 15, created("ci", None, 3)));
        assert_eq!(tokens.by_name["ci"].hash, TokenHash([3; 32]));
        assert!(tokens.by_name["ci"].live(at(1000)));
        assert_eq!(tokens.live(at(1000)).count(), 1);
        assert_eq!(tokens.by_name.len(), 2);
    }
}
