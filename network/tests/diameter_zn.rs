//! Diameter Zn (TS 29.109) against the BSF core on 127.0.0.1: the NAF's client gets the key
//! the KDF gives for the stored session; authorisation by the peer's Diameter identity; and the
//! base protocol's answers to what a peer may get wrong (RFC 6733), checked on raw sockets:
//! nothing before CER, no common application, unknown command, unknown application, unknown
//! mandatory AVP, missing AVP, bad AVP length, garbage and oversized messages — while another
//! peer keeps being served.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use gbau_core::aka::Rand;
use gbau_core::identity::{Impi, NafId, UaProtocolId};
use gbau_core::secret::Ks;
use gbau_network::bsf::core::Bsf;
use gbau_network::bsf::store::{MemoryStore, Session, Store};
use gbau_network::bsf::subscribers::GbaType;
use gbau_network::diameter::client::{DiameterZnClient, NafIdentity};
use gbau_network::diameter::codec::{
    Avp, Header, Message, FLAG_ERROR, FLAG_PROXIABLE, FLAG_REQUEST,
};
use gbau_network::diameter::dict::{self, code, VENDOR_3GPP};
use gbau_network::naf::KeySource;
use gbau_network::zn::ZnClientError;

const IMPI: &str = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org";
const B_TID: &str = "AAECAwQFBgcICQoLDA0ODw==@bsf.example.org";
const KS: [u8; 32] = [0x5A; 32];
const RAND: [u8; 16] = [0x11; 16];

/// A BSF (one GBA_U session stored) with Diameter Zn on a free loopback port; naf.example.org
/// may ask for itself, other.example.org for itself.
fn start() -> (tokio::runtime::Runtime, SocketAddr) {
    let store = MemoryStore::default();
    store
        .put_session(&Session {
            b_tid: B_TID.into(),
            impi: IMPI.into(),
            rand: RAND,
            ks: Ks::new(KS),
            gba_type: GbaType::GbaU,
            created: 1_700_000_000,
            expires: 4_000_000_000,
            uss: None,
        })
        .unwrap();
    let bsf = Arc::new(Bsf::new("bsf.example.org", vec![], store));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cfg = gbau_network::bsf::server::Config {
        fqdn: "bsf.example.org".into(),
        ub_listen: "127.0.0.1:0".into(),
        zn: None,
        zn_diameter: Some(gbau_network::bsf::server::DiameterConfig {
            listen: "127.0.0.1:0".into(),
            identity: "bsf.example.org".into(),
            realm: "example.org".into(),
            peers: vec![
                ("naf.example.org".into(), vec!["naf.example.org".into()]),
                ("other.example.org".into(), vec!["other.example.org".into()]),
            ],
        }),
    };
    let bound = gbau_network::bsf::server::spawn(&rt, bsf, cfg).unwrap();
    (rt, bound.zn_diameter.unwrap())
}

fn naf_id(fqdn: &str) -> NafId {
    NafId::new(fqdn, UaProtocolId::HTTP_DIGEST).unwrap()
}

fn client(addr: SocketAddr, host: &str) -> DiameterZnClient {
    DiameterZnClient::new(
        &addr.to_string(),
        NafIdentity {
            host: host.into(),
            realm: "example.org".into(),
        },
    )
}

#[test]
fn bir_gives_the_kdf_keys_and_authorises_by_diameter_identity() {
    let (_rt, addr) = start();
    let naf = client(addr, "naf.example.org");
    let a = naf.key(B_TID, &naf_id("naf.example.org")).unwrap();
    let (impi, rand) = (Impi::new(IMPI).unwrap(), Rand(RAND));
    let n = naf_id("naf.example.org");
    let ext = gbau_core::kdf::ks_ext_naf(&Ks::new(KS), &rand, &impi, &n).unwrap();
    let int = gbau_core::kdf::ks_int_naf(&Ks::new(KS), &rand, &impi, &n).unwrap();
    assert_eq!(a.ks_naf.expose(), ext.expose(), "ME-Key-Material");
    assert_eq!(
        a.ks_int_naf.as_ref().map(|k| *k.expose()),
        Some(*int.expose()),
        "UICC-Key-Material"
    );
    assert_eq!(a.impi, IMPI, "User-Name");
    assert_eq!(a.expiry, gbau_core::time::format_utc(4_000_000_000));
    assert_eq!(
        a.bootstrapping_time,
        gbau_core::time::format_utc(1_700_000_000)
    );
    assert_eq!(a.gba_type, GbaType::GbaU);
    // The connection is reused: a second lookup on it.
    assert!(naf.key(B_TID, &n).is_ok());

    // Another NAF's identity asking for naf.example.org: 5402.
    let other = client(addr, "other.example.org");
    let e = other.key(B_TID, &n).unwrap_err();
    assert!(
        matches!(&e, ZnClientError::Refused { code, .. } if code == "naf_not_authorised"),
        "{e}"
    );
    // An unknown B-TID: 5403, the UE must bootstrap again.
    let e = naf.key("bm9uZQ==@bsf.example.org", &n).unwrap_err();
    assert!(e.needs_bootstrap(), "{e}");
    // An identity the BSF does not know is authorised for nothing.
    let stranger = client(addr, "stranger.example.org");
    assert!(matches!(
        stranger.key(B_TID, &n),
        Err(ZnClientError::Refused { status: 403, .. })
    ));
}

/// A raw peer on a socket.
struct Raw {
    s: TcpStream,
    next: u32,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        Self { s, next: 100 }
    }

    fn send(&mut self, command: u32, application: u32, flags: u8, avps: Vec<Avp>) -> Header {
        self.next += 1;
        let header = Header {
            flags,
            command,
            application,
            hop_by_hop: self.next,
            end_to_end: 0xE000_0000 + self.next,
        };
        self.s
            .write_all(&Message { header, avps }.encode())
            .unwrap();
        header
    }

    fn read(&mut self) -> Option<Message> {
        let mut first = [0u8; 4];
        self.s.read_exact(&mut first).ok()?;
        let len = gbau_network::diameter::codec::frame_len(first).unwrap();
        let mut b = vec![0u8; len];
        b[..4].copy_from_slice(&first);
        self.s.read_exact(&mut b[4..]).unwrap();
        Some(Message::decode(&b).unwrap())
    }

    /// The connection was closed by the BSF.
    fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.s.read(&mut b), Ok(0))
    }

    fn cer(&mut self, apps: &[u32]) -> Message {
        let mut avps = vec![
            Avp::base(code::ORIGIN_HOST, b"naf.example.org".to_vec()),
            Avp::base(code::ORIGIN_REALM, b"example.org".to_vec()),
            Avp::address(code::HOST_IP_ADDRESS, [127, 0, 0, 1].into()),
            Avp::u32(code::VENDOR_ID, None, true, 0),
            Avp::new(code::PRODUCT_NAME, None, false, b"test".to_vec()),
        ];
        for a in apps {
            avps.push(Avp::u32(code::AUTH_APPLICATION_ID, None, true, *a));
        }
        self.send(dict::CMD_CER, 0, FLAG_REQUEST, avps);
        self.read().expect("a CEA")
    }

    fn bir(
        &mut self,
        application: u32,
        extra: Vec<Avp>,
        without: Option<u32>,
    ) -> (Header, Message) {
        let mut avps = vec![
            Avp::base(code::SESSION_ID, b"naf.example.org;1;1".to_vec()),
            Avp::grouped(
                code::VENDOR_SPECIFIC_APPLICATION_ID,
                None,
                true,
                &[
                    Avp::u32(code::VENDOR_ID, None, true, VENDOR_3GPP),
                    Avp::u32(code::AUTH_APPLICATION_ID, None, true, dict::APP_ZN),
                ],
            ),
            Avp::base(code::ORIGIN_HOST, b"naf.example.org".to_vec()),
            Avp::base(code::ORIGIN_REALM, b"example.org".to_vec()),
            Avp::base(code::DESTINATION_REALM, b"example.org".to_vec()),
            Avp::tgpp(code::TRANSACTION_IDENTIFIER, B_TID.as_bytes().to_vec()),
            Avp::tgpp(code::NAF_ID, naf_id("naf.example.org").to_bytes()),
        ];
        avps.retain(|a| Some(a.code) != without);
        avps.extend(extra);
        let h = self.send(
            dict::CMD_BIR,
            application,
            FLAG_REQUEST | FLAG_PROXIABLE,
            avps,
        );
        (h, self.read().expect("an answer"))
    }
}

fn result_code(m: &Message) -> Option<u32> {
    m.avp(code::RESULT_CODE, None).and_then(Avp::as_u32)
}

fn failed_avps(m: &Message) -> Vec<Avp> {
    m.avp(code::FAILED_AVP, None)
        .map(|f| f.members().unwrap())
        .unwrap_or_default()
}

#[test]
fn the_base_protocol_answers_errors_and_other_peers_go_on() {
    let (_rt, addr) = start();
    // Nothing before the capabilities exchange.
    let mut early = Raw::connect(addr);
    early.send(dict::CMD_DWR, 0, FLAG_REQUEST, vec![]);
    assert!(early.closed(), "a DWR before CER closes the connection");
    // No common application: CEA 5010, then closed.
    let mut lonely = Raw::connect(addr);
    assert_eq!(
        result_code(&lonely.cer(&[4])),
        Some(dict::DIAMETER_NO_COMMON_APPLICATION)
    );
    assert!(lonely.closed());
    // A relay shares every application (RFC 6733 §5.3).
    let mut relay = Raw::connect(addr);
    assert_eq!(
        result_code(&relay.cer(&[dict::APP_RELAY])),
        Some(dict::DIAMETER_SUCCESS)
    );

    let mut p = Raw::connect(addr);
    let cea = p.cer(&[dict::APP_ZN]);
    assert_eq!(result_code(&cea), Some(dict::DIAMETER_SUCCESS));
    assert_eq!(
        cea.avp(code::ORIGIN_HOST, None).and_then(Avp::as_text),
        Some("bsf.example.org")
    );
    let vsai = cea
        .avp(code::VENDOR_SPECIFIC_APPLICATION_ID, None)
        .unwrap()
        .members()
        .unwrap();
    assert!(vsai.contains(&Avp::u32(
        code::AUTH_APPLICATION_ID,
        None,
        true,
        dict::APP_ZN
    )));
    assert!(vsai.contains(&Avp::u32(code::VENDOR_ID, None, true, VENDOR_3GPP)));

    // Watchdog.
    let h = p.send(
        dict::CMD_DWR,
        0,
        FLAG_REQUEST,
        vec![
            Avp::base(code::ORIGIN_HOST, b"naf.example.org".to_vec()),
            Avp::base(code::ORIGIN_REALM, b"example.org".to_vec()),
        ],
    );
    let dwa = p.read().unwrap();
    assert_eq!(
        (dwa.header.command, dwa.header.is_request()),
        (dict::CMD_DWR, false)
    );
    assert_eq!(
        (dwa.header.hop_by_hop, dwa.header.end_to_end),
        (h.hop_by_hop, h.end_to_end)
    );
    assert_eq!(result_code(&dwa), Some(dict::DIAMETER_SUCCESS));

    // An unknown command: E bit, 3001, identifiers echoed.
    let h = p.send(311, dict::APP_ZN, FLAG_REQUEST | FLAG_PROXIABLE, vec![]);
    let a = p.read().unwrap();
    assert_eq!(a.header.flags & FLAG_ERROR, FLAG_ERROR);
    assert_eq!(
        (a.header.command, a.header.hop_by_hop, a.header.end_to_end),
        (311, h.hop_by_hop, h.end_to_end)
    );
    assert_eq!(result_code(&a), Some(dict::DIAMETER_COMMAND_UNSUPPORTED));

    // BIR in another application: 3007 with the E bit.
    let (_, a) = p.bir(4, vec![], None);
    assert_eq!(
        (a.header.flags & FLAG_ERROR, result_code(&a)),
        (FLAG_ERROR, Some(dict::DIAMETER_APPLICATION_UNSUPPORTED))
    );

    // An unknown AVP with M set: BIA 5001 naming it in Failed-AVP.
    let unknown = Avp::new(9_999, Some(VENDOR_3GPP), true, b"zz".to_vec());
    let (_, a) = p.bir(dict::APP_ZN, vec![unknown.clone()], None);
    assert_eq!(result_code(&a), Some(dict::DIAMETER_AVP_UNSUPPORTED));
    assert_eq!(failed_avps(&a), vec![unknown]);
    assert_eq!(a.header.flags & FLAG_ERROR, 0, "5xxx in the BIA itself");
    // The same AVP without M is ignored: a normal answer.
    let (_, a) = p.bir(
        dict::APP_ZN,
        vec![Avp::new(9_999, Some(VENDOR_3GPP), false, vec![1])],
        None,
    );
    assert_eq!(result_code(&a), Some(dict::DIAMETER_SUCCESS));
    assert_eq!(
        a.avp(code::ME_KEY_MATERIAL, Some(VENDOR_3GPP))
            .map(|k| k.data.len()),
        Some(32)
    );
    assert!(
        a.avp(code::UICC_KEY_MATERIAL, Some(VENDOR_3GPP)).is_none(),
        "not GBA_U aware: no Ks_int_NAF"
    );
    assert_eq!(
        a.avp(code::GBA_TYPE, Some(VENDOR_3GPP))
            .and_then(Avp::as_u32),
        Some(dict::GBA_TYPE_3G)
    );

    // A missing NAF-Id: 5005, Failed-AVP names it.
    let (_, a) = p.bir(dict::APP_ZN, vec![], Some(code::NAF_ID));
    assert_eq!(result_code(&a), Some(dict::DIAMETER_MISSING_AVP));
    assert_eq!(failed_avps(&a)[0].code, code::NAF_ID);
    // GBA_U-Awareness-Indicator out of range: 5004.
    let bad = Avp::u32(code::GBA_U_AWARENESS_INDICATOR, Some(VENDOR_3GPP), true, 7);
    let (_, a) = p.bir(dict::APP_ZN, vec![bad.clone()], None);
    assert_eq!(
        (result_code(&a), failed_avps(&a)),
        (Some(dict::DIAMETER_INVALID_AVP_VALUE), vec![bad])
    );

    // An AVP whose length runs past the message: 5014 with the E bit.
    let mut broken = Message {
        header: Header {
            flags: FLAG_REQUEST,
            command: dict::CMD_BIR,
            application: dict::APP_ZN,
            hop_by_hop: 9,
            end_to_end: 9,
        },
        avps: vec![Avp::base(code::SESSION_ID, b"abcd".to_vec())],
    }
    .encode();
    broken[27] = 60;
    p.s.write_all(&broken).unwrap();
    let a = p.read().unwrap();
    assert_eq!(
        (a.header.hop_by_hop, result_code(&a)),
        (9, Some(dict::DIAMETER_INVALID_AVP_LENGTH))
    );

    // Garbage and an oversized message: those connections are closed...
    let mut g = Raw::connect(addr);
    g.cer(&[dict::APP_ZN]);
    g.s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert!(g.closed());
    let mut big = Raw::connect(addr);
    big.cer(&[dict::APP_ZN]);
    big.s
        .write_all(&[1, 0xFF, 0xFF, 0xFC, 0x80, 0, 1, 0x36])
        .unwrap();
    assert!(big.closed());
    // ...and the other peers are still served.
    let (_, a) = relay.bir(dict::APP_ZN, vec![], None);
    assert_eq!(result_code(&a), Some(dict::DIAMETER_SUCCESS));
    let (_, a) = p.bir(dict::APP_ZN, vec![], None);
    assert_eq!(result_code(&a), Some(dict::DIAMETER_SUCCESS));

    // Disconnect: DPA, then closed.
    p.send(
        dict::CMD_DPR,
        0,
        FLAG_REQUEST,
        vec![
            Avp::base(code::ORIGIN_HOST, b"naf.example.org".to_vec()),
            Avp::base(code::ORIGIN_REALM, b"example.org".to_vec()),
            Avp::u32(
                code::DISCONNECT_CAUSE,
                None,
                true,
                dict::DISCONNECT_REBOOTING,
            ),
        ],
    );
    let dpa = p.read().unwrap();
    assert_eq!(
        (dpa.header.command, result_code(&dpa)),
        (dict::CMD_DPR, Some(dict::DIAMETER_SUCCESS))
    );
    assert!(p.closed());
}

#[test]
fn several_peers_at_once() {
    let (_rt, addr) = start();
    let threads: Vec<_> = (0..6)
        .map(|_| {
            std::thread::spawn(move || {
                let naf = client(addr, "naf.example.org");
                (0..50)
                    .filter(|_| naf.key(B_TID, &naf_id("naf.example.org")).is_ok())
                    .count()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 50);
    }
}
