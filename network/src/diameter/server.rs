//! The BSF's Diameter Zn listener (TCP): one task per peer connection, each feeding whole
//! messages to a [`Peer`]; Zn lookups run on the blocking pool (the store may fsync). Bounded:
//! at most [`MAX_PEERS`] connections, and a connection silent for [`IDLE`] is closed (a live
//! peer sends a watchdog request every Tw, 30 s by default, RFC 3539).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::codec::frame_len;
use super::peer::{Action, Identity, Lookup, Peer};

/// Connections served at once; one more is closed at accept.
pub const MAX_PEERS: usize = 256;
/// A connection with no message for this long is closed.
pub const IDLE: Duration = Duration::from_secs(120);

/// Serve Zn on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, me: Arc<Identity>, lookup: Arc<Lookup>) {
    let live = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        if live.fetch_add(1, Ordering::SeqCst) >= MAX_PEERS {
            live.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(%from, "Diameter: {MAX_PEERS} peers already, connection closed");
            continue;
        }
        let (me, lookup, live) = (me.clone(), lookup.clone(), live.clone());
        tokio::spawn(async move {
            connection(stream, me, lookup).await;
            live.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Read one message: `Ok(None)` at a clean end of stream, `Err` when the framing is lost.
async fn read_message(s: &mut TcpStream) -> Result<Option<Vec<u8>>, String> {
    let mut first = [0u8; 4];
    match s.read_exact(&mut first).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    let len = frame_len(first).map_err(|e| e.to_string())?;
    let mut msg = vec![0u8; len];
    msg[..4].copy_from_slice(&first);
    s.read_exact(&mut msg[4..])
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(msg))
}

async fn connection(mut s: TcpStream, me: Arc<Identity>, lookup: Arc<Lookup>) {
    let local = s
        .local_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let from = s.peer_addr().ok();
    let mut peer = Peer::new(local);
    loop {
        let msg = match tokio::time::timeout(IDLE, read_message(&mut s)).await {
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => break,
            Ok(Err(why)) => {
                tracing::info!(?from, "Diameter: {why}; connection closed");
                break;
            }
            Err(_) => {
                tracing::info!(?from, "Diameter: idle for {IDLE:?}; connection closed");
                break;
            }
        };
        let (me2, lookup2) = (me.clone(), lookup.clone());
        let now = crate::http::unix_now();
        let Ok((p, action)) = tokio::task::spawn_blocking(move || {
            let a = peer.on_message(&me2, &msg, &*lookup2, now);
            (peer, a)
        })
        .await
        else {
            break;
        };
        peer = p;
        let (out, close) = match action {
            Action::Reply(b) => (Some(b), false),
            Action::ReplyClose(b) => (Some(b), true),
            Action::Nothing => (None, false),
            Action::Close => (None, true),
        };
        if let Some(b) = out {
            if s.write_all(&b).await.is_err() {
                break;
            }
        }
        if close {
            tracing::info!(?from, peer = ?peer.open, "Diameter: connection closed by the BSF");
            break;
        }
    }
    let _ = s.shutdown().await;
}
