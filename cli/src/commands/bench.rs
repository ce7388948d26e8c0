//! `gbau bench ...`: benchmarks that print their figures.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use gbau_host::session::CardOpts;

use super::card::soft_profile;
use crate::bench::{self, CardBench, LocalKeyBench, LocalKeyFigures};
use crate::bench_bsf::{self, BsfBench};
use crate::card_args::{Legacy, Uses};
use crate::failure::Failure;
use crate::output::print_json;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Seed 001: time the device's full, optimized and stored-key procedures (card in-process;
    /// with --reader, through the reader and in-process as the baseline)
    LocalKey {
        #[command(flatten)]
        card: CardOpts,
        /// Optimized and stored-key runs
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// BSF: simulated UEs bootstrapping over HTTP on loopback, then Zn lookups over HTTPS
    Bsf {
        /// Number of simulated UEs (soft USIMs)
        #[arg(long, default_value_t = 200)]
        ues: usize,
        /// Concurrent clients
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Seconds of bootstrapping (Zn lookups run half as long)
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Also run on PostgreSQL (postgres://USER@HOST:PORT/DB): one BSF instance, then
        /// --instances sharing the database, beside the SQLite figures
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// BSF instances on the --store database in the last run
        #[arg(long, default_value_t = 2, requires = "store")]
        instances: usize,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// NAF under a flood of unauthenticated requests while a GBA client keeps fetching: the
    /// flood absorbed per second and the legitimate client's latency (every fetch must get 200)
    Flood {
        /// Unauthenticated GETs to send
        #[arg(long, default_value_t = 100_000)]
        requests: u64,
        /// Concurrent flooding clients
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Soft card: GBA bootstraps per second in-process, SELECT round trip through PC/SC
    Card {
        /// Also time SELECT through this PC/SC reader (the soft card in the virtual reader)
        #[arg(long, env = "GBAU_READER", value_name = "NAME")]
        reader: Option<String>,
        /// Card profile (default: the embedded test profile)
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
        /// Number of GBA bootstraps to time
        #[arg(long, default_value_t = 2000)]
        bootstraps: usize,
        /// Number of SELECT round trips to time
        #[arg(long, default_value_t = 1000)]
        selects: usize,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

pub fn exec(legacy: &Legacy, c: BenchCommand) -> Result<ExitCode, Failure> {
    match c {
        BenchCommand::LocalKey { card, runs, json } => {
            let card = legacy.merge(card, Uses::ALL, "bench local-key");
            let r = bench::local_key(&card, runs)?;
            if json {
                print_json(&r)?;
            } else {
                print_local_key(&r);
            }
        }
        BenchCommand::Bsf {
            ues,
            concurrency,
            seconds,
            store,
            instances,
            json,
        } => {
            drop(legacy.merge(CardOpts::default(), Uses::NONE, "bench bsf"));
            let r = bench_bsf::bsf(ues, concurrency, seconds, store.as_deref(), instances)?;
            if json {
                print_json(&r)?;
            } else {
                print_bsf(&r);
            }
        }
        BenchCommand::Flood {
            requests,
            concurrency,
            json,
        } => {
            drop(legacy.merge(CardOpts::default(), Uses::NONE, "bench flood"));
            let r = crate::flood::flood(requests, concurrency)?;
            if json {
                print_json(&r)?;
            } else {
                print_flood(&r);
            }
            if r.legitimate_failures > 0 || r.legitimate.count == 0 {
                return Ok(ExitCode::from(crate::failure::EXIT_FAILURE));
            }
        }
        BenchCommand::Card {
            reader,
            profile,
            bootstraps,
            selects,
            json,
        } => {
            let own = CardOpts {
                reader,
                profile,
                ..CardOpts::default()
            };
            let uses = Uses {
                reader: true,
                profile: true,
                ..Uses::NONE
            };
            let card = legacy.merge(own, uses, "bench card");
            let profile = soft_profile(&card)?;
            let r = bench::card(
                &profile,
                bootstraps.max(1),
                selects.max(1),
                card.reader.as_deref(),
            )?;
            if json {
                print_json(&r)?;
            } else {
                print_card(&r);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_local_key(r: &LocalKeyBench) {
    print_local_key_figures("local key establishment (seed 001), card:", &r.figures);
    if let (Some(base), Some(ratio)) = (&r.in_process, r.reader_over_in_process) {
        print_local_key_figures("in-process baseline (same run), card:", base);
        println!("  reader / in-process, optimized procedure median: {ratio:.2}");
    }
}

fn print_local_key_figures(title: &str, r: &LocalKeyFigures) {
    println!("{title} {}", r.card);
    println!(
        "  first establishment ({}): {:.1} ms",
        r.first_procedure, r.first_ms
    );
    println!(
        "  optimized procedure (renewal: key check, then the request with the proof):    median {:.1} ms  p90 {:.1} ms  ({} runs)",
        r.optimized.median_us / 1e3,
        r.optimized.p90_us / 1e3,
        r.optimized.count
    );
    println!(
        "  stored-key check:       median {:.1} ms  p90 {:.1} ms  ({} runs)",
        r.stored_check.median_us / 1e3,
        r.stored_check.p90_us / 1e3,
        r.stored_check.count
    );
}

fn print_bsf(r: &BsfBench) {
    println!(
        "BSF benchmark: {} UEs, {} concurrent clients; full bootstraps (Ub: 2 HTTP round trips + card), then Zn lookups over HTTPS (client certificate) and over Diameter (TS 29.109)",
        r.ues, r.concurrency
    );
    if let Some(db) = &r.database {
        println!("  PostgreSQL: {db} (instances in this process, each with its own pool)");
    }
    println!(
        "  {:<30} {:>9} {:>13} {:>7} {:>7} {:>11} {:>7} {:>7} {:>14} {:>7} {:>7}",
        "store",
        "instances",
        "bootstraps/s",
        "p50 ms",
        "p99 ms",
        "Zn HTTPS/s",
        "p50 ms",
        "p99 ms",
        "Zn Diameter/s",
        "p50 ms",
        "p99 ms"
    );
    for f in &r.runs {
        let (l, z, d) = (&f.bootstrap_latency, &f.zn_latency, &f.zn_diameter_latency);
        println!(
            "  {:<30} {:>9} {:>13.0} {:>7.2} {:>7.2} {:>11.0} {:>7.2} {:>7.2} {:>14.0} {:>7.2} {:>7.2}",
            f.store,
            f.instances,
            f.bootstraps_per_s,
            l.median_us / 1000.0,
            l.p99_us / 1000.0,
            f.zn_lookups_per_s,
            z.median_us / 1000.0,
            z.p99_us / 1000.0,
            f.zn_diameter_lookups_per_s,
            d.median_us / 1000.0,
            d.p99_us / 1000.0
        );
    }
}

fn print_card(r: &CardBench) {
    println!(
        "soft card benchmark ({} GBA bootstraps, {} SELECTs)",
        r.bootstraps, r.select_in_process.count
    );
    println!(
        "  GBA bootstrap in-process, state in memory : {:>10.0} /s",
        r.bootstraps_per_s_in_memory
    );
    println!("  GBA bootstrap in-process, durable state   : {:>10.0} /s  (tmp + fsync + rename per bootstrap)", r.bootstraps_per_s_durable);
    let l = &r.select_in_process;
    println!(
        "  SELECT in-process (baseline)   median {:>8.1} us  p99 {:>8.1} us",
        l.median_us, l.p99_us
    );
    if let (Some(l), Some(name)) = (&r.select_pcsc, &r.reader) {
        println!("  SELECT via PC/SC {name:?}: median {:>8.1} us  p90 {:>8.1} us  p99 {:>8.1} us  max {:>8.1} us", l.median_us, l.p90_us, l.p99_us, l.max_us);
        println!(
            "  PC/SC / in-process median ratio: {:.1}",
            r.pcsc_over_in_process.unwrap_or(0.0)
        );
    }
}

fn print_flood(r: &crate::flood::FloodBench) {
    println!(
        "NAF flood: {} unauthenticated GETs in {:.1} s = {:.0} /s absorbed ({} not 401); nonce table bound {}",
        r.flood_requests, r.flood_seconds, r.flood_requests_per_s, r.flood_unexpected, r.nonce_table_capacity
    );
    let l = &r.legitimate;
    println!(
        "  legitimate GBA client during the flood: {} fetches, {} failed; p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        l.count,
        r.legitimate_failures,
        l.median_us / 1e3,
        l.p99_us / 1e3,
        l.max_us / 1e3
    );
}
