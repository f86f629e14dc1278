//! Pieces of a tokio driver for `wsmachine`, shared by the tokio examples:
//! the clock conversion, draining `poll_output` onto a socket, reading into
//! the caller's `BytesMut`, and sleeping until an optional deadline.
//!
//! The connection loop itself (`tokio::select!` between a read and the
//! deadline) is written out in each example, because it is what they show.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::future::pending;
use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wsmachine::{CloseInfo, Connection, Event, Instant, Output};

/// How long a single write may block on a peer that stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Converts between tokio's clock and `wsmachine::Instant`.
///
/// The core never reads a clock: every `now` it gets and every deadline it
/// returns is a `wsmachine::Instant`, a count of microseconds since an epoch
/// the caller picks. Here the epoch is the `tokio::time::Instant` at which the
/// clock was created (process start), so:
///
/// - tokio → wsmachine: `now = micros(tokio_now - epoch)`;
/// - wsmachine → tokio: `deadline = epoch + until.since_epoch()`, for
///   `tokio::time::sleep_until`.
///
/// Using `tokio::time::Instant` (not `std::time::Instant`) keeps the examples
/// correct under tokio's paused test clock too.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: tokio::time::Instant,
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            epoch: tokio::time::Instant::now(),
        }
    }

    /// The current time as the core sees it.
    pub fn now(&self) -> Instant {
        self.core_instant(tokio::time::Instant::now())
    }

    /// tokio → wsmachine: microseconds since the epoch (saturating).
    pub fn core_instant(&self, at: tokio::time::Instant) -> Instant {
        let since_epoch = at.saturating_duration_since(self.epoch);
        Instant::from_micros(u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX))
    }

    /// wsmachine → tokio: the instant to pass to `sleep_until`.
    pub fn tokio_instant(&self, at: Instant) -> tokio::time::Instant {
        self.epoch
            .checked_add(at.since_epoch())
            // `Instant::MAX` ("never") may not fit: a far future does.
            .unwrap_or_else(|| self.epoch + Duration::from_secs(86_400 * 365 * 30))
    }
}

/// Sleeps until `deadline`, or forever without one (for a `select!` branch).
pub async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => pending().await,
    }
}

/// Reads more bytes into `buf` (appending). `Ok(0)` is the peer's FIN.
/// Cancel-safe, like `read_buf`: a cancelled read loses nothing.
pub async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 4 * 1024 {
        buf.reserve(64 * 1024);
    }
    stream.read_buf(buf).await
}

/// Where `drain` stopped.
#[derive(Debug)]
pub enum Drained {
    /// Nothing to do until input, a command or this deadline (`None`: no timer).
    Wait(Option<Instant>),
    /// The connection is over.
    Closed(CloseInfo),
}

/// Acts on every output of `conn` until it says `Wait` or `Closed`: writes
/// transmits, shuts the write side down on `Shutdown` (setting `shut_down`),
/// and hands other events to `on_event`, which may send on `conn`. Small
/// frames are gathered with `poll_transmits_into` and written together.
///
/// A failed write means the peer is gone: the connection is told so with
/// `handle_eof`, and reports it in its `Closed`.
pub async fn drain<S: AsyncWrite + Unpin>(
    stream: &mut S,
    conn: &mut Connection,
    clock: &Clock,
    shut_down: &mut bool,
    mut on_event: impl FnMut(&mut Connection, Event),
) -> Drained {
    let mut wbuf: Vec<u8> = Vec::new();
    loop {
        if wbuf.len() > WRITE_BUFFER / 2 {
            flush(stream, conn, clock, &mut wbuf).await;
        }
        let room = WRITE_BUFFER - wbuf.len();
        conn.poll_transmits_into(&mut wbuf, room);
        match conn.poll_output() {
            Output::Transmit(mut transmit) => {
                flush(stream, conn, clock, &mut wbuf).await;
                // `Transmit` is a `bytes::Buf` (header + payload, no copy).
                let written =
                    tokio::time::timeout(WRITE_TIMEOUT, stream.write_all_buf(&mut transmit)).await;
                on_write_result(conn, clock, written);
            }
            Output::Shutdown => {
                flush(stream, conn, clock, &mut wbuf).await;
                *shut_down = true;
                // For a TcpStream: shutdown(Write), our FIN.
                let _ = stream.shutdown().await;
            }
            Output::Event(Event::Closed(info)) => {
                flush(stream, conn, clock, &mut wbuf).await;
                return Drained::Closed(*info);
            }
            Output::Event(event) => on_event(conn, event),
            Output::Wait { until } => {
                flush(stream, conn, clock, &mut wbuf).await;
                return Drained::Wait(until);
            }
        }
    }
}

/// Most bytes of small frames gathered before they are written.
const WRITE_BUFFER: usize = 64 * 1024;

/// Writes what `wbuf` holds (and empties it).
async fn flush<S: AsyncWrite + Unpin>(
    stream: &mut S,
    conn: &mut Connection,
    clock: &Clock,
    wbuf: &mut Vec<u8>,
) {
    if !wbuf.is_empty() {
        let written = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(wbuf)).await;
        wbuf.clear();
        on_write_result(conn, clock, written);
    }
}

/// A failed or timed-out write means the peer is gone.
fn on_write_result(
    conn: &mut Connection,
    clock: &Clock,
    written: Result<io::Result<()>, tokio::time::error::Elapsed>,
) {
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            if !matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) {
                eprintln!("write error: {e}");
            }
            conn.handle_eof(clock.now());
        }
        Err(_elapsed) => {
            eprintln!("write timed out: the peer stopped reading");
            conn.handle_eof(clock.now());
        }
    }
}

/// After our FIN, read and discard until the peer's FIN (or 2 s), so the
/// kernel does not answer unread data with a RST that could destroy the
/// close frame in flight.
pub async fn linger<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Answers a refused handshake and closes: the response, our FIN, then
/// unread request bytes are discarded (as in [`linger`]) so the kernel does
/// not answer them with a RST that could destroy the response before the
/// client reads it (RFC 9112 §9.6).
pub async fn respond_and_close(stream: &mut tokio::net::TcpStream, response: &[u8]) {
    let written = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(response)).await;
    if matches!(written, Ok(Ok(()))) {
        let _ = stream.shutdown().await;
        linger(stream).await;
    }
}

#[path = "entropy.rs"]
mod entropy;
#[allow(unused_imports)] // not every example that includes this driver needs it
pub use entropy::entropy;
