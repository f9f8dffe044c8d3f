//! The API tokens' rules: a name is unique among live tokens (a revoked or expired one's name may
//! be given again), a token has at least one scope and no scope twice, an expiry lies in the
//! future; only a token that is not yet revoked can be revoked. The secret never reaches here:
//! the shell hashes it, and this records the hash.

use crate::domain::Rejection;
use crate::events::{Event, Scope, TokenHash, Ts};
use crate::projections::State;

/// The longest token name; names appear in every event's actor (`api:<name>`).
pub const MAX_NAME_LEN: usize = 64;

pub(super) fn create(
    state: &State,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<Ts>,
    hash: TokenHash,
    now: Ts,
) -> Result<Vec<Event>, Rejection> {
    check_name(name)?;
    if scopes.is_empty() {
        return Err(Rejection::invalid(
            "scopes",
            "a token needs at least one scope: read, operate, manage, restore or admin",
        ));
    }
    for (i, s) in scopes.iter().enumerate() {
        if scopes[..i].contains(s) {
            return Err(Rejection::invalid(
                "scopes",
                format!("scope {:?} is given twice", s.as_str()),
            ));
        }
    }
    if let Some(at) = expires_at {
        if at <= now {
            return Err(Rejection::invalid(
                "expires",
                format!("the expiry {at} is not in the future"),
            ));
        }
    }
    if state.tokens.by_name.get(name).is_some_and(|t| t.live(now)) {
        return Err(Rejection::conflict(
            "name",
            format!("a live token is named {name:?}; revoke it first or choose another name"),
        ));
    }
    Ok(vec![Event::TokenCreated {
        name: name.to_string(),
        scopes: scopes.to_vec(),
        expires_at,
        hash,
    }])
}

pub(super) fn revoke(state: &State, name: &str) -> Result<Vec<Event>, Rejection> {
    match state.tokens.by_name.get(name) {
        Some(t) if t.revoked_at.is_none() => Ok(vec![Event::TokenRevoked {
            name: name.to_string(),
        }]),
        Some(_) => Err(Rejection::not_found(
            "name",
            format!("token {name:?} is already revoked"),
        )),
        None => Err(Rejection::not_found("name", format!("no token {name:?}"))),
    }
}

/// 1 to 64 of `A-Z a-z 0-9 . _ -`: a name is part of an actor, a URL path and a log line.
fn check_name(name: &str) -> Result<(), Rejection> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(fine) {
        return Err(Rejection::invalid(
            "name",
            format!(
                "a token name is 1 to {MAX_NAME_LEN} of A-Z, a-z, 0-9, '.', '_', '-', not {name:?}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::{decide, Command};
    use crate::domain::job::RejectionCode;
    use crate::events::{Event, Scope, TokenHash};

    fn create(name: &str, scopes: &[Scope], expires_in: Option<i64>, now: i64) -> Command {
        Command::CreateToken {
            name: name.into(),
            scopes: scopes.to_vec(),
            expires_at: expires_in.map(|s| t(now + s)),
            hash: TokenHash([9; 32]),
        }
    }

    fn created(name: &str, expires_at: Option<i64>) -> Event {
        Event::TokenCreated {
            name: name.into(),
            scopes: vec![Scope::Read],
            expires_at: expires_at.map(t),
            hash: TokenHash([1; 32]),
        }
    }

    #[test]
    fn create_records_the_hash_and_checks_each_rule() {
        let state = given(vec![created("ci", None), created("short", Some(50))]);
        let ok = decide(
            &state,
            &create("deploy", &[Scope::Operate, Scope::Read], Some(60), 10),
            t(10),
        );
        assert_eq!(
            ok.unwrap(),
            vec![Event::TokenCreated {
                name: "deploy".into(),
                scopes: vec![Scope::Operate, Scope::Read],
                expires_at: Some(t(70)),
                hash: TokenHash([9; 32]),
            }]
        );
        let cases = [
            (
                create("ci", &[Scope::Read], None, 10),
                RejectionCode::Conflict,
            ),
            (
                create("short", &[Scope::Read], None, 10),
                RejectionCode::Conflict,
            ),
            (create("x", &[], None, 10), RejectionCode::Validation),
            (
                create("x", &[Scope::Read, Scope::Read], None, 10),
                RejectionCode::Validation,
            ),
            (
                create("x", &[Scope::Read], Some(0), 10),
                RejectionCode::Validation,
            ),
            (
                create("x", &[Scope::Read], Some(-5), 10),
                RejectionCode::Validation,
            ),
            (
                create("", &[Scope::Read], None, 10),
                RejectionCode::Validation,
            ),
            (
                create("a b", &[Scope::Read], None, 10),
                RejectionCode::Validation,
            ),
            (
                create("a/b", &[Scope::Read], None, 10),
                RejectionCode::Validation,
            ),
            (
                create(&"n".repeat(65), &[Scope::Read], None, 10),
                RejectionCode::Validation,
            ),
        ];
        for (command, want) in cases {
            assert_eq!(code(decide(&state, &command, t(10))), want, "{command:?}");
        }
        // Once "short" expired its name is free again.
        assert!(decide(&state, &create("short", &[Scope::Read], None, 50), t(50)).is_ok());
        assert!(decide(
            &state,
            &create(&"n".repeat(64), &[Scope::Admin], None, 10),
            t(10)
        )
        .is_ok());
    }

    #[test]
    fn revoke_once_and_then_the_name_is_free() {
        let state = given(vec![created("ci", None)]);
        let revoke = Command::RevokeToken { name: "ci".into() };
        assert_eq!(
            decide(&state, &revoke, t(5)).unwrap(),
            vec![Event::TokenRevoked { name: "ci".into() }]
        );
        let state = given(vec![
            created("ci", None),
            Event::TokenRevoked { name: "ci".into() },
        ]);
        assert_eq!(code(decide(&state, &revoke, t(5))), RejectionCode::NotFound);
        let nobody = Command::RevokeToken {
            name: "nobody".into(),
        };
        assert_eq!(code(decide(&state, &nobody, t(5))), RejectionCode::NotFound);
        assert!(decide(&state, &create("ci", &[Scope::Read], None, 5), t(5)).is_ok());
    }
}
