//! `gbau demo`: the whole GBA_U flow with no hardware and no set-up.
//!
//! The card side is real: the soft USIM (or a card in a PC/SC reader) answers AUTHENTICATE
//! APDUs through the typed USIM client. The network side (HSS/BSF session store and the
//! NAF's Zn fetch) runs in this process on `gbau-core` until the BSF and NAF servers exist
//! (issue 5); the report says so in `network`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gbau_card::{Profile, SoftCard};
use gbau_core::aka::{gba_u_autn, generate_vector, verify_auts, Amf, AuthVector, Rand};
use gbau_core::hexutil::to_hex;
use gbau_core::identity::{BTid, Impi, NafId, UaProtocolId};
use gbau_core::kdf::ks_ext_naf;
use gbau_core::milenage::Milenage;
use gbau_core::secret::{Ks, KsNaf};
use gbau_core::sqn::Sqn;
use gbau_core::StatusWord;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::transport::{PcscTransport, SoftTransport, Transport};
use crate::usim::{AuthOutcome, Usim, UsimError};

/// The profile the demo embeds: Milenage test set 1, public test keys.
pub const EMBEDDED_PROFILE: &str = include_str!("../../card-applet-sim/profiles/test-set-1.yaml");
/// The RAND of the first bootstrap: the shared GBA_U chain's, so a fresh card reproduces it.
const FIRST_RAND: [u8; 16] = [
    0x23, 0x55, 0x3c, 0xbe, 0x96, 0x37, 0xa8, 0x9d, 0x21, 0x8a, 0xe6, 0x4d, 0xae, 0x47, 0xbf, 0x35,
];
/// The chain's SQN, where the demo's HSS starts counting.
const FIRST_SQN: u64 = 0xff9b_b4d0_b607;
/// The chain's AMF.
const AMF: [u8; 2] = [0xb9, 0xb9];
/// The NAF the demo talks to.
pub const DEMO_NAF: &str = "naf.example.org";
/// Key lifetime the demo's BSF grants.
const KEY_LIFETIME: Duration = Duration::from_secs(3600);
/// SQN step between vectors: one SEQ, same IND (TS 33.102 Annex C.3.2 example).
const SQN_STEP: u64 = 1 << gbau_core::sqn::IND_BITS;

/// One line of the narrative.
#[derive(Debug, Serialize)]
pub struct Step {
    pub actor: &'static str,
    pub what: String,
}

/// What `gbau demo --json` prints.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    /// "GBA_U": the card computes Ks_ext_NAF.
    pub mode: &'static str,
    /// Where the card is: "soft card (in-process)" or the PC/SC reader's name.
    pub card: String,
    /// How the network side ran.
    pub network: &'static str,
    pub impi: String,
    /// The B-TID in force at the end (after the key update).
    pub b_tid: String,
    /// The B-TID of the first bootstrap.
    pub b_tid_first: String,
    pub naf_id: String,
    /// Ks_ext_NAF as the card derived it (after the key update).
    pub ks_ext_naf_mt: String,
    /// Ks_ext_NAF as the NAF obtained it from the BSF (after the key update).
    pub ks_ext_naf_naf: String,
    /// Ks_ext_NAF of the first bootstrap, card side.
    pub ks_ext_naf_first: String,
    pub keys_equal: bool,
    /// True when the forced key update led to a new bootstrap and a new B-TID.
    pub key_update_rebootstrapped: bool,
    pub replay_in_3g_refused: bool,
    pub replay_in_gba_refused: bool,
    pub resynchronisations: u32,
    pub steps: Vec<Step>,
}

/// A demo step that failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("card: {0}")]
    Usim(#[from] UsimError),
    #[error("profile: {0}")]
    Profile(#[from] gbau_card::profile::ProfileError),
    #[error("soft card: {0}")]
    Card(#[from] gbau_card::SoftCardError),
    #[error("transport: {0}")]
    Transport(#[from] crate::transport::TransportError),
    #[error("{0}")]
    Step(String),
}

/// Where the demo's card is.
#[derive(Debug)]
pub enum DemoCard {
    /// The soft card in this process, from the embedded profile.
    Embedded,
    /// A card in a PC/SC reader whose keys the profile gives.
    Reader {
        name: String,
        profile: Box<Profile>,
        pin: Option<String>,
    },
}

/// The in-process HSS/BSF: the subscriber's Milenage, an SQN counter, sessions.
struct Network {
    milenage: Milenage,
    next_sqn: u64,
    rand: [u8; 16],
    bsf_fqdn: String,
    session: Option<(BTid, Ks, Rand)>,
}

impl Network {
    fn vector(&mut self) -> AuthVector {
        let v = generate_vector(
            &self.milenage,
            &Rand(self.rand),
            Sqn::new(self.next_sqn).unwrap_or_default(),
            Amf(AMF),
        );
        self.next_sqn += SQN_STEP;
        v
    }

    fn next_rand(&mut self) {
        let d = Sha256::digest(self.rand);
        self.rand.copy_from_slice(&d[..16]);
    }

    /// Zn: Ks_ext_NAF for (B-TID, NAF_Id), or None when the B-TID is unknown/expired.
    fn zn(&self, b_tid: &BTid, impi: &Impi, naf_id: &NafId) -> Option<KsNaf> {
        let (known, ks, rand) = self.session.as_ref()?;
        (known == b_tid)
            .then(|| ks_ext_naf(ks, rand, impi, naf_id).ok())
            .flatten()
    }
}

fn step(steps: &mut Vec<Step>, actor: &'static str, what: impl Into<String>) {
    steps.push(Step {
        actor,
        what: what.into(),
    });
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One bootstrap: challenge, card, resynchronisation when needed, session and EF_GBABP.
fn bootstrap<T: Transport>(
    usim: &mut Usim<T>,
    net: &mut Network,
    steps: &mut Vec<Step>,
    resyncs: &mut u32,
) -> Result<(BTid, Rand, gbau_core::aka::Autn), DemoError> {
    for _ in 0..3 {
        let v = net.vector();
        let autn_star = gba_u_autn(&v.autn, &v.ik);
        step(
            steps,
            "BSF",
            format!(
                "401 challenge: RAND {}, AUTN* {} (GBA_U MAC*)",
                to_hex(&v.rand.0),
                to_hex(&autn_star.0)
            ),
        );
        match usim.gba_bootstrap(&v.rand, &autn_star)? {
            AuthOutcome::SyncFailure(auts) => {
                let sqn_ms = verify_auts(&net.milenage, &v.rand, &auts)
                    .map_err(|_| DemoError::Step("BSF: AUTS does not verify".into()))?;
                net.next_sqn = sqn_ms.value() + SQN_STEP;
                *resyncs += 1;
                step(
                    steps,
                    "UICC",
                    format!("SQN not fresh: AUTS returned; BSF resynchronises to SQN_MS {sqn_ms}"),
                );
            }
            AuthOutcome::Success(res) => {
                if res != v.xres {
                    return Err(DemoError::Step("BSF: RES does not match XRES".into()));
                }
                let b_tid = BTid::from_rand(&v.rand, &net.bsf_fqdn);
                net.session = Some((b_tid.clone(), Ks::from_ck_ik(&v.ck, &v.ik), v.rand));
                let lifetime = gbau_core::time::format_utc(now() + KEY_LIFETIME.as_secs());
                step(
                    steps,
                    "UICC",
                    format!(
                        "AUTN* verified, Ks kept on the card, RES {} returned",
                        to_hex(res.as_bytes())
                    ),
                );
                step(
                    steps,
                    "BSF",
                    format!("RES = XRES: session {b_tid}, lifetime {lifetime}"),
                );
                usim.write_btid_lifetime(b_tid.as_str(), &lifetime)?;
                step(steps, "MT", "B-TID and lifetime written to EF_GBABP");
                net.next_rand();
                return Ok((b_tid, v.rand, autn_star));
            }
        }
    }
    Err(DemoError::Step(
        "bootstrap did not succeed after 3 resynchronisations".into(),
    ))
}

/// Run the demo.
pub fn run(card: DemoCard) -> Result<DemoReport, DemoError> {
    match card {
        DemoCard::Embedded => {
            let profile = Profile::from_yaml(EMBEDDED_PROFILE)?;
            let pin = pin_of(&profile);
            let t = SoftTransport {
                card: SoftCard::in_memory(profile.clone())?,
            };
            run_with(
                Usim::new(t),
                &profile,
                Some(pin),
                "soft card (in-process)".into(),
            )
        }
        DemoCard::Reader { name, profile, pin } => {
            let t = PcscTransport::connect(&name, Duration::from_secs(10))?;
            let label = t.reader().to_owned();
            // Without --pin, the profile's PIN1 (the profile already holds the card's keys).
            let pin = pin.or_else(|| Some(pin_of(&profile)));
            run_with(Usim::new(t), &profile, pin, label)
        }
    }
}

fn pin_of(profile: &Profile) -> String {
    profile
        .pin1
        .value
        .block()
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|b| char::from(*b))
        .collect()
}

fn run_with<T: Transport>(
    mut usim: Usim<T>,
    profile: &Profile,
    pin: Option<String>,
    card: String,
) -> Result<DemoReport, DemoError> {
    let mut steps = Vec::new();
    usim.select_usim()?;
    if let Some(pin) = pin {
        usim.verify_pin1(&pin)?;
        step(&mut steps, "MT", "ADF.USIM selected, PIN1 verified");
    }
    let imsi = usim.imsi()?;
    let mnc = usim.mnc_length()?;
    let impi = imsi.impi(mnc);
    let bsf_fqdn = imsi.bsf_fqdn(mnc);
    step(
        &mut steps,
        "MT",
        format!(
            "IMSI {imsi} (MNC length {}) → IMPI {impi}, BSF {bsf_fqdn}",
            mnc.digits()
        ),
    );
    let milenage =
        Milenage::with_constants(&profile.k, profile.opc.clone(), profile.milenage.clone())
            .map_err(|e| DemoError::Step(e.to_string()))?;
    let mut net = Network {
        milenage,
        next_sqn: FIRST_SQN,
        rand: FIRST_RAND,
        bsf_fqdn,
        session: None,
    };
    let mut resyncs = 0;

    let (b_tid_first, rand_first, autn_first) =
        bootstrap(&mut usim, &mut net, &mut steps, &mut resyncs)?;
    let naf_id = NafId::new(DEMO_NAF, UaProtocolId::HTTP_DIGEST)
        .map_err(|e| DemoError::Step(e.to_string()))?;
    let first_mt = usim.gba_naf_key(&naf_id.to_bytes(), Some(impi.as_str()))?;
    step(
        &mut steps,
        "UICC",
        format!("GBA NAF derivation for {DEMO_NAF} (Ua 01 00 00 00 02): Ks_ext_NAF to the MT"),
    );
    let first_naf = net
        .zn(&b_tid_first, &impi, &naf_id)
        .ok_or_else(|| DemoError::Step("Zn: B-TID unknown".into()))?;
    step(
        &mut steps,
        "NAF",
        format!(
            "Zn: Ks_ext_NAF for {b_tid_first} — {}",
            if first_mt == first_naf {
                "equal to the MT's"
            } else {
                "DIFFERENT"
            }
        ),
    );

    // Replays of the accepted challenge.
    let r3g = usim.send(&crate::usim::apdus::authenticate_3g(
        &rand_first,
        &autn_first,
    ))?;
    let replay_in_3g_refused = r3g.sw == StatusWord::AuthenticationErrorIncorrectMac;
    step(
        &mut steps,
        "UICC",
        format!(
            "same RAND/AUTN* in the 3G context: {}",
            if replay_in_3g_refused {
                "9862, CK/IK stay on the card"
            } else {
                "ACCEPTED"
            }
        ),
    );
    let rgba = usim.send(&crate::usim::apdus::gba_bootstrap(&rand_first, &autn_first))?;
    let replay_in_gba_refused = rgba.sw == StatusWord::Ok && rgba.data.first() == Some(&0xDC);
    step(
        &mut steps,
        "UICC",
        format!(
            "same RAND/AUTN* in GBA mode: {}",
            if replay_in_gba_refused {
                "SQN not fresh, AUTS"
            } else {
                "ACCEPTED"
            }
        ),
    );

    // Key update (seed 000): the BSF session expires; the NAF asks the UE to bootstrap again.
    net.session = None;
    step(
        &mut steps,
        "BSF",
        "session expired (forced): the B-TID is no longer known",
    );
    let update_needed = net.zn(&b_tid_first, &impi, &naf_id).is_none();
    step(
        &mut steps,
        "NAF",
        "Zn: unknown B-TID → 401 with a fresh bootstrapping-required challenge (key update)",
    );
    let (b_tid, _, _) = bootstrap(&mut usim, &mut net, &mut steps, &mut resyncs)?;
    let mt = usim.gba_naf_key(&naf_id.to_bytes(), Some(impi.as_str()))?;
    let naf = net
        .zn(&b_tid, &impi, &naf_id)
        .ok_or_else(|| DemoError::Step("Zn: new B-TID unknown".into()))?;
    step(&mut steps, "NAF", format!("Zn: new Ks_ext_NAF for {b_tid}"));
    Ok(DemoReport {
        mode: "GBA_U",
        card,
        network: "in-process (HSS/BSF/NAF functions of gbau-core; servers come with issue 5)",
        impi: impi.to_string(),
        b_tid: b_tid.to_string(),
        b_tid_first: b_tid_first.to_string(),
        naf_id: to_hex(&naf_id.to_bytes()),
        ks_ext_naf_mt: to_hex(mt.expose()),
        ks_ext_naf_naf: to_hex(naf.expose()),
        ks_ext_naf_first: to_hex(first_mt.expose()),
        keys_equal: mt == naf && first_mt == first_naf,
        key_update_rebootstrapped: update_needed && b_tid != b_tid_first,
        replay_in_3g_refused,
        replay_in_gba_refused,
        resynchronisations: resyncs,
        steps,
    })
}
