//! `gbau demo`: the whole GBA_U flow on embedded test keys with no hardware.
//!
//! Until the soft card (issue 3) and the BSF/NAF (issue 5) exist, the demo runs the card's and
//! the network's computations through `gbau-core` in one process and says so: the same
//! algorithms those parts will call, on Milenage test set 1 and the shared GBA_U chain inputs.

use gbau_core::aka::{gba_u_autn, generate_vector, verify_autn, Amf, AutnKind, Rand};
use gbau_core::hexutil::to_hex;
use gbau_core::identity::{BTid, Imsi, MncLength, NafId, UaProtocolId};
use gbau_core::kdf::ks_ext_naf;
use gbau_core::milenage::Milenage;
use gbau_core::secret::{Ks, Opc, K};
use gbau_core::sqn::{Sqn, SqnArray, SqnPolicy};
use serde::Serialize;

/// Test keys of Milenage test set 1 (TS 35.208 §4.3): public, for demonstration only.
const TEST_K: [u8; 16] = [
    0x46, 0x5b, 0x5c, 0xe8, 0xb1, 0x99, 0xb4, 0x9f, 0xaa, 0x5f, 0x0a, 0x2e, 0xe2, 0x38, 0xa6, 0xbc,
];
const TEST_OPC: [u8; 16] = [
    0xcd, 0x63, 0xcb, 0x71, 0x95, 0x4a, 0x9f, 0x4e, 0x48, 0xa5, 0x99, 0x4e, 0x37, 0xa0, 0x2b, 0xaf,
];
const TEST_RAND: [u8; 16] = [
    0x23, 0x55, 0x3c, 0xbe, 0x96, 0x37, 0xa8, 0x9d, 0x21, 0x8a, 0xe6, 0x4d, 0xae, 0x47, 0xbf, 0x35,
];
const TEST_SQN: [u8; 6] = [0xff, 0x9b, 0xb4, 0xd0, 0xb6, 0x07];
const TEST_AMF: [u8; 2] = [0xb9, 0xb9];
const TEST_IMSI: &str = "001010000000001";
const TEST_NAF: &str = "naf.example.org";

/// One line of the demo's narrative.
#[derive(Debug, Serialize)]
pub struct Step {
    pub actor: &'static str,
    pub what: String,
}

/// What `gbau demo --json` prints.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    /// "GBA_U" (the card computes Ks_ext_NAF) or "GBA_ME".
    pub mode: &'static str,
    /// True while the demo runs card and network in-process through gbau-core only.
    pub offline_core_only: bool,
    pub impi: String,
    pub b_tid: String,
    pub naf_id: String,
    pub ks_ext_naf_mt: String,
    pub ks_ext_naf_naf: String,
    pub keys_equal: bool,
    pub replay_in_3g_refused: bool,
    pub replay_in_gba_refused: bool,
    pub steps: Vec<Step>,
}

/// Errors of the demo: a step that should have succeeded did not.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("step failed: {0}")]
    Step(String),
}

fn step(steps: &mut Vec<Step>, actor: &'static str, what: impl Into<String>) {
    steps.push(Step {
        actor,
        what: what.into(),
    });
}

/// Run the demo.
pub fn run() -> Result<DemoReport, DemoError> {
    let fail = |what: &str| DemoError::Step(what.to_owned());
    let mut steps = Vec::new();
    let k = K::new(TEST_K);
    let m = Milenage::new(&k, Opc::new(TEST_OPC));
    let imsi = Imsi::new(TEST_IMSI).map_err(|e| DemoError::Step(e.to_string()))?;
    let impi = imsi.impi(MncLength::Two);
    let bsf = imsi.bsf_fqdn(MncLength::Two);
    step(
        &mut steps,
        "MT",
        format!("IMSI {imsi} → IMPI {impi}, BSF {bsf}"),
    );

    // HSS/BSF: authentication vector, then AUTN* for a GBA_U subscriber.
    let rand = Rand(TEST_RAND);
    let av = generate_vector(&m, &rand, Sqn::from_bytes(TEST_SQN), Amf(TEST_AMF));
    let autn_star = gba_u_autn(&av.autn, &av.ik);
    step(
        &mut steps,
        "BSF",
        format!(
            "401 challenge: RAND {}, AUTN* {} (GBA_U MAC*)",
            to_hex(&rand.0),
            to_hex(&autn_star.0)
        ),
    );

    // UICC, GBA bootstrapping mode: verify MAC*, check SQN freshness, keep Ks.
    let mut sqn_array = SqnArray::new(SqnPolicy {
        delta: None,
        age_limit: None,
    });
    let verified = verify_autn(&m, &rand, &autn_star, AutnKind::GbaU)
        .map_err(|_| fail("UICC refused AUTN*"))?;
    sqn_array
        .check_and_accept(verified.sqn)
        .map_err(|e| DemoError::Step(e.to_string()))?;
    let ks_card = Ks::from_ck_ik(&verified.ck, &verified.ik);
    step(
        &mut steps,
        "UICC",
        format!(
            "AUTN* verified, SQN {} fresh; Ks kept on the card; RES {} returned",
            verified.sqn,
            to_hex(verified.res.as_bytes())
        ),
    );

    // BSF: RES check, B-TID.
    if verified.res != av.xres {
        return Err(fail("BSF: RES does not match XRES"));
    }
    let ks_bsf = Ks::from_ck_ik(&av.ck, &av.ik);
    let b_tid = BTid::from_rand(&rand, &bsf);
    step(
        &mut steps,
        "BSF",
        format!("RES = XRES; session B-TID {b_tid}"),
    );

    // Replays are refused by the card.
    let replay_in_3g_refused = verify_autn(&m, &rand, &autn_star, AutnKind::Plain).is_err();
    step(
        &mut steps,
        "UICC",
        format!(
            "same RAND/AUTN* in the 3G context: {}",
            if replay_in_3g_refused {
                "refused (9862), CK/IK stay on the card"
            } else {
                "ACCEPTED"
            }
        ),
    );
    let replay_in_gba_refused = verify_autn(&m, &rand, &autn_star, AutnKind::GbaU)
        .map(|v| sqn_array.check(v.sqn).is_err())
        .unwrap_or(true);
    step(
        &mut steps,
        "UICC",
        format!(
            "same RAND/AUTN* again in GBA mode: {}",
            if replay_in_gba_refused {
                "refused (SQN not fresh → AUTS)"
            } else {
                "ACCEPTED"
            }
        ),
    );

    // NAF derivation on the card, and at the NAF via the BSF (Zn).
    let naf_id = NafId::new(TEST_NAF, UaProtocolId::HTTP_DIGEST)
        .map_err(|e| DemoError::Step(e.to_string()))?;
    let kdf_fail = |e: gbau_core::kdf::KdfParameterTooLong| DemoError::Step(e.to_string());
    let mt_key = ks_ext_naf(&ks_card, &rand, &impi, &naf_id).map_err(kdf_fail)?;
    let naf_key = ks_ext_naf(&ks_bsf, &rand, &impi, &naf_id).map_err(kdf_fail)?;
    step(
        &mut steps,
        "UICC",
        format!("GBA NAF derivation for {TEST_NAF} (Ua 01 00 00 00 02): Ks_ext_NAF to the MT"),
    );
    step(
        &mut steps,
        "NAF",
        "Zn: Ks_ext_NAF for (B-TID, NAF_Id) from the BSF",
    );
    let keys_equal = mt_key == naf_key;
    Ok(DemoReport {
        mode: "GBA_U",
        offline_core_only: true,
        impi: impi.to_string(),
        b_tid: b_tid.to_string(),
        naf_id: to_hex(&naf_id.to_bytes()),
        ks_ext_naf_mt: to_hex(mt_key.expose()),
        ks_ext_naf_naf: to_hex(naf_key.expose()),
        keys_equal,
        replay_in_3g_refused,
        replay_in_gba_refused,
        steps,
    })
}
