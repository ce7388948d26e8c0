//! Property tests: the Diameter codec and the BSF's peer never panic on arbitrary octets,
//! and every message they build decodes back to itself.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use gbau_network::bsf::core::ZnError;
use gbau_network::diameter::codec::{decode_avps, frame_len, Avp, Header, Message};
use gbau_network::diameter::peer::{Identity, Peer};
use proptest::prelude::*;

fn me() -> Identity {
    Identity {
        host: "bsf.example.org".into(),
        realm: "example.org".into(),
        state_id: 1,
        peers: vec![("naf.example.org".into(), vec!["naf.example.org".into()])],
    }
}

fn avp() -> impl Strategy<Value = Avp> {
    (
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(code, v, m, data)| Avp::new(code, v.then_some(10_415), m, data))
}

proptest! {
    #[test]
    fn decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Message::decode(&bytes);
        let _ = decode_avps(&bytes);
        let _ = Message::header_of(&bytes);
        if bytes.len() >= 4 {
            let _ = frame_len([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
    }

    #[test]
    fn messages_round_trip(
        flags in any::<u8>(), command in 0u32..(1 << 24), application in any::<u32>(),
        hop in any::<u32>(), end in any::<u32>(), avps in prop::collection::vec(avp(), 0..8),
    ) {
        let m = Message { header: Header { flags, command, application, hop_by_hop: hop, end_to_end: end }, avps };
        let b = m.encode();
        prop_assert_eq!(b.len() % 4, 0);
        prop_assert_eq!(Message::decode(&b).unwrap(), m);
    }

    /// Any octets, framed or not, before or after a capabilities exchange: the peer answers,
    /// ignores or closes, and never panics.
    #[test]
    fn the_peer_never_panics(
        header in prop::collection::vec(any::<u8>(), 20..=20),
        avps in prop::collection::vec(avp(), 0..6),
        tail in prop::collection::vec(any::<u8>(), 0..64),
        open in any::<bool>(),
    ) {
        let lookup = |_: &gbau_network::bsf::core::ZnRequest, _: &[String], _: u64| Err(ZnError::UnknownBTid);
        let mut p = Peer::new([127, 0, 0, 1].into());
        if open {
            p.open = Some("naf.example.org".into());
        }
        // Framed: a valid length over arbitrary header bits and AVPs.
        let mut framed = Message::decode(&{
            let mut h = header.clone();
            h[0] = 1;
            h[1..4].copy_from_slice(&[0, 0, 20]);
            h
        }).map(|mut m| { m.avps = avps.clone(); m.encode() }).unwrap_or_default();
        framed.extend_from_slice(&tail[..tail.len() / 4 * 4]);
        if framed.len() >= 4 {
            let n = framed.len() as u32;
            framed[1..4].copy_from_slice(&n.to_be_bytes()[1..]);
        }
        let _ = p.on_message(&me(), &framed, &lookup, 0);
        let mut raw = header;
        raw.extend(tail);
        let _ = p.on_message(&me(), &raw, &lookup, 0);
    }
}
