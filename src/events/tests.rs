use super::*;

fn envelope(position: u64, payload: Event) -> Envelope {
    Envelope {
        position,
        recorded_at: Ts::from_unix_nanos(1_780_000_000_123_456_789),
        actor: "api:admin".into(),
        correlation: Some("run-1".into()),
        payload,
    }
}

#[test]
fn examples_cover_every_variant_in_tag_order() {
    let names: Vec<_> = examples().iter().map(Event::name).collect();
    assert_eq!(names, Event::NAMES);
    for (index, event) in examples().into_iter().enumerate() {
        let bytes = encode(&envelope(1, event)).unwrap();
        // byte 0 is the version; the header follows; the tag is the payload's first byte
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.payload.name(), Event::NAMES[index]);
    }
}

#[test]
fn every_example_round_trips() {
    for (i, event) in examples().into_iter().enumerate() {
        let env = envelope(i as u64 + 1, event);
        assert_eq!(decode(&encode(&env).unwrap()).unwrap(), env);
    }
}

#[test]
fn failure_kinds_keep_their_tags_and_mirror_error_kinds() {
    use crate::error::ErrorKind;
    let frozen = [
        (FailureKind::Transient, "transient"),
        (FailureKind::Integrity, "integrity"),
        (FailureKind::Refused, "refused"),
        (FailureKind::Config, "config"),
        (FailureKind::Internal, "internal"),
    ];
    for (tag, (kind, name)) in frozen.into_iter().enumerate() {
        let bytes = bincode::serde::encode_to_vec(kind, bincode::config::standard()).unwrap();
        assert_eq!(bytes, [tag as u8], "{name}: the bincode tag is persisted");
        assert_eq!(serde_json::to_value(kind).unwrap(), name);
        assert_eq!(FailureKind::from(ErrorKind::from(kind)), kind);
        assert_eq!(ErrorKind::from(kind).as_str(), name);
    }
    assert_eq!(
        ErrorKind::ALL.len(),
        frozen.len(),
        "every kind can be recorded"
    );
}

#[test]
fn json_view_names_the_type() {
    let j = envelope(3, Event::JobPaused { job_id: "x".into() }).to_json();
    assert_eq!(j["type"], "job_paused");
    assert_eq!(j["data"]["job_id"], "x");
    assert_eq!(j["recorded_at"], "2026-05-28T20:26:40.123456789Z");
}
