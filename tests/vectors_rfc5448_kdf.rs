//! `vectors/rfc5448-ck-ik-prime.yaml`: the published EAP-AKA' CK'/IK' values, computed with the
//! same TS 33.220 Annex B KDF that derives every GBA key.

use gbau_core::hexutil::parse_fixed;
use gbau_core::kdf::ck_ik_prime;
use gbau_core::secret::{Ck, Ik};
use gbau_tests::{check, load_vectors};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    case: u32,
    network_name: String,
    autn: String,
    ck: String,
    ik: String,
    ck_prime: String,
    ik_prime: String,
}

#[test]
fn rfc5448_ck_ik_prime() {
    let file: File = load_vectors("rfc5448-ck-ik-prime.yaml");
    assert_eq!(file.cases.len(), 4, "RFC 5448 Appendix C has four cases");
    for c in &file.cases {
        let autn: [u8; 16] = parse_fixed(&c.autn).expect("autn");
        let mut sqn_xor_ak = [0u8; 6];
        sqn_xor_ak.copy_from_slice(&autn[..6]);
        let (ck_p, ik_p) = ck_ik_prime(
            &Ck::new(parse_fixed(&c.ck).expect("ck")),
            &Ik::new(parse_fixed(&c.ik).expect("ik")),
            &c.network_name,
            &sqn_xor_ak,
        )
        .expect("kdf");
        check(&format!("case {} CK'", c.case), &c.ck_prime, ck_p.expose());
        check(&format!("case {} IK'", c.case), &c.ik_prime, ik_p.expose());
    }
}
