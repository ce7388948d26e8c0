//! `gbau bench flood`: a NAF under a flood of unauthenticated requests, each of which makes
//! it issue a nonce, while a legitimate client (the soft card, GBA_U) keeps fetching the
//! protected resource. The NAF's nonce table is bounded and forgets its oldest entries first,
//! so the flood must never lock the legitimate client out: every one of its requests must get
//! 200. Prints the requests absorbed per second and the legitimate client's latency during the
//! flood. Everything runs on 127.0.0.1.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gbau_card::Profile;
use gbau_host::session::CardOpts;
use gbau_host::ub::ResEncoding;
use serde::Serialize;

use crate::bench::{summarize, BenchError, Latency};

/// What `gbau bench flood` prints.
#[derive(Debug, Serialize)]
pub struct FloodBench {
    /// Unauthenticated GETs sent (each answered 401 with a fresh nonce).
    pub flood_requests: u64,
    pub flood_seconds: f64,
    pub flood_requests_per_s: f64,
    /// Of the flood's answers, how many were not the expected 401.
    pub flood_unexpected: u64,
    /// Complete GBA fetches of the legitimate client during the flood (401 then 200).
    pub legitimate: Latency,
    /// Legitimate fetches that did not end in 200: must be 0.
    pub legitimate_failures: usize,
    /// The NAF's nonce table bound.
    pub nonce_table_capacity: usize,
}

/// Flood the demo NAF with `requests` unauthenticated GETs from `concurrency` clients while
/// the soft card fetches the resource over and over.
pub fn flood(requests: u64, concurrency: usize) -> Result<FloodBench, BenchError> {
    let unexpected = |e: &dyn std::fmt::Display| BenchError::Unexpected(e.to_string());
    let dir = std::env::temp_dir().join(format!(
        "gbau-bench-flood-{}-{}",
        std::process::id(),
        gbau_host::util::unix_now()
    ));
    let profile =
        Profile::from_yaml(gbau_card::profile::EMBEDDED_PROFILE).map_err(|e| unexpected(&e))?;
    let lab = crate::demo::start_lab(&dir, &profile, &mut |_, _| {}).map_err(|e| unexpected(&e))?;
    let mut session = CardOpts {
        sim: Some(dir.join("card.json")),
        ..CardOpts::default()
    }
    .open()
    .map_err(|e| unexpected(&e))?;
    let (_, port, ip) = lab.ua.resolve[0].clone();
    let raw_url = format!("http://{ip}:{port}/resource");
    // One fetch before the flood: the card bootstraps, the NAF caches its key.
    let warm = gbau_host::ua::http_get(
        &mut session,
        &lab.url,
        Some(&lab.bsf_url),
        ResEncoding::Raw,
        &lab.ua,
    )
    .map_err(|e| unexpected(&e))?;
    if warm.status != 200 {
        return Err(unexpected(&format!("the first fetch got {}", warm.status)));
    }
    let sent = Arc::new(AtomicU64::new(0));
    let odd = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (sent, odd, url) = (sent.clone(), odd.clone(), raw_url.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                while sent.fetch_add(1, Ordering::Relaxed) < requests {
                    match client.get(&url).send() {
                        Ok(r) if r.status().as_u16() == 401 => {}
                        _ => {
                            odd.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            for w in workers {
                let _ = w.join();
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut latencies = Vec::new();
    let mut failures = 0usize;
    loop {
        let finished = done.load(Ordering::SeqCst);
        let t0 = Instant::now();
        match gbau_host::ua::http_get(
            &mut session,
            &lab.url,
            Some(&lab.bsf_url),
            ResEncoding::Raw,
            &lab.ua,
        ) {
            Ok(r) if r.status == 200 => latencies.push(t0.elapsed()),
            _ => failures += 1,
        }
        // One more fetch after the flood ended: the table is full of the flood's nonces.
        if finished {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = watcher.join();
    let seconds = start.elapsed().as_secs_f64();
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(FloodBench {
        flood_requests: requests,
        flood_seconds: seconds,
        flood_requests_per_s: requests as f64 / seconds,
        flood_unexpected: odd.load(Ordering::Relaxed),
        legitimate: summarize(latencies),
        legitimate_failures: failures,
        nonce_table_capacity: gbau_network::naf::MAX_NONCES,
    })
}
