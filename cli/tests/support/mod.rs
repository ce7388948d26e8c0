//! Test fixtures: pcscd started and stopped by the tests themselves, the soft card served to
//! vpcd by the `gbau` binary, temporary directories.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gbau_host::transport::list_readers;

pub mod net;

/// pcsc-lite's socket.
pub const PCSCD_SOCKET: &str = "/run/pcscd/pcscd.comm";
/// The reader vpcd's first slot appears as.
pub const VIRTUAL_READER: &str = "Virtual PCD 00 00";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn profile() -> PathBuf {
    repo().join("card-applet-sim/profiles/test-set-1.yaml")
}

pub fn gbau() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gbau"))
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("gbau-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// pcscd for the duration of the tests: reused when one already runs, otherwise started
/// in the foreground and stopped (SIGTERM, then wait) on drop.
pub struct Pcscd {
    child: Option<Child>,
}

fn pcscd_running() -> bool {
    UnixStream::connect(PCSCD_SOCKET).is_ok()
}

impl Pcscd {
    pub fn ensure() -> Result<Self, String> {
        if pcscd_running() {
            return Ok(Self { child: None });
        }
        let bin = ["/usr/sbin/pcscd", "pcscd"]
            .into_iter()
            .find(|b| Path::new(b).exists() || !b.starts_with('/'))
            .unwrap_or("pcscd");
        let child = Command::new(bin)
            .arg("--foreground")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("cannot start pcscd ({bin}): {e}; install pcscd and vsmartcard-vpcd")
            })?;
        let mut me = Self { child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if pcscd_running()
                && list_readers()
                    .map(|r| r.iter().any(|r| r.name == VIRTUAL_READER))
                    .unwrap_or(false)
            {
                return Ok(me);
            }
            // Our pcscd gave way (another one was still shutting down or just started): use
            // the other one once it answers, or start ours again.
            if let Some(c) = me.child.as_mut() {
                if let Ok(Some(_)) = c.try_wait() {
                    me.child = None;
                    std::thread::sleep(Duration::from_millis(300));
                    if !pcscd_running() {
                        let again = Command::new(bin)
                            .arg("--foreground")
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .spawn();
                        me.child = Some(again.map_err(|e| format!("cannot restart pcscd: {e}"))?);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("pcscd started but reader {VIRTUAL_READER:?} did not appear within 15 s (is vsmartcard-vpcd installed?)"))
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `gbau card serve` on vpcd's first slot with a fresh state file; killed on drop, after
/// which the reader is empty again.
pub struct ServedCard {
    child: Child,
    pub dir: TempDir,
}

fn card_present() -> bool {
    list_readers()
        .map(|r| r.iter().any(|r| r.name == VIRTUAL_READER && r.card_present))
        .unwrap_or(false)
}

fn wait_for(present: bool, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if card_present() == present {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl ServedCard {
    pub fn start() -> Result<Self, String> {
        Self::start_with(&profile())
    }

    pub fn start_with(profile: &Path) -> Result<Self, String> {
        if !wait_for(false, 10) {
            return Err("a card is still in the virtual reader from an earlier test".into());
        }
        let dir = TempDir::new("card");
        let child = gbau()
            .args(["card", "serve", "--profile"])
            .arg(profile)
            .arg("--state")
            .arg(dir.path("card.json"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start gbau card serve: {e}"))?;
        let me = Self { child, dir };
        if !wait_for(true, 15) {
            return Err("the soft card did not appear in the virtual reader within 15 s".into());
        }
        Ok(me)
    }
}

impl Drop for ServedCard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        wait_for(false, 10);
    }
}

/// Send `sig` to process `pid` (no `kill` binary needed).
pub fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(p, sig);
    }
}
