//! Crash test: `gbau card stdio` is killed (SIGKILL) at random moments during a loop of GBA
//! bootstraps. After each restart the state file must load, and every AUTN* whose answer
//! left the card before the kill must be refused (no SQN reuse).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gbau_core::aka::{gba_u_autn, generate_vector, Amf, Rand};
use gbau_core::hexutil::{parse_fixed, to_hex};
use gbau_core::milenage::Milenage;
use gbau_core::secret::{Opc, K};
use gbau_core::sqn::Sqn;
use support::{gbau, profile, TempDir};

const ROUNDS: usize = 12;
const SELECT_USIM: &str = "00A4040C07A0000000871002";
const VERIFY_PIN1: &str = "002000010831323334FFFFFFFF";
/// T=0 answer to a successful bootstrap: DB 08 RES is 10 bytes waiting.
const BOOTSTRAP_OK: &str = "610a";
/// T=0 answer to a synchronisation failure: DC 0E AUTS is 16 bytes waiting.
const SYNC_FAILURE: &str = "6110";

fn bootstrap_apdu(m: &Milenage, i: u64) -> String {
    let rand = Rand([(i % 256) as u8; 16]);
    let sqn = Sqn::new((i << 5) | (i % 32)).unwrap();
    let av = generate_vector(m, &rand, sqn, Amf([0x80, 0x00]));
    format!(
        "0088008423DD10{}10{}00",
        to_hex(&rand.0),
        to_hex(&gba_u_autn(&av.autn, &av.ik).0)
    )
}

struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn send(
    stdin: &mut ChildStdin,
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    apdu: &str,
) -> Option<String> {
    writeln!(stdin, "{apdu}").ok()?;
    stdin.flush().ok()?;
    lines.next()?.ok()
}

#[test]
fn kill_during_bootstraps_never_reuses_an_sqn() {
    let m = Milenage::new(
        &K::new(parse_fixed("465b5ce8b199b49faa5f0a2ee238a6bc").unwrap()),
        Opc::new(parse_fixed("cd63cb71954a9f4e48a5994e37a02baf").unwrap()),
    );
    let dir = TempDir::new("crash");
    let state = dir.path("card.json");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Xorshift(seed);
    let mut next_i: u64 = 1;
    let mut answered: Vec<u64> = Vec::new();
    let mut total_answered = 0usize;
    let started = Instant::now();
    for round in 0..ROUNDS {
        let mut child = gbau()
            .args(["card", "stdio", "--profile"])
            .arg(profile())
            .arg("--state")
            .arg(&state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        if !first.starts_with("ATR ") {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).ok();
            panic!("round {round}: the card did not start after the kill: {first:?} {err}");
        }
        assert_eq!(
            send(&mut stdin, &mut lines, SELECT_USIM).as_deref(),
            Some("9000")
        );
        assert_eq!(
            send(&mut stdin, &mut lines, VERIFY_PIN1).as_deref(),
            Some("9000")
        );
        // Every challenge answered before an earlier kill is refused now.
        for &i in &answered {
            let r = send(&mut stdin, &mut lines, &bootstrap_apdu(&m, i));
            assert_eq!(
                r.as_deref(),
                Some(SYNC_FAILURE),
                "round {round}: SQN of bootstrap {i} was accepted again"
            );
        }
        // Bootstraps until a random kill lands.
        let killed = Arc::new(AtomicBool::new(false));
        let pid = child.id();
        let delay = Duration::from_micros(500 + rng.next() % 40_000);
        let flag = killed.clone();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            support::signal(pid, rustix::process::Signal::KILL);
            flag.store(true, Ordering::SeqCst);
        });
        loop {
            let i = next_i;
            next_i += 1;
            match send(&mut stdin, &mut lines, &bootstrap_apdu(&m, i)) {
                Some(r) if r == BOOTSTRAP_OK => {
                    answered.push(i);
                    total_answered += 1;
                }
                Some(r) => panic!("round {round}: bootstrap {i} answered {r}"),
                None => break,
            }
        }
        killer.join().unwrap();
        assert!(killed.load(Ordering::SeqCst));
        let _ = child.wait();
    }
    println!(
        "crash test: {ROUNDS} kills (SIGKILL) at random moments, {total_answered} bootstraps answered, \
         every answered AUTN* refused after restart; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        total_answered > 0,
        "no bootstrap was answered before the kills"
    );
    // Temporary files of interrupted writes are cleared when the card opens its state again.
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        // The owner's lock file stays beside the state file: it is not a temporary file.
        .filter(|n| !n.to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(
        leftovers.len() <= 2,
        "temporary files pile up: {leftovers:?}"
    );
}
