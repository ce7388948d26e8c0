//! `gbau bench bsf`: simulated UEs (soft USIMs in this process) bootstrapping over HTTP on
//! loopback, then NAF lookups over Zn (HTTPS with a client certificate, then Diameter); with a PostgreSQL
//! URL, the same load on one BSF instance and on several sharing that database, printed
//! beside the SQLite figures of the same run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gbau_card::{Profile, SoftCard};
use gbau_host::transport::Transport;
use serde::Serialize;

use gbau_network::diameter::client::{DiameterZnClient, NafIdentity};
use gbau_network::naf::KeySource;

use crate::bench::{summarize, unexpected, BenchError, Latency};

/// The figures of one store and instance count.
#[derive(Debug, Serialize)]
pub struct BsfFigures {
    pub store: String,
    pub instances: usize,
    pub seconds: f64,
    pub bootstraps: usize,
    pub bootstraps_per_s: f64,
    pub bootstrap_latency: Latency,
    pub zn_lookups: usize,
    pub zn_lookups_per_s: f64,
    pub zn_latency: Latency,
    /// The same lookups over Diameter Zn (BIR/BIA on kept connections).
    pub zn_diameter_lookups_per_s: f64,
    pub zn_diameter_latency: Latency,
}

/// What `gbau bench bsf` prints: SQLite first, then (with a PostgreSQL URL) one instance
/// and `instances` instances on that database.
#[derive(Debug, Serialize)]
pub struct BsfBench {
    pub ues: usize,
    pub concurrency: usize,
    /// The PostgreSQL URL (password redacted), when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    pub runs: Vec<BsfFigures>,
}

/// The SQLite store's description in the figures.
const SQLITE: &str = "SQLite WAL, synchronous=FULL";

/// Run the load against SQLite and, with `store` (a PostgreSQL URL), against one and against
/// `instances` BSF instances sharing that database. Instances run in this process, each
/// with its own store, pool, challenge table and listeners; a UE's successive bootstraps
/// go to the instances in turn, Zn clients are spread over them.
pub fn bsf(
    ues: usize,
    concurrency: usize,
    seconds: f64,
    store: Option<&str>,
    instances: usize,
) -> Result<BsfBench, BenchError> {
    use gbau_network::bsf::server::StoreLocation;
    let (ues, concurrency) = (ues.max(1), concurrency.max(1));
    let dir = std::env::temp_dir().join(format!(
        "gbau-bench-bsf-{}-{}",
        std::process::id(),
        gbau_host::util::unix_now()
    ));
    let lab = Lab::new(&dir, ues)?;
    let mut runs = vec![lab.run(
        &[StoreLocation::Sqlite(dir.join("bsf"))],
        concurrency,
        seconds,
        SQLITE,
    )];
    if let Some(url) = store {
        let name = "PostgreSQL";
        let pg = StoreLocation::Postgres {
            url: url.to_owned(),
            ca: None,
        };
        let one = [pg.clone()];
        runs.push(lab.run(&one, concurrency, seconds, name));
        let several = vec![pg; instances.max(1)];
        runs.push(lab.run(&several, concurrency, seconds, name));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(BsfBench {
        ues,
        concurrency,
        database: store.map(gbau_network::bsf::postgres::redact),
        runs: runs.into_iter().collect::<Result<_, _>>()?,
    })
}

/// What every run shares: the UEs, the BSF's subscribers and the PKI.
struct Lab {
    dir: std::path::PathBuf,
    profiles: Vec<Profile>,
    subs: Vec<gbau_network::bsf::subscribers::Subscriber>,
    fqdn: String,
}

impl Lab {
    fn new(dir: &std::path::Path, ues: usize) -> Result<Self, BenchError> {
        let (profiles, subs) = simulated_subscribers(ues)?;
        let fqdn = profiles[0].imsi.bsf_fqdn(profiles[0].mnc_length);
        gbau_network::pki::create(
            &dir.join("pki"),
            &[format!("server:{fqdn}"), "client:naf.example.org".into()],
        )
        .map_err(|e| unexpected(&e))?;
        Ok(Self {
            dir: dir.to_owned(),
            profiles,
            subs,
            fqdn,
        })
    }

    fn pki(&self, f: &str) -> std::path::PathBuf {
        self.dir.join("pki").join(f)
    }

    /// One BSF instance per store location on one runtime; the load; the figures.
    fn run(
        &self,
        stores: &[gbau_network::bsf::server::StoreLocation],
        concurrency: usize,
        seconds: f64,
        name: &str,
    ) -> Result<BsfFigures, BenchError> {
        use gbau_network::bsf::core::Bsf;
        use gbau_network::bsf::server::Config;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let nafs = vec![(
            gbau_network::http::cert_file_sha256(&self.pki("naf.example.org.pem"))
                .map_err(|e| unexpected(&e))?,
            vec!["naf.example.org".to_owned()],
        )];
        let (mut ub_urls, mut zns, mut dias) = (Vec::new(), Vec::new(), Vec::new());
        for location in stores {
            let store = location.open().map_err(|e| unexpected(&e))?;
            let bsf = Arc::new(Bsf::new(&self.fqdn, self.subs.clone(), store));
            let mut cfg = Config::loopback(&self.fqdn, &self.dir.join("pki"), nafs.clone());
            cfg.zn_diameter = Some(gbau_network::bsf::server::DiameterConfig {
                listen: "127.0.0.1:0".into(),
                identity: self.fqdn.clone(),
                realm: "example.org".into(),
                peers: vec![("naf.example.org".into(), vec!["naf.example.org".into()])],
            });
            let bound =
                gbau_network::bsf::server::spawn(&rt, bsf, cfg).map_err(BenchError::Unexpected)?;
            ub_urls.push(format!("http://{}/", bound.ub));
            let zn_addr = bound.zn.unwrap_or(bound.ub);
            let zn: Arc<dyn KeySource> = Arc::new(
                gbau_network::zn::ZnClient::new(
                    &format!("https://{}:{}/zn", self.fqdn, zn_addr.port()),
                    &[(self.fqdn.clone(), zn_addr)],
                    &self.pki("ca.pem"),
                    &self.pki("naf.example.org.pem"),
                    &self.pki("naf.example.org.key"),
                )
                .map_err(|e| unexpected(&e))?,
            );
            zns.push(zn);
            let dia = bound.zn_diameter.unwrap_or(bound.ub);
            let dia: Arc<dyn KeySource> = Arc::new(DiameterZnClient::new(
                &dia.to_string(),
                NafIdentity {
                    host: "naf.example.org".into(),
                    realm: "example.org".into(),
                },
            ));
            dias.push(dia);
        }
        let (lat, btids, elapsed) =
            run_bootstraps(&self.profiles, concurrency, &ub_urls, &self.fqdn, seconds)?;
        let (zlat, zelapsed) = run_zn_lookups(&zns, &btids, concurrency, seconds / 2.0)?;
        let (dlat, delapsed) = run_zn_lookups(&dias, &btids, concurrency, seconds / 2.0)?;
        drop(rt);
        let bootstraps = lat.len();
        Ok(BsfFigures {
            store: name.to_owned(),
            instances: stores.len(),
            seconds: elapsed,
            bootstraps,
            bootstraps_per_s: bootstraps as f64 / elapsed,
            bootstrap_latency: summarize(lat),
            zn_lookups: zlat.len(),
            zn_lookups_per_s: zlat.len() as f64 / zelapsed,
            zn_latency: summarize(zlat),
            zn_diameter_lookups_per_s: dlat.len() as f64 / delapsed,
            zn_diameter_latency: summarize(dlat),
        })
    }
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
    ub_urls: &[String],
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
        let (stop, ub_urls, fqdn) = (stop.clone(), ub_urls.to_vec(), fqdn.to_owned());
        handles.push(std::thread::spawn(move || {
            ue_worker(w, mine, &ub_urls, &fqdn, &stop)
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
    ub_urls: &[String],
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
    let mut exchanges = ub_urls
        .iter()
        .map(|u| gbau_host::ub::http_exchange(u, true))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let n_urls = exchanges.len().max(1);
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
                // Each pass over the cards goes to the next instance.
                &mut exchanges[(w + i / n) % n_urls],
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
    zns: &[Arc<dyn KeySource>],
    btids: &[String],
    concurrency: usize,
    seconds: f64,
) -> Result<(Vec<Duration>, f64), BenchError> {
    let naf_id = gbau_core::identity::NafId::new(
        "naf.example.org",
        gbau_core::identity::UaProtocolId::HTTP_DIGEST,
    )
    .map_err(|e| unexpected(&e))?;
    let zstop = Arc::new(AtomicBool::new(false));
    let zstart = Instant::now();
    let mut zh = Vec::new();
    for w in 0..concurrency {
        let (zn, naf_id, btids, zstop) = (
            zns[w % zns.len()].clone(),
            naf_id.clone(),
            btids.to_vec(),
            zstop.clone(),
        );
        zh.push(std::thread::spawn(
            move || -> Result<Vec<Duration>, String> {
                let mut lat = Vec::new();
                let mut i = w;
                while !zstop.load(Ordering::Relaxed) && !btids.is_empty() {
                    let t0 = Instant::now();
                    zn.key(&btids[i % btids.len()], &naf_id)
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
