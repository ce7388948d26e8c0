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

pub(crate) fn unexpected(e: &dyn std::fmt::Display) -> BenchError {
    BenchError::Unexpected(e.to_string())
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
