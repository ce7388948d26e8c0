//! `vectors/gba-u-chain.yaml`: one GBA_U run end to end on Milenage test set 1, from AKA to
//! Ks_ext_NAF, including the APDUs a GBA_U card exchanges.

use gbau_core::aka::{
    build_auts, gba_u_autn, generate_vector, verify_autn, Amf, Autn, AutnKind, Rand,
};
use gbau_core::hexutil::{parse_fixed, parse_hex};
use gbau_core::identity::{BTid, Impi, Imsi, MncLength, NafId, UaProtocolId};
use gbau_core::kdf::{ks_ext_naf, ks_int_naf};
use gbau_core::milenage::{c3_kc, Milenage};
use gbau_core::secret::{Ks, Opc, K};
use gbau_core::sqn::Sqn;
use gbau_core::tlv::write_lv;
use gbau_core::{CommandApdu, ResponseApdu, StatusWord};
use gbau_tests::{check, load_vectors};
use serde::Deserialize;

#[derive(Deserialize)]
struct Chain {
    k: String,
    opc: String,
    rand: String,
    sqn: String,
    amf: String,
    ak: String,
    mac_a: String,
    autn: String,
    autn_gba_u: String,
    res: String,
    res_gba_u: String,
    ck: String,
    ik: String,
    ks: String,
    impi: String,
    naf_fqdn: String,
    ua_security_protocol_id: String,
    naf_id: String,
    ks_ext_naf: String,
    ks_int_naf: String,
    b_tid: String,
    resync_sqn_ms: String,
    auts: String,
    apdu: Apdus,
}

#[derive(Deserialize)]
struct Apdus {
    authenticate_3g: String,
    gba_bootstrap: String,
    authenticate_3g_reply: String,
    gba_bootstrap_reply: String,
    gba_naf_derivation: String,
    gba_naf_reply: String,
}

/// The IMSI of the project's test profile; MNC length 2 gives the chain's IMPI.
const TEST_IMSI: &str = "001010000000001";

#[test]
fn gba_u_chain() {
    let v: Chain = load_vectors("gba-u-chain.yaml");
    let k = K::new(parse_fixed(&v.k).expect("k"));
    let m = Milenage::new(&k, Opc::new(parse_fixed(&v.opc).expect("opc")));
    let rand = Rand(parse_fixed(&v.rand).expect("rand"));
    let sqn = Sqn::from_bytes(parse_fixed(&v.sqn).expect("sqn"));
    let amf = Amf(parse_fixed(&v.amf).expect("amf"));

    // Network side: the authentication vector and AUTN*.
    let av = generate_vector(&m, &rand, sqn, amf);
    check("ak", &v.ak, &av.ak);
    check("mac_a", &v.mac_a, &av.mac_a);
    check("autn", &v.autn, &av.autn.0);
    check("res", &v.res, av.xres.as_bytes());
    check("ck", &v.ck, av.ck.expose());
    check("ik", &v.ik, av.ik.expose());
    let autn_star = gba_u_autn(&av.autn, &av.ik);
    check("autn_gba_u", &v.autn_gba_u, &autn_star.0);
    // The BSF's XRES for a GBA_U subscriber, and what the card answers: the same flip.
    check(
        "res_gba_u",
        &v.res_gba_u,
        AutnKind::GbaU.res(&av.xres).as_bytes(),
    );
    check(
        "autn_gba_u (AutnKind::GbaU.network_autn)",
        &v.autn_gba_u,
        &AutnKind::GbaU.network_autn(&av.autn, &av.ik).0,
    );
    check(
        "res (AutnKind::Plain)",
        &v.res,
        AutnKind::Plain.res(&av.xres).as_bytes(),
    );

    // Card side: AUTN* verifies in GBA bootstrapping mode only.
    let verified = verify_autn(&m, &rand, &autn_star, AutnKind::GbaU)
        .expect("autn_gba_u must verify as GBA_U");
    assert_eq!(verified.sqn, sqn, "sqn recovered from autn_gba_u");
    assert!(
        verify_autn(&m, &rand, &autn_star, AutnKind::Plain).is_err(),
        "autn_gba_u must fail in the 3G context"
    );
    let plain = Autn(parse_fixed(&v.autn).expect("autn"));
    assert!(
        verify_autn(&m, &rand, &plain, AutnKind::Plain).is_ok(),
        "autn must verify in the 3G context"
    );
    let ks = Ks::from_ck_ik(&verified.ck, &verified.ik);
    check("ks", &v.ks, ks.expose());

    // Identities and NAF keys.
    let imsi = Imsi::new(TEST_IMSI).expect("imsi");
    let impi = imsi.impi(MncLength::Two);
    assert_eq!(impi.as_str(), v.impi, "impi from IMSI {TEST_IMSI}");
    let impi = Impi::new(&v.impi).expect("impi");
    let ua = UaProtocolId(parse_fixed(&v.ua_security_protocol_id).expect("ua id"));
    let naf_id = NafId::new(&v.naf_fqdn, ua).expect("naf id");
    check("naf_id", &v.naf_id, &naf_id.to_bytes());
    check(
        "ks_ext_naf",
        &v.ks_ext_naf,
        ks_ext_naf(&ks, &rand, &impi, &naf_id)
            .expect("kdf")
            .expose(),
    );
    check(
        "ks_int_naf",
        &v.ks_int_naf,
        ks_int_naf(&ks, &rand, &impi, &naf_id)
            .expect("kdf")
            .expose(),
    );
    let b_tid = BTid::from_rand(&rand, &imsi.bsf_fqdn(MncLength::Two));
    assert_eq!(b_tid.as_str(), v.b_tid, "b_tid");

    // Resynchronisation.
    let sqn_ms = Sqn::from_bytes(parse_fixed(&v.resync_sqn_ms).expect("sqn_ms"));
    check("auts", &v.auts, &build_auts(&m, &rand, sqn_ms).0);

    // APDUs (TS 31.102 §7.1.2).
    let mut data_3g = Vec::new();
    write_lv(&rand.0, &mut data_3g).expect("lv");
    write_lv(&plain.0, &mut data_3g).expect("lv");
    let cmd = CommandApdu::new(0x00, 0x88, 0x00, 0x81)
        .with_data(data_3g)
        .with_ne(256);
    check(
        "apdu.authenticate_3g",
        &v.apdu.authenticate_3g,
        &cmd.to_bytes().expect("encode"),
    );
    // The 3G context's answer: RES, CK, IK and Kc = c3(CK, IK) (UST service 27 on).
    let mut reply_3g = vec![0xDB];
    for part in [
        av.xres.as_bytes(),
        av.ck.expose().as_slice(),
        av.ik.expose().as_slice(),
        c3_kc(&av.ck, &av.ik).expose().as_slice(),
    ] {
        write_lv(part, &mut reply_3g).expect("lv");
    }
    check(
        "apdu.authenticate_3g_reply",
        &v.apdu.authenticate_3g_reply,
        &ResponseApdu::new(reply_3g, StatusWord::Ok).to_bytes(),
    );

    let mut data_bs = vec![0xDD];
    write_lv(&rand.0, &mut data_bs).expect("lv");
    write_lv(&autn_star.0, &mut data_bs).expect("lv");
    let cmd = CommandApdu::new(0x00, 0x88, 0x00, 0x84)
        .with_data(data_bs)
        .with_ne(256);
    check(
        "apdu.gba_bootstrap",
        &v.apdu.gba_bootstrap,
        &cmd.to_bytes().expect("encode"),
    );
    let mut reply = vec![0xDB];
    write_lv(AutnKind::GbaU.res(&verified.res).as_bytes(), &mut reply).expect("lv");
    let reply = ResponseApdu::new(reply, StatusWord::Ok);
    check(
        "apdu.gba_bootstrap_reply",
        &v.apdu.gba_bootstrap_reply,
        &reply.to_bytes(),
    );

    let mut data_naf = vec![0xDE];
    write_lv(&naf_id.to_bytes(), &mut data_naf).expect("lv");
    write_lv(impi.as_str().as_bytes(), &mut data_naf).expect("lv");
    let cmd = CommandApdu::new(0x00, 0x88, 0x00, 0x84)
        .with_data(data_naf)
        .with_ne(256);
    check(
        "apdu.gba_naf_derivation",
        &v.apdu.gba_naf_derivation,
        &cmd.to_bytes().expect("encode"),
    );
    let mut reply = vec![0xDB];
    write_lv(&parse_hex(&v.ks_ext_naf).expect("hex"), &mut reply).expect("lv");
    let reply = ResponseApdu::new(reply, StatusWord::Ok);
    check(
        "apdu.gba_naf_reply",
        &v.apdu.gba_naf_reply,
        &reply.to_bytes(),
    );
}
