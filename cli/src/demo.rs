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

use gbau_host::session::{ready, CardOpts};
use gbau_host::ua::http_get;
use gbau_host::ub::ResEncoding;
use gbau_network::bsf::core::Bsf;
use gbau_network::bsf::server::{self, Config};
use gbau_network::bsf::sqlite::SqliteStore;
use gbau_network::bsf::store::Store;
use gbau_network::bsf::subscribers::{GbaType, Subscriber};
use gbau_network::naf::Naf;
use gbau_network::zn::ZnClient;

pub use gbau_card::profile::EMBEDDED_PROFILE;
/// The NAF the demo talks to.
pub const DEMO_NAF: &str = "naf.example.org";
/// The demo's NAF Key Center.
const DEMO_KEY_CENTER: &str = "keycenter.example.org";
/// The external devices of the demo.
pub const DEMO_DEVICE: &str = "device-1";
const DEMO_DEVICE_2: &str = "device-2";
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
    /// "GBA_U" (the card computes Ks_ext_NAF) or "GBA_ME" (a card without GBA: the MT does).
    pub mode: &'static str,
    /// Where the card is.
    pub card: String,
    /// The servers the demo ran.
    pub bsf_ub: String,
    pub bsf_zn: String,
    /// Where the NAF listens (loopback).
    pub naf: String,
    /// The resource by the NAF's name, as the MT fetched it (NAF_Id is the URL's host).
    pub naf_url: String,
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
    /// The external device of seed 001.
    pub device_id: String,
    /// Ks_local_MT as the MT stored it, and as the device got it from the NAF Key Center.
    pub ks_local_mt_mt: String,
    pub ks_local_mt_device: String,
    pub local_key_lifetime: String,
    /// The procedures the device runs, in order: full, optimized, stored, then after expiry.
    pub device_procedures: Vec<String>,
    /// True when the second device run used the optimized procedure (§5.5.3).
    pub optimized_procedure_used: bool,
    /// True when, after the key expired, a new Ks_local_MT was established.
    pub local_key_reestablished: bool,
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
        gbau_host::util::unix_now()
    ));
    let result = run_in(&dir, card);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The card options and profile of the demo's card.
fn demo_card(dir: &std::path::Path, card: DemoCard) -> Result<(CardOpts, Profile), DemoError> {
    Ok(match card {
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
    })
}

/// What the MT and the devices of seed 001 did.
struct LocalKeys {
    session: gbau_host::session::Session,
    steps: Vec<Step>,
    procedures: Vec<String>,
    reports: [gbau_host::device::DeviceReport; 3],
    ks_local_mt_mt: String,
}

/// Seed 001: the MT serves its local interface here while the devices run in their own
/// thread (as on their own hardware).
fn local_keys(
    dir: &std::path::Path,
    session: gbau_host::session::Session,
    lab: &Lab,
) -> Result<LocalKeys, DemoError> {
    let sock = dir.join("mt.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).map_err(fail)?;
    let mt = gbau_host::mt::Mt::new(session, Some(lab.bsf_url.clone()), dir.join("mt-keys.json"))
        .map_err(fail)?;
    let dev = {
        let (sock, template, pki, dir) = (
            sock.clone(),
            lab.device(&dir.join("pki"), "", &sock, dir.join("unused")),
            dir.join("pki"),
            dir.to_path_buf(),
        );
        move |id: &str, store: &str| gbau_host::device::DeviceConfig {
            resolve: template.resolve.clone(),
            ..gbau_host::device::DeviceConfig::from_pki(
                &pki,
                id,
                &sock,
                &template.key_center_url,
                dir.join(store),
            )
        }
    };
    let bsf_dev = lab.bsf.clone();
    let device_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = device_done.clone();
    let device_thread = std::thread::spawn(move || {
        let r = device_flow(&dev, &bsf_dev);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    });
    let mt = gbau_host::mt::serve_until(mt, &listener, &device_done);
    let (steps, procedures, reports) = device_thread
        .join()
        .map_err(|_| fail("the device stopped"))?
        .map_err(fail)?;
    let ks_local_mt_mt = mt
        .stored(DEMO_DEVICE)
        .map(|k| to_hex(k.ks_local_mt.expose()))
        .unwrap_or_default();
    Ok(LocalKeys {
        session: mt.into_session(),
        steps,
        procedures,
        reports,
        ks_local_mt_mt,
    })
}

/// The card's Ks_ext_NAF for the demo NAF, as hex.
fn card_key(
    session: &mut gbau_host::session::Session,
    naf_id: &NafId,
) -> Result<String, DemoError> {
    let pin = session.pin.clone();
    session
        .with_card(|u| -> Result<String, gbau_host::cmd::CmdError> {
            ready(u, pin.as_deref())?;
            let impi = gbau_host::cmd::impi_of(u, None)?;
            Ok(to_hex(
                u.gba_naf_key(&naf_id.to_bytes(), Some(impi.as_str()))?
                    .expose(),
            ))
        })
        .map_err(fail)
}

/// One GET of the protected resource, and whether the NAF's key from Zn equals the card's:
/// (the Ua report, the card's key, the NAF's key).
fn fetch(
    session: &mut gbau_host::session::Session,
    lab: &Lab,
    naf_id: &NafId,
    step: &mut dyn FnMut(&'static str, String),
    what: &str,
) -> Result<(gbau_host::ua::UaReport, String, String), DemoError> {
    let r = http_get(
        session,
        &lab.url,
        Some(&lab.bsf_url),
        ResEncoding::Raw,
        &lab.ua,
    )
    .map_err(fail)?;
    for s in &r.steps {
        step("MT", s.clone());
    }
    if r.status != 200 {
        return Err(fail(format!("{what}the NAF answered {}", r.status)));
    }
    let b_tid = r.b_tid.clone().unwrap_or_default();
    let mt = card_key(session, naf_id)?;
    let naf = lab
        .naf
        .cached_key(&b_tid)
        .map(|k| to_hex(k.expose()))
        .unwrap_or_default();
    let verdict = if mt == naf {
        "equal to the card's"
    } else {
        "DIFFERENT"
    };
    step("NAF", format!("Zn gave Ks_ext_NAF for {b_tid}: {verdict}"));
    Ok((r, mt, naf))
}

fn run_in(dir: &std::path::Path, card: DemoCard) -> Result<DemoReport, DemoError> {
    let mut steps = Vec::new();
    let mut step = |actor: &'static str, what: String| steps.push(Step { actor, what });
    let (opts, profile) = demo_card(dir, card)?;
    let lab = start_lab(dir, &profile, &mut step)?;
    let session = opts.open().map_err(fail)?;
    let card_label = session.label.clone();
    let LocalKeys {
        mut session,
        steps: dev_steps,
        procedures,
        reports: [first_dev, second_dev, renewed],
        ks_local_mt_mt,
    } = local_keys(dir, session, &lab)?;
    for s in dev_steps {
        step(s.actor, s.what);
    }
    let naf_id = NafId::new(DEMO_NAF, UaProtocolId::HTTP_DIGEST).map_err(fail)?;
    let (first, mt_first, naf_first) = fetch(&mut session, &lab, &naf_id, &mut step, "")?;
    let b_tid_first = first.b_tid.clone().unwrap_or_default();
    // Key update (seed 000): the session expires at the BSF; the NAF learns it over Zn.
    lab.bsf.store().delete_session(&b_tid_first).map_err(fail)?;
    lab.naf.forget(&b_tid_first);
    step(
        "BSF",
        format!("session {b_tid_first} expired (forced); the NAF drops its cached key"),
    );
    let (second, mt, naf_key) = fetch(
        &mut session,
        &lab,
        &naf_id,
        &mut step,
        "after the key update ",
    )?;
    let b_tid = second.b_tid.clone().unwrap_or_default();
    let naf_addr = lab
        .ua
        .resolve
        .first()
        .map(|(_, port, ip)| format!("http://{ip}:{port}/resource"))
        .unwrap_or_default();
    let Lab {
        rt,
        ub,
        zn_url,
        url: naf_url,
        ..
    } = lab;
    drop(rt);
    Ok(DemoReport {
        mode: second.mode.map_or("GBA_U", gbau_host::ub::GbaMode::name),
        card: card_label,
        bsf_ub: format!("http://{}", ub),
        bsf_zn: zn_url,
        naf: naf_addr,
        naf_url,
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
        device_id: DEMO_DEVICE.to_owned(),
        local_key_lifetime: renewed.key_lifetime.clone(),
        optimized_procedure_used: second_dev.procedure == "optimized",
        local_key_reestablished: renewed.ks_local_mt != first_dev.ks_local_mt
            && renewed.procedure != "stored",
        ks_local_mt_device: renewed.ks_local_mt.clone(),
        ks_local_mt_mt,
        device_procedures: procedures,
        steps,
    })
}

type DeviceFlow = (Vec<Step>, Vec<String>, [gbau_host::device::DeviceReport; 3]);

/// The device's side of the demo: full procedure, optimized (second device), stored-key
/// check, then expiry and re-establishment.
fn device_flow(
    dev: &dyn Fn(&str, &str) -> gbau_host::device::DeviceConfig,
    bsf_dev: &Bsf<SqliteStore>,
) -> Result<DeviceFlow, String> {
    let mut steps = Vec::new();
    let mut procedures = Vec::new();
    let mut run = |cfg: &gbau_host::device::DeviceConfig,
                   steps: &mut Vec<Step>|
     -> Result<gbau_host::device::DeviceReport, String> {
        let r = gbau_host::device::establish(cfg).map_err(|e| e.to_string())?;
        for s in &r.steps {
            steps.push(Step {
                actor: "DEV",
                what: format!("{}: {s}", cfg.device_id),
            });
        }
        procedures.push(format!("{}: {}", cfg.device_id, r.procedure));
        Ok(r)
    };
    let d1 = dev(DEMO_DEVICE, "device-1.json");
    let first = run(&d1, &mut steps)?;
    let second = run(&dev(DEMO_DEVICE_2, "device-2.json"), &mut steps)?;
    run(&d1, &mut steps)?;
    // Expiry: the bootstrapped session ends at the BSF and the device's key lifetime passes.
    bsf_dev
        .store()
        .delete_session(&second.b_tid)
        .map_err(|e| e.to_string())?;
    let mut expired: gbau_host::device::DeviceKey =
        serde_json::from_slice(&std::fs::read(&d1.store).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    expired.key_lifetime = gbau_core::time::format_utc(1);
    gbau_card::store::write_durably(
        &d1.store,
        &serde_json::to_vec(&expired).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    steps.push(Step {
        actor: "BSF",
        what: format!(
            "session {} expired (forced) and {DEMO_DEVICE}'s key lifetime passed",
            second.b_tid
        ),
    });
    let renewed = run(&d1, &mut steps)?;
    Ok((steps, procedures, [first, second, renewed]))
}

/// The network side of the demo and the benchmarks, on 127.0.0.1 with OS-picked ports.
pub struct Lab {
    pub rt: tokio::runtime::Runtime,
    pub bsf: Arc<Bsf<SqliteStore>>,
    pub ub: std::net::SocketAddr,
    pub bsf_url: String,
    pub zn_url: String,
    pub naf: Arc<Naf>,
    /// The NAF's resource, by the NAF's name (the MT derives NAF_Id from the URL's host).
    pub url: String,
    /// How the MT reaches the NAF's name on loopback.
    pub ua: gbau_host::ua::UaOptions,
    pub kc_url: String,
    /// The Key Center's name at its loopback address, for the devices.
    pub kc_resolve: Vec<(String, std::net::SocketAddr)>,
}

impl Lab {
    /// The configuration of device `id` (certificate and key in `pki`) talking to the MT on
    /// `mt_socket` and to this lab's Key Center by name.
    #[must_use]
    pub fn device(
        &self,
        pki: &std::path::Path,
        id: &str,
        mt_socket: &std::path::Path,
        store: std::path::PathBuf,
    ) -> gbau_host::device::DeviceConfig {
        gbau_host::device::DeviceConfig {
            resolve: self.kc_resolve.clone(),
            ..gbau_host::device::DeviceConfig::from_pki(pki, id, mt_socket, &self.kc_url, store)
        }
    }
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("bsf_url", &self.bsf_url)
            .field("kc_url", &self.kc_url)
            .finish_non_exhaustive()
    }
}

/// Start a test PKI (in `dir/pki`), a BSF, a NAF and a NAF Key Center for `profile`'s
/// subscriber; `step` narrates.
pub fn start_lab(
    dir: &std::path::Path,
    profile: &Profile,
    step: &mut dyn FnMut(&'static str, String),
) -> Result<Lab, DemoError> {
    let bsf_fqdn = profile.imsi.bsf_fqdn(profile.mnc_length);

    // PKI and servers on loopback.
    gbau_network::pki::create(
        &dir.join("pki"),
        // Each certificate has one role: the BSF serves, the NAF and the Key Center serve and
        // are Zn clients (two certificates each), the devices are clients.
        &[
            format!("server:{bsf_fqdn}"),
            DEMO_NAF.to_owned(),
            DEMO_KEY_CENTER.to_owned(),
            format!("client:{DEMO_DEVICE}"),
            format!("client:{DEMO_DEVICE_2}"),
        ],
    )
    .map_err(fail)?;
    let pki = |f: &str| dir.join("pki").join(f);
    step(
        "PKI",
        format!(
            "test CA and certificates for {bsf_fqdn}, {DEMO_NAF}, {DEMO_KEY_CENTER}, {DEMO_DEVICE} and {DEMO_DEVICE_2} in {}",
            dir.join("pki").display()
        ),
    );
    let store = SqliteStore::open(&dir.join("bsf")).map_err(fail)?;
    let bsf = Arc::new(Bsf::new(&bsf_fqdn, vec![subscriber(profile)], store));
    let nafs = vec![
        (
            gbau_network::http::cert_file_sha256(&pki(&format!("{DEMO_NAF}.client.pem")))
                .map_err(fail)?,
            vec![DEMO_NAF.to_owned()],
        ),
        (
            gbau_network::http::cert_file_sha256(&pki(&format!("{DEMO_KEY_CENTER}.client.pem")))
                .map_err(fail)?,
            vec![DEMO_KEY_CENTER.to_owned()],
        ),
    ];
    let cfg = Config::loopback(&bsf_fqdn, &dir.join("pki"), nafs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(fail)?;
    let bound = server::spawn(&rt, bsf.clone(), cfg).map_err(fail)?;
    // Clients reach the servers by name (the certificates name nothing else), resolved to
    // their loopback ports.
    let zn_addr = bound.zn.ok_or_else(|| fail("no Zn listener"))?;
    let zn_url = format!("https://{bsf_fqdn}:{}/zn", zn_addr.port());
    let zn = (zn_url.as_str(), &[(bsf_fqdn.clone(), zn_addr)][..]);
    step(
        "BSF",
        format!(
            "Ub on http://{}, Zn on {zn_url} (client certificates)",
            bound.ub
        ),
    );
    let (naf, naf_addr) = start_naf(&rt, &pki("ca.pem"), &pki, zn)?;
    let url = format!("http://{DEMO_NAF}:{}/resource", naf_addr.port());
    let ua = gbau_host::ua::UaOptions {
        resolve: vec![(DEMO_NAF.to_owned(), naf_addr.port(), naf_addr.ip())],
        ca: None,
    };
    let bsf_url = format!("http://{}/", bound.ub);
    step("NAF", format!("{DEMO_NAF} on {url}, keys over Zn"));

    let (kc_url, kc_addr) = start_key_center(&rt, dir, zn)?;
    step(
        "KC",
        format!("NAF Key Center keycenter.example.org on {kc_url} (device certificates)"),
    );
    Ok(Lab {
        rt,
        bsf,
        ub: bound.ub,
        bsf_url,
        zn_url,
        naf,
        url,
        ua,
        kc_url,
        kc_resolve: vec![(DEMO_KEY_CENTER.to_owned(), kc_addr)],
    })
}

/// The demo NAF on loopback, its keys over Zn: the NAF and its address.
fn start_naf(
    rt: &tokio::runtime::Runtime,
    ca: &std::path::Path,
    pki: &dyn Fn(&str) -> std::path::PathBuf,
    (zn_url, zn_resolve): (&str, &[(String, std::net::SocketAddr)]),
) -> Result<(Arc<Naf>, std::net::SocketAddr), DemoError> {
    let zn = ZnClient::new(
        zn_url,
        zn_resolve,
        ca,
        &pki(&format!("{DEMO_NAF}.client.pem")),
        &pki(&format!("{DEMO_NAF}.client.key")),
    )
    .map_err(fail)?;
    let naf = Arc::new(Naf::new(DEMO_NAF, Box::new(zn), "hello from the gbau NAF").map_err(fail)?);
    let (tx, rx) = std::sync::mpsc::channel();
    let naf_task = naf.clone();
    rt.spawn(async move {
        let _ = gbau_network::naf::serve(naf_task, "127.0.0.1:0", None, move |a| {
            let _ = tx.send(a);
        })
        .await;
    });
    let naf_addr = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| fail("the NAF did not start"))?;
    Ok((naf, naf_addr))
}

/// The NAF Key Center of seed 001 on loopback with the demo's two devices: its URL.
fn start_key_center(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    (zn_url, zn_resolve): (&str, &[(String, std::net::SocketAddr)]),
) -> Result<(String, std::net::SocketAddr), DemoError> {
    let pd = |f: &str| dir.join("pki").join(f);
    let devices = vec![
        (
            gbau_network::http::cert_file_sha256(&pd(&format!("{DEMO_DEVICE}.pem")))
                .map_err(fail)?,
            DEMO_DEVICE.to_owned(),
        ),
        (
            gbau_network::http::cert_file_sha256(&pd(&format!("{DEMO_DEVICE_2}.pem")))
                .map_err(fail)?,
            DEMO_DEVICE_2.to_owned(),
        ),
    ];
    let kc_keys = ZnClient::new(
        zn_url,
        zn_resolve,
        &pd("ca.pem"),
        &pd("keycenter.example.org.client.pem"),
        &pd("keycenter.example.org.client.key"),
    )
    .map_err(fail)?;
    let kc = Arc::new(
        gbau_network::key_center::KeyCenter::new(
            DEMO_KEY_CENTER,
            Box::new(kc_keys),
            devices,
            86_400,
        )
        .map_err(fail)?,
    );
    let kc_tls = gbau_network::http::tls_server(
        &pd("keycenter.example.org.pem"),
        &pd("keycenter.example.org.key"),
        &pd("ca.pem"),
    )
    .map_err(fail)?;
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let _ = gbau_network::key_center::serve(kc, "127.0.0.1:0", kc_tls, move |a| {
            let _ = tx.send(a);
        })
        .await;
    });
    let kc_addr = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| fail("the Key Center did not start"))?;
    let kc_url = format!("https://{DEMO_KEY_CENTER}:{}/local-key", kc_addr.port());
    Ok((kc_url, kc_addr))
}
