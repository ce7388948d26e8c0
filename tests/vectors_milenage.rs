//! `vectors/milenage-ts35208.yaml`: Milenage test sets 1–6 of TS 35.207 §4.3 / TS 35.208 §4.3.

use gbau_core::hexutil::parse_fixed;
use gbau_core::milenage::{opc_from_op, Milenage};
use gbau_core::secret::{Op, Opc, K};
use gbau_tests::{check, load_vectors};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    sets: Vec<Set>,
}

#[derive(Deserialize)]
struct Set {
    set: u32,
    k: String,
    rand: String,
    sqn: String,
    amf: String,
    op: String,
    opc: String,
    f1: String,
    f1_star: String,
    f2: String,
    f3: String,
    f4: String,
    f5: String,
    f5_star: String,
}

#[test]
fn milenage_ts35208_sets() {
    let file: File = load_vectors("milenage-ts35208.yaml");
    assert_eq!(file.sets.len(), 6, "the file should hold test sets 1-6");
    for s in &file.sets {
        let at = |field: &str| format!("set {} {field}", s.set);
        let k = K::new(parse_fixed(&s.k).expect("k"));
        let op = Op::new(parse_fixed(&s.op).expect("op"));
        let opc = opc_from_op(&k, &op);
        check(&at("OPc"), &s.opc, opc.expose());
        let m = Milenage::new(&k, Opc::new(parse_fixed(&s.opc).expect("opc")));
        let rand = parse_fixed(&s.rand).expect("rand");
        let (mac_a, mac_s) = m.f1_f1star(
            &rand,
            &parse_fixed(&s.sqn).expect("sqn"),
            &parse_fixed(&s.amf).expect("amf"),
        );
        check(&at("f1 MAC-A"), &s.f1, &mac_a);
        check(&at("f1* MAC-S"), &s.f1_star, &mac_s);
        let out = m.f2345(&rand);
        check(&at("f2 RES"), &s.f2, &out.res);
        check(&at("f3 CK"), &s.f3, out.ck.expose());
        check(&at("f4 IK"), &s.f4, out.ik.expose());
        check(&at("f5 AK"), &s.f5, &out.ak);
        check(&at("f5* AK*"), &s.f5_star, &out.ak_star);
        check(&at("f5* alone"), &s.f5_star, &m.f5star(&rand));
    }
}
