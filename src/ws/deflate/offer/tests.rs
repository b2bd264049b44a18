use super::*;

fn neg(headers: &[&str], policy: &Policy) -> Option<String> {
    negotiate(headers.iter().copied(), policy).map(|a| a.response_value())
}

/// Context takeover allowed, full windows: the response only echoes.
const OPEN: Policy = Policy {
    server_no_context_takeover: false,
    client_no_context_takeover: false,
    server_max_window_bits: 15,
    client_max_window_bits: 15,
    level: 6,
    mem_level: 8,
};

#[test]
fn plain_offer_accepted() {
    assert_eq!(neg(&["permessage-deflate"], &OPEN).as_deref(), Some("permessage-deflate"));
    let a = negotiate(["permessage-deflate"], &OPEN).unwrap();
    assert_eq!((a.deflate_window(), a.inflate_window()), (15, 15));
    assert!(a.server_compresses());
    assert!(!a.server_no_context_takeover && !a.client_no_context_takeover);
}

#[test]
fn no_offer_or_other_extensions_declined() {
    assert_eq!(neg(&[], &OPEN), None);
    assert_eq!(neg(&["x-webkit-deflate-frame"], &OPEN), None);
    assert_eq!(neg(&["foo; bar=1, baz"], &OPEN), None);
    // another extension first: skipped, then permessage-deflate accepted
    assert_eq!(neg(&["foo; a=\"x,y\", permessage-deflate"], &OPEN).as_deref(), Some("permessage-deflate"));
}

#[test]
fn shared_policy_answers_no_context_takeover_both_ways() {
    assert_eq!(
        neg(&["permessage-deflate; client_max_window_bits"], &Policy::SHARED).as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
}

#[test]
fn server_no_context_takeover_echoed() {
    let a = negotiate(["permessage-deflate; server_no_context_takeover"], &OPEN).unwrap();
    assert!(a.server_no_context_takeover);
    assert_eq!(a.response_value(), "permessage-deflate; server_no_context_takeover");
}

#[test]
fn client_no_context_takeover_echoed() {
    let a = negotiate(["permessage-deflate; client_no_context_takeover"], &OPEN).unwrap();
    assert!(a.client_no_context_takeover);
    assert_eq!(a.response_value(), "permessage-deflate; client_no_context_takeover");
}

#[test]
fn server_max_window_bits_limits_the_server() {
    let a = negotiate(["permessage-deflate; server_max_window_bits=10"], &OPEN).unwrap();
    assert_eq!(a.deflate_window(), 10);
    assert_eq!(a.response_value(), "permessage-deflate; server_max_window_bits=10");
    // the policy's smaller window wins, and is named even when not asked
    let small = Policy { server_max_window_bits: 9, ..OPEN };
    assert_eq!(neg(&["permessage-deflate; server_max_window_bits=12"], &small).as_deref(), Some("permessage-deflate; server_max_window_bits=9"));
    assert_eq!(neg(&["permessage-deflate"], &small).as_deref(), Some("permessage-deflate; server_max_window_bits=9"));
    // quoted value whose content is a token
    assert_eq!(neg(&["permessage-deflate; server_max_window_bits=\"11\""], &OPEN).as_deref(), Some("permessage-deflate; server_max_window_bits=11"));
}

#[test]
fn server_window_8_accepted_but_never_compressed() {
    let a = negotiate(["permessage-deflate; server_max_window_bits=8"], &OPEN).unwrap();
    assert!(!a.server_compresses());
    assert_eq!(a.response_value(), "permessage-deflate; server_max_window_bits=8");
}

#[test]
fn client_max_window_bits_without_value() {
    // offered without a value: named only when the policy wants less than 15
    assert_eq!(neg(&["permessage-deflate; client_max_window_bits"], &OPEN).as_deref(), Some("permessage-deflate"));
    let small = Policy { client_max_window_bits: 10, ..OPEN };
    let a = negotiate(["permessage-deflate; client_max_window_bits"], &small).unwrap();
    assert_eq!(a.inflate_window(), 10);
    assert_eq!(a.response_value(), "permessage-deflate; client_max_window_bits=10");
}

#[test]
fn client_max_window_bits_with_value() {
    let a = negotiate(["permessage-deflate; client_max_window_bits=12"], &OPEN).unwrap();
    assert_eq!(a.inflate_window(), 12);
    assert_eq!(a.response_value(), "permessage-deflate; client_max_window_bits=12");
    let small = Policy { client_max_window_bits: 10, ..OPEN };
    assert_eq!(neg(&["permessage-deflate; client_max_window_bits=12"], &small).as_deref(), Some("permessage-deflate; client_max_window_bits=10"));
    // a client window of 8 is inflated with 9
    let a = negotiate(["permessage-deflate; client_max_window_bits=8"], &OPEN).unwrap();
    assert_eq!((a.client_max_window_bits, a.inflate_window()), (8, 9));
}

#[test]
fn client_window_not_offered_is_never_answered() {
    // RFC 7692 §7.1.2.2: without the client's parameter the server must not name it
    let small = Policy { client_max_window_bits: 10, ..OPEN };
    let a = negotiate(["permessage-deflate"], &small).unwrap();
    assert_eq!(a.response_value(), "permessage-deflate");
    assert_eq!(a.inflate_window(), 15);
}

#[test]
fn malformed_offers_declined() {
    for bad in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=1a",
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate; server_max_window_bits=\"10",
        "permessage-deflate; server_max_window_bits=\"1 0\"",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=999",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"\"",
        "permessage-deflate; mystery",
        "permessage-deflate; Server_No_Context_Takeover",
        "permessage-deflate; =1",
        "permessage-deflate;",
        "permessage-deflate; server@bits=1",
    ] {
        assert_eq!(neg(&[bad], &OPEN), None, "{bad}");
    }
}

#[test]
fn duplicated_parameters_declined() {
    for bad in [
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
    ] {
        assert_eq!(neg(&[bad], &OPEN), None, "{bad}");
    }
}

#[test]
fn first_acceptable_offer_wins() {
    // a malformed first offer falls through to the next, in one header
    assert_eq!(
        neg(&["permessage-deflate; server_max_window_bits=20, permessage-deflate; client_max_window_bits=11, permessage-deflate"], &OPEN).as_deref(),
        Some("permessage-deflate; client_max_window_bits=11")
    );
    // and across headers, in order
    assert_eq!(
        neg(&["permessage-deflate; bogus", "permessage-deflate; server_no_context_takeover", "permessage-deflate"], &OPEN).as_deref(),
        Some("permessage-deflate; server_no_context_takeover")
    );
    // the first good one wins even if a later one would be "better"
    assert_eq!(neg(&["permessage-deflate; server_max_window_bits=9, permessage-deflate"], &OPEN).as_deref(), Some("permessage-deflate; server_max_window_bits=9"));
}

#[test]
fn whitespace_and_case_of_the_name() {
    assert_eq!(
        neg(&["  Permessage-Deflate ;\tclient_max_window_bits = 9 ;server_no_context_takeover  "], &OPEN).as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=9")
    );
}

#[test]
fn invalid_policy_declines() {
    let bad = Policy { server_max_window_bits: 8, ..OPEN };
    assert!(!bad.is_valid());
    assert_eq!(neg(&["permessage-deflate"], &bad), None);
    assert!(!Policy { client_max_window_bits: 16, ..OPEN }.is_valid());
    assert!(Policy::SHARED.is_valid());
}

#[test]
fn split_respects_quotes() {
    let v: Vec<&str> = split_outside_quotes("a; b=\"x;y\\\"z\"; c", b';').collect();
    assert_eq!(v, ["a", " b=\"x;y\\\"z\"", " c"]);
}

#[test]
fn fuzz_driver_on_samples() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/deflate_offer");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("the committed corpus") {
        super::fuzz_check(&std::fs::read(e.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n > 0);
    for s in [&b""[..], b"permessage-deflate; server_max_window_bits=8", b"\0\0,,;;", b"permessage-deflate; client_max_window_bits=\"1\x005\""] {
        super::fuzz_check(s);
    }
}
