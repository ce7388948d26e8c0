//! `gbau bench card`: the soft card's figures. GBA bootstraps per second in-process (state in
//! memory, and with the durable state file), and the SELECT round trip through a PC/SC reader
//! (pcscd + vpcd for the soft card) against the same SELECT in-process as the baseline.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gbau_card::{Profile, SoftCard};
use gbau_core::aka::{gba_u_autn, generate_vector, Amf, Rand};
use gbau_core::exchange::transceive;
use gbau_core::milenage::Milenage;
use gbau_core::sqn::Sqn;
use gbau_core::{CommandApdu, StatusWord};
use serde::Serialize;

use gbau_host::transport::{PcscTransport, Transport, TransportError};

/// Errors of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Card(#[from] gbau_card::SoftCardError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("unexpected answer during the benchmark: {0}")]
    Unexpected(String),
    #[error("temporary directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Latency summary in microseconds.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub count: usize,
    pub median_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

pub(crate) fn summarize(mut samples: Vec<Duration>) -> Latency {
    samples.sort();
    let at = |q: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * q).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    Latency {
        count: samples.len(),
        median_us: at(0.5),
        p90_us: at(0.9),
        p99_us: at(0.99),
        max_us: at(1.0),
    }
}

/// What `gbau bench card` prints.
#[derive(Debug, Serialize)]
pub struct CardBench {
    pub bootstraps: usize,
    pub bootstraps_per_s_in_memory: f64,
    pub bootstraps_per_s_durable: f64,
    pub select_in_process: Latency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select_pcsc: Option<Latency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reader: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcsc_over_in_process: Option<f64>,
}

const SELECT_MF_NO_DATA: [u8; 7] = [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00];

fn select_usim() -> CommandApdu {
    CommandApdu::new(0x00, 0xA4, 0x04, 0x0C).with_data(gbau_core::ef::USIM_AID_PREFIX.to_vec())
}

fn must_ok(sw: StatusWord, what: &str) -> Result<(), BenchError> {
    if sw.is_ok() {
        Ok(())
    } else {
        Err(BenchError::Unexpected(format!("{what}: {sw}")))
    }
}

/// Bootstraps per second on a card: challenges are built beforehand, only the card is timed.
fn bootstraps_per_s(card: &mut SoftCard, profile: &Profile, n: usize) -> Result<f64, BenchError> {
    let m = Milenage::with_constants(&profile.k, profile.opc.clone(), profile.milenage.clone())
        .map_err(|e| BenchError::Unexpected(e.to_string()))?;
    let mut tx = |raw: &[u8]| card.transmit(raw);
    let r =
        transceive(&mut tx, &select_usim()).map_err(|e| BenchError::Unexpected(e.to_string()))?;
    must_ok(r.sw, "select USIM")?;
    let verify =
        CommandApdu::new(0x00, 0x20, 0x00, 0x01).with_data(profile.pin1.value.block().to_vec());
    must_ok(
        transceive(&mut tx, &verify)
            .map_err(|e| BenchError::Unexpected(e.to_string()))?
            .sw,
        "verify PIN1",
    )?;
    let commands: Vec<CommandApdu> = (1..=n as u64)
        .map(|i| {
            let rand = Rand([(i % 251) as u8; 16]);
            let sqn = Sqn::new((i << 5) | (i % 32)).unwrap_or_default();
            let av = generate_vector(&m, &rand, sqn, Amf([0x80, 0x00]));
            let mut data = vec![0xDD, 0x10];
            data.extend_from_slice(&rand.0);
            data.push(0x10);
            data.extend_from_slice(&gba_u_autn(&av.autn, &av.ik).0);
            CommandApdu::new(0x00, 0x88, 0x00, 0x84)
                .with_data(data)
                .with_ne(256)
        })
        .collect();
    let start = Instant::now();
    for c in &commands {
        let r = transceive(&mut tx, c).map_err(|e| BenchError::Unexpected(e.to_string()))?;
        if r.sw != StatusWord::Ok || r.data.first() != Some(&0xDB) {
            return Err(BenchError::Unexpected(format!(
                "bootstrap answered {} {}",
                hex::encode(&r.data),
                r.sw
            )));
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn select_latency(
    t: &mut gbau_core::exchange::RawTransmit<'_, BenchError>,
    n: usize,
) -> Result<Latency, BenchError> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let r = t(&SELECT_MF_NO_DATA)?;
        samples.push(start.elapsed());
        if r != [0x90, 0x00] {
            return Err(BenchError::Unexpected(format!(
                "SELECT MF answered {}",
                hex::encode(r)
            )));
        }
    }
    Ok(summarize(samples))
}

/// Run the card benchmark; with `reader`, also time SELECT through PC/SC.
pub fn card(
    profile: &Profile,
    bootstraps: usize,
    selects: usize,
    reader: Option<&str>,
) -> Result<CardBench, BenchError> {
    let mut mem = SoftCard::in_memory(profile.clone())?;
    let in_memory = bootstraps_per_s(&mut mem, profile, bootstraps)?;

    let dir = std::env::temp_dir().join(format!("gbau-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let state: PathBuf = dir.join("card.json");
    let durable = {
        let mut card = SoftCard::open(profile.clone(), &state)?;
        bootstraps_per_s(&mut card, profile, bootstraps)
    };
    let _ = std::fs::remove_dir_all(&dir);
    let durable = durable?;

    let mut local = SoftCard::in_memory(profile.clone())?;
    let select_in_process = select_latency(
        &mut |raw| {
            local
                .transmit(raw)
                .map_err(|e| BenchError::Unexpected(e.to_string()))
        },
        selects,
    )?;
    let (select_pcsc, reader_name) = match reader {
        None => (None, None),
        Some(r) => {
            let mut t = PcscTransport::connect(r, Duration::from_secs(10))?;
            let name = t.reader().to_owned();
            let lat = select_latency(&mut |raw| Ok(t.transmit(raw)?), selects)?;
            (Some(lat), Some(name))
        }
    };
    let ratio = select_pcsc
        .as_ref()
        .map(|p| p.median_us / select_in_process.median_us.max(1e-3));
    Ok(CardBench {
        bootstraps,
        bootstraps_per_s_in_memory: in_memory,
        bootstraps_per_s_durable: durable,
        select_in_process,
        select_pcsc,
        reader: reader_name,
        pcsc_over_in_process: ratio,
    })
}

/// What `gbau bench bsf` prints.
#[derive(Debug, Serialize)]
pub struct BsfBench {
    pub ues: usize,
    pub concurrency: usize,
    pub seconds: f64,
    pub bootstraps: usize,
    pub bootstraps_per_s: f64,
    pub bootstrap_latency: Latency,
    pub zn_lookups: usize,
    pub zn_lookups_per_s: f64,
    pub zn_latency: Latency,
    pub store: &'static str,
}

/// Many simulated UEs (soft USIMs in this process) bootstrapping against a BSF on loopback
/// over real HTTP, then NAF lookups over Zn (HTTPS with a client certificate).
pub fn bsf(ues: usize, concurrency: usize, seconds: f64) -> Result<BsfBench, BenchError> {
    use gbau_network::bsf::core::Bsf;
    use gbau_network::bsf::server::Config;

    let (ues, concurrency) = (ues.max(1), concurrency.max(1));
    let dir = std::env::temp_dir().join(format!(
        "gbau-bench-bsf-{}-{}",
        std::process::id(),
        gbau_host::util::unix_now()
    ));
    let (profiles, subs) = simulated_subscribers(ues)?;
    let fqdn = profiles[0].imsi.bsf_fqdn(profiles[0].mnc_length);
    gbau_network::pki::create(
        &dir.join("pki"),
        &[format!("server:{fqdn}"), "client:naf.example.org".into()],
    )
    .map_err(|e| unexpected(&e))?;
    let pki = |f: &str| dir.join("pki").join(f);
    let store = gbau_network::bsf::sqlite::SqliteStore::open(&dir.join("bsf"))
        .map_err(|e| unexpected(&e))?;
    let bsf = Arc::new(Bsf::new(&fqdn, subs, store));
    let nafs = vec![(
        gbau_network::http::cert_file_sha256(&pki("naf.example.org.pem"))
            .map_err(|e| unexpected(&e))?,
        vec!["naf.example.org".to_owned()],
    )];
    let cfg = Config::loopback(&fqdn, &dir.join("pki"), nafs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let bound =
        gbau_network::bsf::server::spawn(&rt, bsf.clone(), cfg).map_err(BenchError::Unexpected)?;
    let ub_url = format!("http://{}/", bound.ub);
    let zn_addr = bound.zn.unwrap_or(bound.ub);
    let zn_url = format!("https://{fqdn}:{}/zn", zn_addr.port());
    let (lat, btids, elapsed) = run_bootstraps(&profiles, concurrency, &ub_url, &fqdn, seconds)?;
    let zn = gbau_network::zn::ZnClient::new(
        &zn_url,
        &[(fqdn.clone(), zn_addr)],
        &pki("ca.pem"),
        &pki("naf.example.org.pem"),
        &pki("naf.example.org.key"),
    )
    .map_err(|e| unexpected(&e))?;
    let (zlat, zelapsed) = run_zn_lookups(&zn, &btids, concurrency, seconds / 2.0)?;
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
    let bootstraps = lat.len();
    Ok(BsfBench {
        ues,
        concurrency,
        seconds: elapsed,
        bootstraps,
        bootstraps_per_s: bootstraps as f64 / elapsed,
        bootstrap_latency: summarize(lat),
        zn_lookups: zlat.len(),
        zn_lookups_per_s: zlat.len() as f64 / zelapsed,
        zn_latency: summarize(zlat),
        store: "SQLite WAL, synchronous=FULL",
    })
}

fn unexpected(e: &dyn std::fmt::Display) -> BenchError {
    BenchError::Unexpected(e.to_string())
}

/// `n` soft-card profiles made from the embedded one with IMSIs 00101 0000000001.., and the
/// BSF's subscriber records for them.
fn simulated_subscribers(
    n: usize,
) -> Result<
    (
        Vec<Profile>,
        Vec<gbau_network::bsf::subscribers::Subscriber>,
    ),
    BenchError,
> {
    use gbau_network::bsf::subscribers::{GbaType, Subscriber};
    let mut profiles = Vec::new();
    let mut subs = Vec::new();
    for i in 0..n {
        let imsi = format!("00101{:010}", i + 1);
        let text = gbau_card::profile::EMBEDDED_PROFILE
            .replace("imsi: \"001010000000001\"", &format!("imsi: \"{imsi}\""));
        let p = Profile::from_yaml(&text).map_err(|e| unexpected(&e))?;
        subs.push(Subscriber {
            impi: p.imsi.impi(p.mnc_length),
            k: p.k.clone(),
            opc: p.opc.clone(),
            milenage: p.milenage.clone(),
            amf: [0x80, 0],
            sqn_start: 0x20,
            uicc: GbaType::GbaU,
            key_lifetime_secs: 3600,
            uss: None,
        });
        profiles.push(p);
    }
    Ok((profiles, subs))
}

/// Bootstrap the UEs round-robin from `concurrency` threads for `seconds`: the latencies,
/// up to 64 B-TIDs per thread for the Zn phase, and the seconds it took.
fn run_bootstraps(
    profiles: &[Profile],
    concurrency: usize,
    ub_url: &str,
    fqdn: &str,
    seconds: f64,
) -> Result<(Vec<Duration>, Vec<String>, f64), BenchError> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut handles = Vec::new();
    for w in 0..concurrency {
        let mine: Vec<Profile> = profiles
            .iter()
            .skip(w)
            .step_by(concurrency)
            .cloned()
            .collect();
        let (stop, ub_url, fqdn) = (stop.clone(), ub_url.to_owned(), fqdn.to_owned());
        handles.push(std::thread::spawn(move || {
            ue_worker(w, mine, &ub_url, &fqdn, &stop)
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(seconds.max(0.5)));
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    let mut btids = Vec::new();
    for h in handles {
        let (l, b) = h
            .join()
            .map_err(|_| BenchError::Unexpected("a UE worker panicked".into()))?
            .map_err(BenchError::Unexpected)?;
        lat.extend(l);
        btids.extend(b);
    }
    Ok((lat, btids, start.elapsed().as_secs_f64()))
}

/// One client thread: its soft cards (USIM selected, PIN1 verified) bootstrap in turn until
/// `stop`.
fn ue_worker(
    w: usize,
    mine: Vec<Profile>,
    ub_url: &str,
    fqdn: &str,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<(Vec<Duration>, Vec<String>), String> {
    use gbau_host::session::LockedUsim;
    let mut cards: Vec<(SoftCard, String)> = Vec::new();
    for p in mine {
        let impi = p.imsi.impi(p.mnc_length).to_string();
        let mut c = SoftCard::in_memory(p).map_err(|e| e.to_string())?;
        for a in ["00A4040C07A0000000871002", "002000010831323334FFFFFFFF"] {
            c.transmit(&hex::decode(a).unwrap_or_default())
                .map_err(|e| e.to_string())?;
        }
        cards.push((c, impi));
    }
    let mut exchange = gbau_host::ub::http_exchange(ub_url, true).map_err(|e| e.to_string())?;
    let (mut lat, mut btids) = (Vec::new(), Vec::new());
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) && !cards.is_empty() {
        let n = cards.len();
        let (card, impi) = &mut cards[i % n];
        i += 1;
        let t0 = Instant::now();
        let r = {
            let mut u: LockedUsim<'_> = gbau_host::usim::Usim::new(card as &mut dyn Transport);
            gbau_host::ub::bootstrap(
                &mut u,
                impi,
                fqdn,
                gbau_host::ub::ResEncoding::Raw,
                &format!("{w:04x}{i:08x}"),
                &mut exchange,
            )
        };
        let b = r.map_err(|e| e.to_string())?;
        lat.push(t0.elapsed());
        if btids.len() < 64 {
            btids.push(b.b_tid);
        }
    }
    Ok((lat, btids))
}

/// Zn lookups of the bootstrapped B-TIDs from `concurrency` threads for `seconds`: the
/// latencies and the seconds it took.
fn run_zn_lookups(
    zn: &gbau_network::zn::ZnClient,
    btids: &[String],
    concurrency: usize,
    seconds: f64,
) -> Result<(Vec<Duration>, f64), BenchError> {
    let naf_id = hex::encode(
        gbau_core::identity::NafId::new(
            "naf.example.org",
            gbau_core::identity::UaProtocolId::HTTP_DIGEST,
        )
        .map_err(|e| unexpected(&e))?
        .to_bytes(),
    );
    let zstop = Arc::new(AtomicBool::new(false));
    let zstart = Instant::now();
    let mut zh = Vec::new();
    for w in 0..concurrency {
        let (zn, naf_id, btids, zstop) =
            (zn.clone(), naf_id.clone(), btids.to_vec(), zstop.clone());
        zh.push(std::thread::spawn(
            move || -> Result<Vec<Duration>, String> {
                let mut lat = Vec::new();
                let mut i = w;
                while !zstop.load(Ordering::Relaxed) && !btids.is_empty() {
                    let t0 = Instant::now();
                    zn.fetch(&gbau_network::bsf::core::ZnRequest {
                        b_tid: btids[i % btids.len()].clone(),
                        naf_id: naf_id.clone(),
                        gba_u_aware: true,
                    })
                    .map_err(|e| e.to_string())?;
                    lat.push(t0.elapsed());
                    i += 1;
                }
                Ok(lat)
            },
        ));
    }
    std::thread::sleep(Duration::from_secs_f64(seconds.max(0.5)));
    zstop.store(true, Ordering::Relaxed);
    let mut zlat = Vec::new();
    for h in zh {
        zlat.extend(
            h.join()
                .map_err(|_| BenchError::Unexpected("a Zn worker panicked".into()))?
                .map_err(BenchError::Unexpected)?,
        );
    }
    Ok((zlat, zstart.elapsed().as_secs_f64()))
}

/// The local-key figures of one card.
#[derive(Debug, Serialize)]
pub struct LocalKeyFigures {
    pub card: String,
    /// The first establishment (full procedure on a card without a valid B-TID), ms.
    pub first_procedure: String,
    pub first_ms: f64,
    /// Optimized procedure (§5.5.3), per run.
    pub optimized: Latency,
    /// Stored-key check with the MT, per run.
    pub stored_check: Latency,
}

/// What `gbau bench local-key` prints: the figures of the card asked for and, when that is
/// a reader, the same procedures with the soft card in this process as the baseline.
#[derive(Debug, Serialize)]
pub struct LocalKeyBench {
    #[serde(flatten)]
    pub figures: LocalKeyFigures,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_process: Option<LocalKeyFigures>,
    /// Median of the optimized procedure through the reader over the in-process median.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reader_over_in_process: Option<f64>,
}

/// Time the device's procedures against the MT service (card in-process or in `card.reader`),
/// a NAF Key Center and a BSF on loopback. Times are the device's whole procedure, MT and
/// network included. With a reader, the in-process card runs first as the baseline.
pub fn local_key(
    card: &gbau_host::session::CardOpts,
    runs: usize,
) -> Result<LocalKeyBench, BenchError> {
    let in_process = match card.reader {
        None => None,
        Some(_) => {
            let soft = gbau_host::session::CardOpts {
                reader: None,
                sim: None,
                ..card.clone()
            };
            Some(local_key_figures(&soft, runs)?)
        }
    };
    let figures = local_key_figures(card, runs)?;
    let reader_over_in_process = in_process
        .as_ref()
        .map(|b| figures.optimized.median_us / b.optimized.median_us.max(1e-3));
    Ok(LocalKeyBench {
        figures,
        in_process,
        reader_over_in_process,
    })
}

/// The figures of one card: a lab (BSF, Key Center) and an MT service of their own.
fn local_key_figures(
    card: &gbau_host::session::CardOpts,
    runs: usize,
) -> Result<LocalKeyFigures, BenchError> {
    let dir = std::env::temp_dir().join(format!(
        "gbau-bench-local-{}-{}",
        std::process::id(),
        gbau_host::util::unix_now()
    ));
    std::fs::create_dir_all(&dir)?;
    let r = local_key_in(&dir, card, runs);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// In `dir`: the lab, the MT on the card `card` names, the device's runs against them.
fn local_key_in(
    dir: &std::path::Path,
    card: &gbau_host::session::CardOpts,
    runs: usize,
) -> Result<LocalKeyFigures, BenchError> {
    let profile = card
        .load_profile(true)
        .map_err(|e| unexpected(&e))?
        .ok_or_else(|| BenchError::Unexpected("no profile".into()))?;
    let lab = crate::demo::start_lab(dir, &profile, &mut |_, _| {}).map_err(|e| unexpected(&e))?;
    let mut opts = card.clone();
    if opts.reader.is_none() {
        opts.sim = Some(dir.join("card.json"));
    }
    if opts.pin.is_none() {
        opts.pin = Some(
            profile
                .pin1
                .value
                .block()
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|b| char::from(*b))
                .collect(),
        );
    }
    let session = opts.open().map_err(|e| unexpected(&e))?;
    let label = session.label.clone();
    let sock = dir.join("mt.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock)?;
    let mt = gbau_host::mt::Mt::new(session, Some(lab.bsf_url.clone()), dir.join("mt-keys.json"))
        .map_err(|e| unexpected(&e))?;
    let pki = dir.join("pki");
    let cfg = |id: &str, store: &str| lab.device(&pki, id, &sock, dir.join(store));
    let (d1, d2) = (cfg("device-1", "d1.json"), cfg("device-2", "d2.json"));
    let done = Arc::new(AtomicBool::new(false));
    let wake = WakeOnDrop(done.clone(), sock.clone());
    let worker = std::thread::spawn(move || {
        let _wake = wake;
        device_runs(&d1, &d2, runs)
    });
    serve_until(mt, &listener, &done);
    let (first_procedure, first_t, opt, stored) = worker
        .join()
        .map_err(|_| BenchError::Unexpected("device thread".into()))?
        .map_err(BenchError::Unexpected)?;
    drop(lab);
    Ok(LocalKeyFigures {
        card: label,
        first_procedure,
        first_ms: first_t.as_secs_f64() * 1e3,
        optimized: summarize(opt),
        stored_check: summarize(stored),
    })
}

/// Says the device is done and connects once to the MT's socket, when the device thread
/// ends however it ends, so the MT's blocking accept returns and sees it.
struct WakeOnDrop(Arc<AtomicBool>, PathBuf);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        let _ = std::os::unix::net::UnixStream::connect(&self.1);
    }
}

/// Serve the device's connections one at a time with a blocking accept, as `gbau mt serve`
/// does (no polling delay in the figures), until the device is done.
fn serve_until(
    mut mt: gbau_host::mt::Mt,
    listener: &std::os::unix::net::UnixListener,
    done: &AtomicBool,
) {
    for conn in listener.incoming() {
        if done.load(Ordering::SeqCst) {
            break;
        }
        if let Ok(c) = conn {
            mt.serve_connection(&mut gbau_host::mt::Stream::Unix(c));
        }
    }
}

type DeviceRuns = (String, Duration, Vec<Duration>, Vec<Duration>);

/// The device's side: the first establishment, then `runs` optimized procedures (device 2
/// renewing its key: the MT replaces a usable key only with the device's proof, so each run
/// is a key check and then the optimized procedure carrying that proof) and stored-key checks
/// (device 1).
fn device_runs(
    d1: &gbau_host::device::DeviceConfig,
    d2: &gbau_host::device::DeviceConfig,
    runs: usize,
) -> Result<DeviceRuns, String> {
    let t0 = Instant::now();
    let first = gbau_host::device::establish(d1).map_err(|e| e.to_string())?;
    let first_t = t0.elapsed();
    let (mut opt, mut stored) = (Vec::new(), Vec::new());
    let d2 = gbau_host::device::DeviceConfig {
        renew: true,
        ..d2.clone()
    };
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let r = gbau_host::device::establish(&d2).map_err(|e| e.to_string())?;
        if r.procedure != "optimized" {
            return Err(format!(
                "expected the optimized procedure, ran {}",
                r.procedure
            ));
        }
        opt.push(t.elapsed());
        let t = Instant::now();
        let r = gbau_host::device::establish(d1).map_err(|e| e.to_string())?;
        if r.procedure != "stored" {
            return Err(format!(
                "expected the stored-key check, ran {}",
                r.procedure
            ));
        }
        stored.push(t.elapsed());
    }
    Ok((first.procedure.to_owned(), first_t, opt, stored))
}
