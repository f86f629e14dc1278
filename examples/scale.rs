//! Scale check: a million idle server connections in one process.
//!
//! ```sh
//! cargo run --release --example scale -- 1000000
//! ```
//!
//! Each connection is constructed (no handshake), receives one masked 16-byte
//! text message, and is drained; the read buffer is shared and emptied. The
//! program prints the resident memory per connection (Linux `/proc/self/statm`).

use bytes::BytesMut;
use wsmachine::{Config, Connection, Event, Instant, Output};

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    // A masked text frame "0123456789abcdef" (key 01 02 03 04).
    let key = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | 16, 1, 2, 3, 4];
    frame.extend(
        b"0123456789abcdef"
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4]),
    );

    let before = rss_bytes().unwrap_or(0);
    let mut conns = Vec::with_capacity(n);
    let mut buf = BytesMut::with_capacity(64);
    let config = Config::default();
    let mut received = 0usize;
    for _ in 0..n {
        let mut conn = Connection::server(config.clone(), Instant::ZERO);
        buf.extend_from_slice(&frame);
        conn.handle_read(Instant::ZERO, &mut buf);
        loop {
            match conn.poll_output() {
                Output::Event(Event::Message(m)) => received += m.len(),
                Output::Wait { .. } => break,
                _ => {}
            }
        }
        assert!(buf.is_empty());
        conns.push(conn);
    }
    let after = rss_bytes().unwrap_or(0);
    let total = after.saturating_sub(before);
    println!(
        "connections {n}, received {received} bytes, size_of {} B, RSS growth {:.1} MiB, {:.1} B per connection",
        std::mem::size_of::<Connection>(),
        total as f64 / (1 << 20) as f64,
        total as f64 / n as f64
    );
    assert!(conns.iter().all(|c| c.is_open()));
}
