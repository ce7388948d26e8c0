//! `gbau demo`: the whole GBA_U flow on one machine with no set-up. A test PKI in a temporary
//! directory, a BSF (Ub over HTTP, Zn over HTTPS with client certificates, SQLite store) and
//! a NAF on 127.0.0.1, the soft card in this process (or a card in a PC/SC reader), and the
//! MT's `gbau http` logic: bootstrap, fetch the protected resource, force a key update by
//! expiring the session, and fetch again.

use std::sync::Arc;
use std::time::Duration;

use gbau_card::Profile;
use gbau_core::hexutil::to_hex;
use gbau_core::identity::{NafId, UaProtocolId};
use serde::Serialize;

use crate::bsf::core::Bsf;
use crate::bsf::server::{self, Bound, Config, ZnConfig};
use crate::bsf::sqlite::SqliteStore;
use crate::bsf::store::Store;
use crate::bsf::subscribers::{GbaType, Subscriber};
use crate::naf::Naf;
use crate::session::{ready, CardOpts};
use crate::ua::http_get;
use crate::ub::ResEncoding;
use crate::zn::ZnClient;

/// The profile the demo embeds: Milenage test set 1, public test keys.
pub const EMBEDDED_PROFILE: &str = include_str!("../../card-applet-sim/profiles/test-set-1.yaml");
/// The NAF the demo talks to.
pub const DEMO_NAF: &str = "naf.example.org";
/// The SQN the demo's HSS starts from (the shared chain's).
const FIRST_SQN: u64 = 0xff9b_b4d0_b607;

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
    /// Where the card is.
    pub card: String,
    /// The servers the demo ran.
    pub bsf_ub: String,
    pub bsf_zn: String,
    pub naf: String,
    /// The B-TID in force at the end (after the key update).
    pub b_tid: String,
    /// The B-TID of the first bootstrap.
    pub b_tid_first: String,
    pub naf_id: String,
    /// Ks_ext_NAF as the card derived it (after the key update).
    pub ks_ext_naf_mt: String,
    /// Ks_ext_NAF as the NAF obtained it over Zn (after the key update).
    pub ks_ext_naf_naf: String,
    /// The same pair for the first bootstrap.
    pub ks_ext_naf_mt_first: String,
    pub ks_ext_naf_naf_first: String,
    pub keys_equal: bool,
    /// True when the forced key update led to a new bootstrap and a new B-TID.
    pub key_update_rebootstrapped: bool,
    pub resource: String,
    pub steps: Vec<Step>,
}

/// A demo step that failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Step(String),
}

fn fail(e: impl std::fmt::Display) -> DemoError {
    DemoError::Step(e.to_string())
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

fn subscriber(profile: &Profile) -> Subscriber {
    Subscriber {
        impi: profile.imsi.impi(profile.mnc_length),
        k: profile.k.clone(),
        opc: profile.opc.clone(),
        milenage: profile.milenage.clone(),
        amf: [0x80, 0x00],
        sqn_start: FIRST_SQN,
        uicc: GbaType::GbaU,
        key_lifetime_secs: 3600,
        uss: None,
    }
}

/// Run the demo.
pub fn run(card: DemoCard) -> Result<DemoReport, DemoError> {
    let dir = std::env::temp_dir().join(format!(
        "gbau-demo-{}-{}",
        std::process::id(),
        crate::http::unix_now()
    ));
    let result = run_in(&dir, card);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(dir: &std::path::Path, card: DemoCard) -> Result<DemoReport, DemoError> {
    let mut steps = Vec::new();
    let mut step = |actor: &'static str, what: String| steps.push(Step { actor, what });
    let (opts, profile) = match card {
        DemoCard::Embedded => {
            let p = Profile::from_yaml(EMBEDDED_PROFILE).map_err(fail)?;
            (
                CardOpts {
                    sim: Some(dir.join("card.json")),
                    ..CardOpts::default()
                },
                p,
            )
        }
        DemoCard::Reader { name, profile, pin } => (
            CardOpts {
                reader: Some(name),
                // Without --pin, the profile's PIN1 (the profile already holds the card's keys).
                pin: pin.or_else(|| {
                    Some(
                        profile
                            .pin1
                            .value
                            .block()
                            .iter()
                            .take_while(|b| b.is_ascii_digit())
                            .map(|b| char::from(*b))
                            .collect(),
                    )
                }),
                ..CardOpts::default()
            },
            *profile,
        ),
    };
    let bsf_fqdn = profile.imsi.bsf_fqdn(profile.mnc_length);

    // PKI and servers on loopback.
    crate::pki::create(&dir.join("pki"), &[bsf_fqdn.clone(), DEMO_NAF.to_owned()]).map_err(fail)?;
    let pki = |f: &str| dir.join("pki").join(f);
    step(
        "PKI",
        format!(
            "test CA and certificates for {bsf_fqdn} and {DEMO_NAF} in {}",
            dir.join("pki").display()
        ),
    );
    let store = SqliteStore::open(&dir.join("bsf")).map_err(fail)?;
    let bsf = Arc::new(Bsf::new(&bsf_fqdn, vec![subscriber(&profile)], store));
    let nafs = vec![(
        crate::http::cert_file_sha256(&pki(&format!("{DEMO_NAF}.pem"))).map_err(fail)?,
        vec![DEMO_NAF.to_owned()],
    )];
    let cfg = Config {
        fqdn: bsf_fqdn.clone(),
        ub_listen: "127.0.0.1:0".into(),
        zn: Some(ZnConfig {
            listen: "127.0.0.1:0".into(),
            cert: pki(&format!("{bsf_fqdn}.pem")),
            key: pki(&format!("{bsf_fqdn}.key")),
            client_ca: pki("ca.pem"),
            nafs,
        }),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(fail)?;
    let (tx, rx) = std::sync::mpsc::channel::<Bound>();
    let bsf_task = bsf.clone();
    rt.spawn(async move {
        if let Err(e) = server::run(bsf_task, cfg, move |b| {
            let _ = tx.send(b);
        })
        .await
        {
            tracing::error!("BSF: {e}");
        }
    });
    let bound = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| fail("the BSF did not start"))?;
    let zn_url = format!(
        "https://{}/zn",
        bound.zn.ok_or_else(|| fail("no Zn listener"))?
    );
    step(
        "BSF",
        format!(
            "Ub on http://{}, Zn on {zn_url} (client certificates)",
            bound.ub
        ),
    );
    let zn = ZnClient::new(
        &zn_url,
        &pki("ca.pem"),
        &pki(&format!("{DEMO_NAF}.pem")),
        &pki(&format!("{DEMO_NAF}.key")),
    )
    .map_err(fail)?;
    let naf = Arc::new(Naf::new(DEMO_NAF, Box::new(zn), "hello from the gbau NAF").map_err(fail)?);
    let (tx, rx) = std::sync::mpsc::channel();
    let naf_task = naf.clone();
    rt.spawn(async move {
        let _ = crate::naf::serve(naf_task, "127.0.0.1:0", move |a| {
            let _ = tx.send(a);
        })
        .await;
    });
    let naf_addr = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| fail("the NAF did not start"))?;
    let url = format!("http://{naf_addr}/resource");
    let bsf_url = format!("http://{}/", bound.ub);
    step("NAF", format!("{DEMO_NAF} on {url}, keys over Zn"));

    let mut session = opts.open().map_err(fail)?;
    let card_label = session.label.clone();
    let naf_id = NafId::new(DEMO_NAF, UaProtocolId::HTTP_DIGEST).map_err(fail)?;
    let card_key = |session: &mut crate::session::Session| -> Result<String, DemoError> {
        let pin = session.pin.clone();
        session
            .with_card(|u| -> Result<String, crate::cmd::CmdError> {
                ready(u, pin.as_deref())?;
                let impi = crate::cmd::impi_of(u, None)?;
                Ok(to_hex(
                    u.gba_naf_key(&naf_id.to_bytes(), Some(impi.as_str()))?
                        .expose(),
                ))
            })
            .map_err(fail)
    };

    let first = http_get(&mut session, &url, Some(&bsf_url), ResEncoding::Raw).map_err(fail)?;
    for s in &first.steps {
        step("MT", s.clone());
    }
    if first.status != 200 {
        return Err(fail(format!("the NAF answered {}", first.status)));
    }
    let b_tid_first = first.b_tid.clone().unwrap_or_default();
    let mt_first = card_key(&mut session)?;
    let naf_first = naf.cached_key(&b_tid_first).unwrap_or_default();
    step(
        "NAF",
        format!(
            "Zn gave Ks_ext_NAF for {b_tid_first}: {}",
            if mt_first == naf_first {
                "equal to the card's"
            } else {
                "DIFFERENT"
            }
        ),
    );

    // Key update (seed 000): the session expires at the BSF; the NAF learns it over Zn.
    bsf.store().delete_session(&b_tid_first).map_err(fail)?;
    naf.forget(&b_tid_first);
    step(
        "BSF",
        format!("session {b_tid_first} expired (forced); the NAF drops its cached key"),
    );
    let second = http_get(&mut session, &url, Some(&bsf_url), ResEncoding::Raw).map_err(fail)?;
    for s in &second.steps {
        step("MT", s.clone());
    }
    if second.status != 200 {
        return Err(fail(format!(
            "after the key update the NAF answered {}",
            second.status
        )));
    }
    let b_tid = second.b_tid.clone().unwrap_or_default();
    let mt = card_key(&mut session)?;
    let naf_key = naf.cached_key(&b_tid).unwrap_or_default();
    step(
        "NAF",
        format!(
            "Zn gave the new Ks_ext_NAF for {b_tid}: {}",
            if mt == naf_key {
                "equal to the card's"
            } else {
                "DIFFERENT"
            }
        ),
    );
    drop(rt);
    Ok(DemoReport {
        mode: "GBA_U",
        card: card_label,
        bsf_ub: format!("http://{}", bound.ub),
        bsf_zn: zn_url,
        naf: url,
        b_tid: b_tid.clone(),
        b_tid_first: b_tid_first.clone(),
        naf_id: to_hex(&naf_id.to_bytes()),
        keys_equal: mt == naf_key && mt_first == naf_first && !mt.is_empty(),
        ks_ext_naf_mt: mt,
        ks_ext_naf_naf: naf_key,
        ks_ext_naf_mt_first: mt_first,
        ks_ext_naf_naf_first: naf_first,
        key_update_rebootstrapped: second.key_update && b_tid != b_tid_first,
        resource: second.body.lines().next().unwrap_or_default().to_owned(),
        steps,
    })
}
