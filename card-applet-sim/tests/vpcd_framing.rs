//! The vpcd bridge against a fake vpcd on 127.0.0.1 (port picked by the OS): frames that
//! arrive coalesced in one segment, unknown control bytes, ATR requests, and reconnection
//! with backoff when the peer goes away (as when pcscd restarts).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gbau_card::{Profile, SoftCard};

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut p = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut p).unwrap();
    p
}

fn soft_card() -> SoftCard {
    let p = Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/test-set-1.yaml"))
        .unwrap();
    SoftCard::in_memory(p).unwrap()
}

#[test]
fn coalesced_frames_control_bytes_and_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let addr2 = addr.clone();
    let bridge = std::thread::spawn(move || {
        let mut card = soft_card();
        gbau_card::vpcd::run(&mut card, &addr2, &stop2).unwrap();
    });
    listener.set_nonblocking(false).unwrap();

    // First connection: everything in one write.
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut burst = Vec::new();
    burst.extend(frame(&[0x01])); // power on: no reply
    burst.extend(frame(&[0x07])); // unknown control byte: ignored
    burst.extend(frame(&[0x04])); // ATR
    burst.extend(frame(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00])); // SELECT MF
    burst.extend(frame(&[0x00, 0xA4])); // too short for an APDU
    s.write_all(&burst).unwrap();
    let atr = read_frame(&mut s);
    assert_eq!(atr[0], 0x3B, "ATR first");
    assert_eq!(read_frame(&mut s), vec![0x90, 0x00], "SELECT MF");
    assert_eq!(
        read_frame(&mut s),
        vec![0x67, 0x00],
        "2-byte APDU: wrong length"
    );
    // A frame split over several segments.
    let f = frame(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0x00]);
    for b in &f {
        s.write_all(&[*b]).unwrap();
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(read_frame(&mut s), vec![0x90, 0x00]);
    drop(s);

    // The bridge reconnects when the peer goes away.
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&frame(&[0x04])).unwrap();
    assert_eq!(read_frame(&mut s), atr, "same ATR after reconnecting");
    stop.store(true, Ordering::SeqCst);
    bridge.join().unwrap();
}

#[test]
fn a_refused_connection_is_retried() {
    // Reserve a port, close it, start the bridge, then listen: the bridge must find it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let stop = Arc::new(AtomicBool::new(false));
    let (stop2, addr2) = (stop.clone(), addr.clone());
    let bridge = std::thread::spawn(move || {
        let mut card = soft_card();
        gbau_card::vpcd::run(&mut card, &addr2, &stop2).unwrap();
    });
    std::thread::sleep(Duration::from_millis(400));
    let listener = TcpListener::bind(&addr).unwrap();
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&frame(&[0x04])).unwrap();
    assert_eq!(read_frame(&mut s)[0], 0x3B);
    stop.store(true, Ordering::SeqCst);
    bridge.join().unwrap();
}
