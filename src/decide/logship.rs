//! The log's shipments off-site (`log_shipped`): a segment names its remote and a range of the
//! log that exists, under the one key that range has.

use crate::domain::Rejection;
use crate::events::Event;
use crate::projections::State;

pub(super) fn shipped(
    state: &State,
    remote: &str,
    first: u64,
    last: u64,
    key: &str,
) -> Result<Vec<Event>, Rejection> {
    if remote.is_empty() {
        return Err(Rejection::invalid("remote", "a shipment names its remote"));
    }
    if first == 0 || first > last || last > state.position {
        return Err(Rejection::invalid(
            "last",
            format!(
                "positions {first}..={last} are not a range of the log (it ends at {})",
                state.position
            ),
        ));
    }
    // The segment's name is its range: recover orders and checks segments by it.
    if key != format!("log/{first:020}-{last:020}.seg") {
        return Err(Rejection::invalid(
            "key",
            format!("{key:?} is not the segment key of positions {first}..={last}"),
        ));
    }
    Ok(vec![Event::LogShipped {
        remote: remote.into(),
        first,
        last,
        key: key.into(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shipment_is_a_range_of_the_log_under_its_key() {
        let state = State {
            position: 10,
            ..State::default()
        };
        let key = |a: u64, b: u64| format!("log/{a:020}-{b:020}.seg");
        assert_eq!(
            shipped(&state, "nas", 3, 10, &key(3, 10)).unwrap(),
            vec![Event::LogShipped {
                remote: "nas".into(),
                first: 3,
                last: 10,
                key: key(3, 10)
            }]
        );
        for (remote, first, last, k) in [
            ("", 1, 2, key(1, 2)),
            ("nas", 0, 2, key(0, 2)),
            ("nas", 3, 2, key(3, 2)),
            ("nas", 3, 11, key(3, 11)),
            ("nas", 3, 4, key(3, 5)),
        ] {
            assert!(
                shipped(&state, remote, first, last, &k).is_err(),
                "{first}..={last} {k}"
            );
        }
    }
}
