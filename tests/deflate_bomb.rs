//! Decompression bombs and compression memory, measured with a counting
//! allocator: inflating stops at `max_message_size`, never after the whole.

#![allow(unsafe_code)] // the counting allocator below; the library forbids unsafe

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use bytes::{Buf, BytesMut};
use flate2::{Compress, Compression, FlushCompress};
use wsmachine::deflate::{DeflateConfig, accept_response, negotiate_server, offer};
use wsmachine::frame::OpCode;
use wsmachine::{CloseCause, Config, Connection, Event, Instant, Message, Output, ProtocolError};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// One measurement at a time (tests run on threads).
static SERIAL: Mutex<()> = Mutex::new(());

// SAFETY: every method forwards to `System` with the caller's arguments; the
// counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size() as isize, Ordering::SeqCst) + layout.size() as isize;
        PEAK.fetch_max(now, Ordering::SeqCst);
        LARGEST.fetch_max(layout.size(), Ordering::SeqCst);
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let delta = new_size as isize - layout.size() as isize;
        let now = LIVE.fetch_add(delta, Ordering::SeqCst) + delta;
        PEAK.fetch_max(now, Ordering::SeqCst);
        LARGEST.fetch_max(new_size, Ordering::SeqCst);
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn reset_peak() -> isize {
    let live = LIVE.load(Ordering::SeqCst);
    PEAK.store(live, Ordering::SeqCst);
    LARGEST.store(0, Ordering::SeqCst);
    live
}

/// Raw deflate of `total` zero bytes, sync-flushed, tail removed (RFC 7692
/// §7.2.1), produced in pieces so the test never holds the inflated size.
fn zeros_compressed(total: usize) -> Vec<u8> {
    let mut c = Compress::new_with_window_bits(Compression::best(), false, 15);
    let zeros = vec![0u8; 1 << 20];
    let mut out = Vec::with_capacity(total / 1000 + 1024);
    let mut left = total;
    while left > 0 {
        let n = left.min(zeros.len());
        let mut input = &zeros[..n];
        while !input.is_empty() {
            if out.capacity() - out.len() < 4096 {
                out.reserve(1 << 20);
            }
            let before = c.total_in();
            c.compress_vec(input, &mut out, FlushCompress::None)
                .unwrap();
            input = &input[usize::try_from(c.total_in() - before).unwrap()..];
        }
        left -= n;
    }
    loop {
        out.reserve(4096);
        c.compress_vec(&[], &mut out, FlushCompress::Sync).unwrap();
        if out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn masked(rsv: u8, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    common::raw_frame(
        common::first_byte(true, opcode.as_u8()) | (rsv << 4),
        payload,
        Some([1, 2, 3, 4]),
    )
}

fn server(max_message: usize) -> Connection {
    let cfg = DeflateConfig::default();
    let (params, _) = negotiate_server(&[offer(&cfg)], &cfg).unwrap();
    Connection::server(
        Config::default()
            .max_message_size(max_message)
            .deflate(Some(params)),
        Instant::ZERO,
    )
}

#[test]
fn a_one_gib_bomb_stops_at_the_limit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const GIB: usize = 1 << 30;
    const LIMIT: usize = 16 << 20;
    let compressed = zeros_compressed(GIB);
    // Deflate's best ratio is about 1032:1: 1 GiB of zeros is about 1 MiB.
    assert!(compressed.len() < 2 << 20, "{}", compressed.len());
    let frame = masked(0b100, OpCode::Binary, &compressed);
    drop(compressed);
    let mut conn = server(LIMIT);
    let mut buf = BytesMut::from(&frame[..]);
    drop(frame);
    let base = reset_peak();
    conn.handle_read(Instant::ZERO, &mut buf);
    let mut events = Vec::new();
    loop {
        match conn.poll_output() {
            Output::Event(e) => events.push(e),
            Output::Wait { .. } => break,
            _ => {}
        }
    }
    let peak = PEAK.load(Ordering::SeqCst) - base;
    let Some(Event::Closed(info)) = events.last() else {
        panic!("{events:?}")
    };
    assert!(
        matches!(
            info.cause,
            CloseCause::Protocol(ProtocolError::MessageTooLarge { .. })
        ),
        "{:?}",
        info.cause
    );
    assert_eq!(info.sent.as_ref().unwrap().code.0, 1009);
    // Inflated output never exceeds the limit (+1 byte to detect it); the
    // inflater's own state and the read buffer are the rest.
    assert!(
        LARGEST.load(Ordering::SeqCst) <= LIMIT + 1,
        "largest allocation {}",
        LARGEST.load(Ordering::SeqCst)
    );
    assert!(
        peak < (LIMIT as isize) + (2 << 20),
        "peak {peak} bytes for a {LIMIT}-byte limit"
    );
}

#[test]
fn a_bomb_split_over_many_reads_also_stops() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let compressed = zeros_compressed(256 << 20);
    let frame = masked(0b100, OpCode::Text, &compressed);
    let mut conn = server(1 << 20);
    let mut buf = BytesMut::new();
    let mut closed = None;
    for piece in frame.chunks(1000) {
        buf.extend_from_slice(piece);
        conn.handle_read(Instant::ZERO, &mut buf);
        loop {
            match conn.poll_output() {
                Output::Event(Event::Closed(info)) => closed = Some(info),
                Output::Wait { .. } => break,
                _ => {}
            }
        }
        if closed.is_some() {
            break;
        }
    }
    let info = closed.expect("closed before the whole frame arrived");
    assert!(matches!(
        info.cause,
        CloseCause::Protocol(ProtocolError::MessageTooLarge { .. })
    ));
}

/// Heap held by a connection after one compressed message each way, for each
/// window size: the figures in the README's permessage-deflate section.
#[test]
fn memory_per_window_bits() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let msg = Message::text("{\"hello\":\"world\",\"n\":12345678901234567890}".repeat(20));
    let mut last = 0;
    for bits in 9..=15u8 {
        let cfg = DeflateConfig::default()
            .server_max_window_bits(bits)
            .client_max_window_bits(bits);
        let (params, answer) = negotiate_server(&[offer(&cfg)], &cfg).unwrap();
        let client_params = accept_response(&answer, &cfg).unwrap();
        let mut client = Connection::client(
            Config::default().deflate(Some(client_params)),
            Instant::ZERO,
            [1; 32],
        );
        let base = reset_peak();
        let mut server = Connection::server(Config::default().deflate(Some(params)), Instant::ZERO);
        client.send(msg.clone()).unwrap();
        let mut wire = BytesMut::new();
        while let Output::Transmit(mut t) = client.poll_output() {
            wire.extend_from_slice(&t.copy_to_bytes(t.remaining()));
        }
        server.handle_read(Instant::ZERO, &mut wire);
        while !matches!(server.poll_output(), Output::Wait { .. }) {}
        drop(wire);
        let inflater = LIVE.load(Ordering::SeqCst) - base;
        server.send(msg.clone()).unwrap();
        while !matches!(server.poll_output(), Output::Wait { .. }) {}
        let held = LIVE.load(Ordering::SeqCst) - base;
        println!(
            "window bits {bits}: server connection holds {held} bytes: decompressor {inflater}, compressor {}",
            held - inflater
        );
        assert!(held > 0);
        assert!(held >= last, "memory grows with the window");
        last = held;
        drop(server);
    }
}
