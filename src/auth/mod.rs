//! Access control of the API: token secrets (`token`: generation, format, checksum, SHA-256,
//! constant-time comparison), scopes and which route needs which (`scope`), and the one pure
//! verdict (`authorize`) the API's middleware asks for every request. No I/O here except the
//! random source `token::generate` reads.
//!
//! The rules (README, "Access control"):
//! - While no live token exists (none created, or all revoked or expired) the API needs none,
//!   but answers only clients on loopback; `serve` refuses a non-loopback bind without tokens.
//! - Once a live token exists every route needs one, on loopback too, except `/metrics` when the
//!   configuration opens it to anonymous scrapers.
//! - A presented `Authorization` is always checked: a bad, revoked or expired token is a 401
//!   even where none is needed, so a client learns at once that its token no longer works.

pub mod scope;
pub mod token;

pub use scope::{grants, required, Scope};
pub use token::{FormatError, Secret};

use crate::events::Ts;
use crate::projections::Tokens;

/// The actor of requests made while no token is needed.
pub const ANONYMOUS: &str = "api:anonymous";

/// Who a request acts as, once allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No token needed (none is live and the client is on loopback, or anonymous `/metrics`).
    Anonymous,
    /// The token of this name.
    Token(String),
}

impl Caller {
    /// The actor of the events the request causes.
    pub fn actor(&self) -> String {
        match self {
            Caller::Anonymous => ANONYMOUS.into(),
            Caller::Token(name) => format!("api:{name}"),
        }
    }
}

/// Why a request is refused: `Unauthenticated` is a 401, `Forbidden` a 403. The messages never
/// quote the presented secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    Unauthenticated(String),
    Forbidden { token: String, needed: Scope },
}

/// The longest expiry a token may be given; beyond it, no expiry (`null`) says what is meant.
pub const MAX_EXPIRY_SECS: u64 = 100 * 365 * 86_400;

/// When a token created at `now` with `expires` (`"90d"`, `"12h"`; `None` or `"never"`/`"forever"`
/// = no expiry) stops working.
pub fn expiry(expires: Option<&str>, now: Ts) -> Result<Option<Ts>, String> {
    let Some(text) = expires else {
        return Ok(None);
    };
    if text.trim() == "never" {
        return Ok(None);
    }
    let Some(secs) = crate::domain::duration::parse(text)? else {
        return Ok(None);
    };
    if secs > MAX_EXPIRY_SECS {
        return Err(format!(
            "{text:?} is more than 100 years; leave the expiry out for a token that never expires"
        ));
    }
    let at = now.get() + time::Duration::seconds(secs as i64);
    Ok(Some(Ts::from(at)))
}

/// What one request brings: its `Authorization` header, whether it came from loopback, and
/// whether its route is open to anonymous clients (`/metrics` by configuration).
pub struct Request<'a> {
    pub authorization: Option<&'a str>,
    pub loopback: bool,
    pub anonymous_allowed: bool,
    /// `None`: no route matches (the router answers 404/405 to an authenticated client).
    pub needed: Option<Scope>,
}

/// The verdict on one request, at `now`.
pub fn authorize(tokens: &Tokens, req: &Request, now: Ts) -> Result<Caller, Denied> {
    let unauthenticated = |why: &str| Err(Denied::Unauthenticated(why.to_string()));
    let Some(header) = req.authorization else {
        if req.anonymous_allowed {
            return Ok(Caller::Anonymous);
        }
        if !tokens.any_live(now) {
            if req.loopback {
                return Ok(Caller::Anonymous);
            }
            return unauthenticated(
                "no API token exists yet, so the API answers only on loopback; create one with \
                 `backupd token create NAME --scope ...` and send it as `Authorization: Bearer`",
            );
        }
        return unauthenticated("this route needs a token: send `Authorization: Bearer bkpd_...`");
    };
    // The scheme's name is case-insensitive (RFC 9110, 11.1).
    let presented = match header.trim().split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest,
        _ => return unauthenticated("the Authorization header must be `Bearer <token>`"),
    };
    let secret = match token::parse(presented.trim()) {
        Ok(secret) => secret,
        Err(e) => return Err(Denied::Unauthenticated(format!("not a backupd token: {e}"))),
    };
    let hash = secret.hash();
    // Every token is compared (no early exit), so the time taken says nothing about which.
    let mut found = None;
    for t in tokens.by_name.values() {
        if token::same(&t.hash, &hash) {
            found = Some(t);
        }
    }
    let Some(t) = found else {
        return unauthenticated("unknown token");
    };
    if t.revoked_at.is_some() {
        return Err(Denied::Unauthenticated(format!(
            "token {:?} was revoked",
            t.name
        )));
    }
    if !t.live(now) {
        return Err(Denied::Unauthenticated(format!(
            "token {:?} expired",
            t.name
        )));
    }
    match req.needed {
        Some(needed) if !req.anonymous_allowed && !grants(&t.scopes, needed) => {
            Err(Denied::Forbidden {
                token: t.name.clone(),
                needed,
            })
        }
        _ => Ok(Caller::Token(t.name.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Envelope, Event};

    fn at(s: i64) -> Ts {
        Ts::from_unix_nanos(s * 1_000_000_000)
    }

    fn tokens(list: &[(&str, &Secret, &[Scope], Option<i64>)]) -> Tokens {
        let mut t = Tokens::default();
        for (i, (name, secret, scopes, expires)) in list.iter().enumerate() {
            t.apply(&Envelope {
                position: i as u64 + 1,
                recorded_at: at(0),
                actor: "cli".into(),
                correlation: None,
                payload: Event::TokenCreated {
                    name: name.to_string(),
                    scopes: scopes.to_vec(),
                    expires_at: expires.map(at),
                    hash: secret.hash(),
                },
            });
        }
        t
    }

    fn req(header: Option<&str>, loopback: bool, needed: Scope) -> Request<'_> {
        Request {
            authorization: header,
            loopback,
            anonymous_allowed: false,
            needed: Some(needed),
        }
    }

    #[test]
    fn without_live_tokens_only_loopback_is_served() {
        let none = Tokens::default();
        assert_eq!(
            authorize(&none, &req(None, true, Scope::Admin), at(1)),
            Ok(Caller::Anonymous)
        );
        assert!(matches!(
            authorize(&none, &req(None, false, Scope::Read), at(1)),
            Err(Denied::Unauthenticated(m)) if m.contains("only on loopback")
        ));
        // A token that expired leaves none live: loopback is open again, not the world.
        let s = token::encode(&[1; 32]);
        let expired = tokens(&[("old", &s, &[Scope::Read], Some(10))]);
        assert_eq!(
            authorize(&expired, &req(None, true, Scope::Read), at(10)),
            Ok(Caller::Anonymous)
        );
        // ... but the expired token itself is refused, not ignored.
        let bearer = format!("Bearer {}", s.expose());
        assert_eq!(
            authorize(&expired, &req(Some(&bearer), true, Scope::Read), at(10)),
            Err(Denied::Unauthenticated("token \"old\" expired".into()))
        );
    }

    #[test]
    fn with_tokens_each_is_checked_for_its_scope() {
        let (r, a) = (token::encode(&[1; 32]), token::encode(&[2; 32]));
        let t = tokens(&[
            ("reader", &r, &[Scope::Read], None),
            ("boss", &a, &[Scope::Admin], Some(100)),
        ]);
        let (rb, ab) = (
            format!("Bearer {}", r.expose()),
            format!("Bearer {}", a.expose()),
        );
        let ok = |name: &str| Ok(Caller::Token(name.into()));
        assert_eq!(
            authorize(&t, &req(Some(&rb), false, Scope::Read), at(1)),
            ok("reader")
        );
        let lower = format!("bearer {}", r.expose());
        assert_eq!(
            authorize(&t, &req(Some(&lower), false, Scope::Read), at(1)),
            ok("reader")
        );
        assert_eq!(
            authorize(&t, &req(Some(&rb), true, Scope::Operate), at(1)),
            Err(Denied::Forbidden {
                token: "reader".into(),
                needed: Scope::Operate
            })
        );
        for needed in Scope::ALL {
            assert_eq!(
                authorize(&t, &req(Some(&ab), false, needed), at(99)),
                ok("boss")
            );
        }
        assert!(matches!(
            authorize(&t, &req(Some(&ab), false, Scope::Read), at(100)),
            Err(Denied::Unauthenticated(_))
        ));
        // On loopback too, once tokens exist.
        assert!(matches!(
            authorize(&t, &req(None, true, Scope::Read), at(1)),
            Err(Denied::Unauthenticated(m)) if m.contains("needs a token")
        ));
        let unknown = format!("Bearer {}", token::encode(&[3; 32]).expose());
        let mut garbled = rb.clone();
        garbled.pop();
        garbled.push(if rb.ends_with('x') { 'y' } else { 'x' });
        for bad in [
            unknown.as_str(),
            garbled.as_str(),
            "Basic dXNlcjpwYXNz",
            "Bearer ",
            "Bearer",
            r.expose(),
        ] {
            let verdict = authorize(&t, &req(Some(bad), true, Scope::Read), at(1));
            match verdict {
                // Never an echo of what was presented.
                Err(Denied::Unauthenticated(m)) => {
                    assert!(
                        !m.contains(&r.expose()[5..20]) && !m.contains(&unknown[12..30]),
                        "{m}"
                    )
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        // Anonymous /metrics: no header passes; a header is still checked.
        let metrics = |h| Request {
            authorization: h,
            loopback: false,
            anonymous_allowed: true,
            needed: Some(Scope::Read),
        };
        assert_eq!(authorize(&t, &metrics(None), at(1)), Ok(Caller::Anonymous));
        assert!(authorize(&t, &metrics(Some(&unknown)), at(1)).is_err());
    }

    #[test]
    fn expiries_are_durations_from_now() {
        assert_eq!(expiry(None, at(10)), Ok(None));
        assert_eq!(expiry(Some("never"), at(10)), Ok(None));
        assert_eq!(expiry(Some("forever"), at(10)), Ok(None));
        assert_eq!(expiry(Some("90s"), at(10)), Ok(Some(at(100))));
        assert_eq!(expiry(Some("90d"), at(0)), Ok(Some(at(90 * 86_400))));
        for bad in ["0d", "3x", "", "-1d", "5300w"] {
            assert!(expiry(Some(bad), at(0)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_revoked_token_is_refused_by_name() {
        let s = token::encode(&[5; 32]);
        let mut t = tokens(&[("ci", &s, &[Scope::Read], None)]);
        t.apply(&Envelope {
            position: 2,
            recorded_at: at(5),
            actor: "cli".into(),
            correlation: None,
            payload: Event::TokenRevoked { name: "ci".into() },
        });
        let bearer = format!("Bearer {}", s.expose());
        assert_eq!(
            authorize(&t, &req(Some(&bearer), true, Scope::Read), at(6)),
            Err(Denied::Unauthenticated("token \"ci\" was revoked".into()))
        );
        assert_eq!(Caller::Token("ci".into()).actor(), "api:ci");
        assert_eq!(Caller::Anonymous.actor(), "api:anonymous");
    }
}
