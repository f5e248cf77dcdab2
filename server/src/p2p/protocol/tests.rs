use proptest::prelude::*;

use std::collections::HashSet;

use super::*;

const NOW: u64 = 1_700_000_000_000;
const GITHUB_KEY: &str = "github:GET:/repos/octo/hello:accept=:scope=anonymous";

fn local(key: &str, body: &str, stored_at_ms: u64) -> Entry {
    Entry::new(key.into(), Bytes::from(body.to_owned()), stored_at_ms, 60, Some("\"e\"".into()), Some(200))
}

fn nobody_trusted(local: &Keypair) -> Trust {
    Trust::new(local.public().to_peer_id(), false, HashSet::new())
}

fn trusting(local: &Keypair, peers: &[&Keypair]) -> Trust {
    Trust::new(local.public().to_peer_id(), false, peers.iter().map(|k| k.public().to_peer_id()).collect())
}

fn check<'a>(trust: &'a Trust, ours: Option<&'a Entry>) -> Check<'a> {
    Check { from: "12D3KooWsender", now_ms: NOW, ours, holds: ours.is_some(), trust, ttl_cap: 300 }
}

#[test]
fn a_true_entry_is_stored_as_coming_from_the_peer_with_its_publisher() {
    let (publisher, me) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let wire = WireEntry::announcement(&local("k", r#"{"a":1}"#, NOW - 1000), &publisher);
    let Announcement::Entry(decoded) = Announcement::decode(&wire.encode_announcement()).unwrap() else {
        panic!("an entry")
    };
    assert_eq!(decoded.publisher(), Some(publisher.public().to_peer_id()));
    match verify(decoded, &check(&nobody_trusted(&me), None)).unwrap() {
        Verdict::Store(entry) => {
            assert_eq!(entry.origin, Origin::Peer("12D3KooWsender".into()));
            assert_eq!(entry.etag.as_deref(), Some("\"e\""));
            let provenance = entry.provenance.expect("kept for passing it on");
            assert_eq!(provenance.publisher_key, publisher.public().encode_protobuf());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_forged_body_or_field_breaks_the_entry() {
    let (publisher, me) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let trust = trusting(&me, &[&publisher]);
    let honest = WireEntry::full(&local(GITHUB_KEY, r#"{"a":1}"#, NOW), &publisher);
    let mut body = honest.clone();
    body.body = Some(br#"{"a":2}"#.to_vec());
    assert!(matches!(verify(body, &check(&trust, None)), Err(Rejection::CidMismatch(_))));
    // Every signed field: change it and the signature no longer holds.
    let changes: [fn(&mut WireEntry); 5] = [
        |w| w.stored_at_ms += 1,
        |w| w.ttl_secs = 3600,
        |w| w.etag = Some("\"other\"".into()),
        |w| w.upstream_status = Some(404),
        |w| w.key = "github:GET:/repos/octo/other:accept=:scope=anonymous".into(),
    ];
    for change in changes {
        let mut forged = honest.clone();
        change(&mut forged);
        assert_eq!(verify(forged, &check(&trust, None)), Err(Rejection::BadSignature));
    }
    let mut unsigned = honest.clone();
    unsigned.signature.clear();
    assert_eq!(verify(unsigned, &check(&trust, None)), Err(Rejection::BadSignature));
    // Re-signed by someone else: holds, but that someone is not trusted.
    let impostor = Keypair::generate_ed25519();
    let resigned = WireEntry::full(&local(GITHUB_KEY, r#"{"a":1}"#, NOW), &impostor);
    assert!(matches!(verify(resigned, &check(&trust, None)), Err(Rejection::Untrusted(_))));
    assert!(matches!(verify(honest, &check(&trust, None)), Ok(Verdict::Store(_))));
}

#[test]
fn github_answers_need_a_trusted_publisher_other_keys_any_signature() {
    let (publisher, me) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let me_id = me.public().to_peer_id();
    let github = WireEntry::full(&local(GITHUB_KEY, "{}", NOW), &publisher);
    let other = WireEntry::full(&local("get_repo:octo/a", "{}", NOW), &publisher);
    let open = nobody_trusted(&me);
    assert!(matches!(verify(github.clone(), &check(&open, None)), Err(Rejection::Untrusted(_))));
    assert!(matches!(verify(other, &check(&open, None)), Ok(Verdict::Store(_))));
    let private = Trust::new(me_id, true, HashSet::new());
    assert!(matches!(verify(github.clone(), &check(&private, None)), Ok(Verdict::Store(_))));
    let named = Trust::new(me_id, true, HashSet::from([Keypair::generate_ed25519().public().to_peer_id()]));
    assert!(
        matches!(verify(github, &check(&named, None)), Err(Rejection::Untrusted(_))),
        "a list narrows a private swarm"
    );
}

#[test]
fn a_relayed_entry_keeps_its_publishers_signature() {
    let (publisher, relay, me) =
        (Keypair::generate_ed25519(), Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let at_relay = match verify(
        WireEntry::full(&local(GITHUB_KEY, "{}", NOW), &publisher),
        &check(&trusting(&relay, &[&publisher]), None),
    ) {
        Ok(Verdict::Store(entry)) => entry,
        other => panic!("{other:?}"),
    };
    let relayed = WireEntry::full(&at_relay, &relay);
    assert_eq!(relayed.publisher(), Some(publisher.public().to_peer_id()));
    assert!(matches!(verify(relayed, &check(&trusting(&me, &[&publisher]), None)), Ok(Verdict::Store(_))));
}

#[test]
fn a_huge_ttl_is_cut_to_the_keys_cap_and_the_signature_still_holds() {
    let (publisher, me) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let mut entry = local("get_repo:octo/a", "{}", NOW);
    entry.ttl_secs = u64::MAX / 1000;
    let wire = WireEntry::full(&entry, &publisher);
    match verify(wire, &check(&nobody_trusted(&me), None)).unwrap() {
        Verdict::Store(stored) => {
            assert_eq!(stored.ttl_secs, 300);
            assert_eq!(stored.signed_ttl_secs(), u64::MAX / 1000);
            assert!(stored.is_fresh(NOW + 299_000) && !stored.is_fresh(NOW + 300_000));
        }
        other => panic!("{other:?}"),
    }
    let mut far = local("get_repo:octo/a", "{}", u64::MAX - 5);
    far.ttl_secs = u64::MAX;
    let wire = WireEntry::full(&far, &publisher);
    assert!(matches!(verify(wire, &check(&nobody_trusted(&me), None)), Err(Rejection::FromTheFuture(_))));
}

#[test]
fn expired_future_oversized_garbage_and_other_versions_are_rejected() {
    let (publisher, me) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let trust = nobody_trusted(&me);
    let old = WireEntry::full(&local("k", "{}", NOW - 61_000), &publisher);
    assert_eq!(verify(old, &check(&trust, None)), Err(Rejection::Expired));
    let future = WireEntry::full(&local("k", "{}", NOW + 120_000), &publisher);
    assert!(matches!(verify(future, &check(&trust, None)), Err(Rejection::FromTheFuture(_))));
    assert!(matches!(Announcement::decode(&[0xff; 10]), Err(Rejection::Malformed(_))));
    assert!(matches!(Announcement::decode(&vec![0; ANNOUNCEMENT_MAX + 1]), Err(Rejection::TooLarge(_))));
    let mut lying = WireEntry::full(&local("k", "{}", NOW), &publisher);
    lying.size = 99;
    assert!(matches!(verify(lying, &check(&trust, None)), Err(Rejection::SizeMismatch { .. })));
    // A newer node's announcement is told apart from garbage.
    let newer = WireEntry::frame(WIRE_VERSION + 1, b"whatever comes next");
    assert_eq!(Announcement::decode(&newer), Err(Rejection::UnknownVersion(WIRE_VERSION + 1)));
    assert!(matches!(Announcement::decode(b"this is not an announcement"), Err(Rejection::Malformed(_))));
    assert!(!Rejection::UnknownVersion(3).is_forgery());
    assert!(Rejection::BadSignature.is_forgery());
}

#[test]
fn an_invalidation_is_acted_on_only_when_signed_by_a_trusted_publisher_for_github_prefixes() {
    let (publisher, me) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let prefixes = vec!["github:GET:/repos/o/r/".to_owned()];
    let honest = WireInvalidation::new(Cause::Write, prefixes.clone(), NOW, &publisher);
    let Announcement::Invalidation(decoded) = Announcement::decode(&honest.encode_announcement(Cause::Write)).unwrap()
    else {
        panic!()
    };
    assert_eq!(decoded.verify(Cause::Write, &trusting(&me, &[&publisher]), NOW), Ok(publisher.public().to_peer_id()));
    assert!(matches!(decoded.verify(Cause::Write, &nobody_trusted(&me), NOW), Err(Rejection::Untrusted(_))));
    let mut moved = honest.clone();
    moved.prefixes = vec!["github:GET:/repos/o/other/".to_owned()];
    assert_eq!(moved.verify(Cause::Write, &trusting(&me, &[&publisher]), NOW), Err(Rejection::BadSignature));
    let mine = WireInvalidation::new(Cause::Write, vec!["get_repo:".to_owned()], NOW, &publisher);
    assert!(
        matches!(mine.verify(Cause::Write, &trusting(&me, &[&publisher]), NOW), Err(Rejection::TooWide(_))),
        "only GitHub answers"
    );
    // Never wider than one repository, whoever signs it.
    for wide in ["github:GET:/", "github:GET:/repos/", "github:GET:/repos/o/", "github:GET:", "github:POST:/"] {
        let everything = WireInvalidation::new(Cause::Write, vec![wide.to_owned()], NOW, &publisher);
        assert!(
            matches!(everything.verify(Cause::Write, &trusting(&me, &[&publisher]), NOW), Err(Rejection::TooWide(_))),
            "{wide}"
        );
    }
    let too_many = WireInvalidation::new(Cause::Write, vec![prefixes[0].clone(); 9], NOW, &publisher);
    assert!(matches!(too_many.verify(Cause::Write, &trusting(&me, &[&publisher]), NOW), Err(Rejection::Malformed(_))));
}

#[test]
fn an_operators_fleet_invalidation_may_name_any_key_or_everything_but_is_never_a_writes() {
    let (publisher, me) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let trust = trusting(&me, &[&publisher]);
    for patterns in [vec!["github:GET:/repos/octo/inv".to_owned()], vec!["mine:".to_owned()], vec![String::new()]] {
        let flush = WireInvalidation::new(Cause::Operator, patterns.clone(), NOW, &publisher);
        let Announcement::Flush(decoded) = Announcement::decode(&flush.encode_announcement(Cause::Operator)).unwrap()
        else {
            panic!("a flush decodes as a flush")
        };
        assert_eq!(decoded.verify(Cause::Operator, &trust, NOW), Ok(publisher.public().to_peer_id()), "{patterns:?}");
        // Its signature means nothing as a write's, so it cannot pass for one (nor one for it).
        assert_eq!(decoded.verify(Cause::Write, &trust, NOW).is_ok(), false, "{patterns:?}");
        assert!(matches!(decoded.verify(Cause::Operator, &nobody_trusted(&me), NOW), Err(Rejection::Untrusted(_))));
    }
    let write = WireInvalidation::new(Cause::Write, vec!["github:GET:/repos/o/r/".to_owned()], NOW, &publisher);
    assert_eq!(write.verify(Cause::Operator, &trust, NOW), Err(Rejection::BadSignature));
    // Everything is `""` alone; keys are keys.
    let mixed = WireInvalidation::new(Cause::Operator, vec![String::new(), "mine:".to_owned()], NOW, &publisher);
    assert!(matches!(mixed.verify(Cause::Operator, &trust, NOW), Err(Rejection::BadKey(_))));
    let later = WireInvalidation::new(Cause::Operator, vec!["mine:".to_owned()], NOW + 10 * 60_000, &publisher);
    assert!(matches!(later.verify(Cause::Operator, &trust, NOW), Err(Rejection::FromTheFuture(_))));
}

#[test]
fn narrow_prefixes_name_one_repository_one_path_or_graphql() {
    for narrow in [
        "github:GET:/repos/o/r/",
        "github:GET:/repos/o/r?",
        "github:GET:/repos/o/r:",
        "github:GET:/user?",
        "github:GET:/user:",
        "github:GET:/orgs/x/repos:",
        "github:POST:/graphql",
    ] {
        assert!(narrow_prefix(narrow), "{narrow}");
    }
    for wide in [
        "github:GET:/",
        "github:GET:/repos/",
        "github:GET:/repos/o/",
        "github:GET:/user/",
        "github:GET:?",
        "github:POST:/graphql?",
        "mine:",
        "",
    ] {
        assert!(!narrow_prefix(wide), "{wide}");
    }
}

#[test]
fn large_bodies_are_announced_without_body() {
    let publisher = Keypair::generate_ed25519();
    let big = format!("\"{}\"", "x".repeat(INLINE_BODY_MAX));
    let wire = WireEntry::announcement(&local("k", &big, NOW), &publisher);
    assert!(wire.body.is_none());
    assert_eq!(wire.size as usize, big.len());
    assert!(wire.encode_announcement().len() < 1024);
}

#[test]
fn an_older_or_identical_copy_is_not_stored_again() {
    let (publisher, me) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let trust = nobody_trusted(&me);
    let ours = local("k", r#"{"v":2}"#, NOW - 1000);
    let older = WireEntry::full(&local("k", r#"{"v":1}"#, NOW - 2000), &publisher);
    assert_eq!(verify(older, &check(&trust, Some(&ours))), Ok(Verdict::AlreadyHave));
    let same = WireEntry::full(&ours, &publisher);
    assert_eq!(verify(same, &check(&trust, Some(&ours))), Ok(Verdict::AlreadyHave));
    let newer = WireEntry::full(&local("k", r#"{"v":3}"#, NOW - 10), &publisher);
    assert!(matches!(verify(newer, &check(&trust, Some(&ours))), Ok(Verdict::Store(_))));
}

/// Wire entries as a hostile peer could write them: well-formed, every field
/// its own choice, signed by itself or by nobody.
fn hostile_entry() -> impl Strategy<Value = WireEntry> {
    (
        prop_oneof![Just(GITHUB_KEY.to_owned()), "[a-z:/]{0,40}", ".{0,1100}"],
        prop_oneof![Just(r#"{"a":1}"#.as_bytes().to_vec()), proptest::collection::vec(any::<u8>(), 0..64)],
        any::<u64>(),
        any::<u64>(),
        proptest::option::of(".{0,20}"),
        proptest::option::of(any::<u16>()),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(key, body, stored_at_ms, ttl_secs, etag, status, signed, honest_cid, size)| {
            let publisher = Keypair::generate_ed25519();
            let cid = if honest_cid { content_id(&body) } else { "bafkreigarbage".to_owned() };
            let signature = if signed {
                publisher.sign(&signed_fields(&key, &cid, stored_at_ms, ttl_secs, etag.as_deref(), status)).unwrap()
            } else {
                vec![0; 64]
            };
            let size = if honest_cid { body.len() as u64 } else { size };
            WireEntry {
                key,
                cid,
                size,
                stored_at_ms,
                ttl_secs,
                etag,
                upstream_status: status,
                publisher_key: publisher.public().encode_protobuf(),
                signature,
                body: Some(body),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// Random bytes never panic a decoder.
    #[test]
    fn random_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Announcement::decode(&bytes);
        let mut framed = ANNOUNCEMENT_MAGIC.to_vec();
        framed.push(WIRE_VERSION as u8);
        framed.extend_from_slice(&bytes);
        let _ = Announcement::decode(&framed);
        let _ = cbor4ii::serde::from_slice::<FetchResponse>(&bytes);
        let _ = cbor4ii::serde::from_slice::<FetchRequest>(&bytes);
    }

    /// Hostile but well-formed entries never panic `verify`; what it stores
    /// is signed, matches its CID, and lives no longer than the cap.
    #[test]
    fn hostile_entries_never_panic_verify_and_what_passes_is_bounded(wire in hostile_entry(), now in any::<u64>()) {
        let me = Keypair::generate_ed25519();
        let trust = Trust::new(me.public().to_peer_id(), true, HashSet::new());
        let check = Check { from: "p", now_ms: now, ours: None, holds: false, trust: &trust, ttl_cap: 300 };
        let signed = wire.signature_holds();
        if let Ok(Verdict::Store(entry)) = verify(wire, &check) {
            prop_assert!(signed);
            prop_assert_eq!(content_id(&entry.value), entry.cid.clone());
            prop_assert!(entry.ttl_secs <= 300);
            prop_assert!(entry.is_fresh(now));
        }
    }
}

#[test]
fn a_summary_is_told_from_every_other_announcement_by_its_framing() {
    let node = Keypair::generate_ed25519();
    let summary = crate::fleet::summary::WireSummary::new(Default::default(), &node).encode_announcement();
    assert!(matches!(Announcement::decode(&summary), Ok(Announcement::Summary(_))));
    assert!(Announcement::is_summary(&summary));
    let entry = WireEntry::announcement(&local("k", "{}", NOW), &node).encode_announcement();
    let write = WireInvalidation::new(Cause::Write, vec!["github:GET:/repos/o/r/".into()], NOW, &node);
    let flush = WireInvalidation::new(Cause::Operator, vec!["github:".into()], NOW, &node);
    for other in [entry, write.encode_announcement(Cause::Write), flush.encode_announcement(Cause::Operator)] {
        assert!(!Announcement::is_summary(&other));
    }
    assert!(!Announcement::is_summary(&summary[ANNOUNCEMENT_MAGIC.len()..]), "not framed");
    assert!(!Announcement::is_summary(b"PCAN"), "cut short");
}
