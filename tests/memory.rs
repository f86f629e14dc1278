//! Memory: the size of a connection, no heap while idle (measured with a
//! counting global allocator), reassembly storage only while a message is
//! open, zero-copy receive and send, and chunked delivery of large messages.
//!
//! Cargo.toml denies `unsafe_code` for every target and `src/lib.rs` forbids
//! it; this test file allows it for the allocator wrapper only.

#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{Bytes, BytesMut};
use common::*;
use wsmachine::{CloseCode, Config, Connection, DataKind, Delivery, Event, Message};

/// Counts the bytes allocated and not yet freed, per thread (the test harness
/// runs every test on its own thread, so tests do not see each other).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    // `try_with`: allocations during thread teardown are not counted.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

fn signed(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counter is a thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(signed(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(signed(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every
        // allocation goes through this wrapper).
        unsafe { System.dealloc(ptr, layout) };
        track(-signed(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(signed(new_size) - signed(layout.size()));
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap bytes live on this thread.
fn live() -> isize {
    LIVE.with(Cell::get)
}

#[test]
fn counting_allocator_works() {
    let before = live();
    let v = vec![0u8; 1000];
    assert_eq!(live() - before, 1000);
    drop(v);
    assert_eq!(live(), before);
}

#[test]
fn connection_is_small() {
    let size = size_of::<Connection>();
    assert!(size <= 256, "size_of::<Connection>() = {size}");
}

/// Feeds `bytes` through a buffer that is dropped before returning, and
/// returns the outputs (the caller drops them).
fn feed_and_drop_buffer(conn: &mut Connection, bytes: &[u8]) -> Vec<Out> {
    let mut buf = BytesMut::from(bytes);
    conn.handle_read(T0, &mut buf);
    assert!(buf.is_empty());
    drop(buf);
    drain(conn)
}

#[test]
fn idle_server_connection_holds_no_heap() {
    let frame = masked_frame(true, TEXT, b"sixteen bytes!!!", KEY);
    let before = live();
    let mut s = Connection::server(Config::default(), T0);
    assert_eq!(live(), before, "construction allocates nothing");

    let outs = feed_and_drop_buffer(&mut s, &frame);
    assert_eq!(
        outs,
        vec![Out::Event(Event::Message(Message::text(
            "sixteen bytes!!!"
        )))]
    );
    drop(outs);
    assert_eq!(
        live(),
        before,
        "after one message, the idle connection holds no heap"
    );

    // Sending and draining leaves nothing behind either.
    s.send_text("reply").unwrap();
    s.ping(Bytes::from_static(b"p")).unwrap();
    drop(drain(&mut s));
    assert_eq!(live(), before);

    // Nor do short copied frames, also when something is queued behind
    // them (here the pong and the event for a ping).
    s.send_binary_copy(b"short").unwrap();
    s.send_text_copy("also short").unwrap();
    drop(feed_and_drop_buffer(
        &mut s,
        &masked_frame(true, PING, b"p", KEY),
    ));
    drop(drain(&mut s));
    assert_eq!(live(), before);
    drop(s);
    assert_eq!(live(), before);
}

#[test]
fn idle_client_connection_heap_is_small_and_constant() {
    // The client keeps its masking-key generator and, once it has sent, the
    // small storage of its output queue and of its short-frame buffer (so a
    // send-then-poll loop does not allocate per message); nothing grows with
    // traffic.
    let frame = unmasked_frame(true, BINARY, &[9; 16]);
    let before = live();
    let mut c = Connection::client(Config::default(), T0, SEED);
    let idle = live() - before;
    assert!(idle <= 192, "client holds {idle} heap bytes while idle");
    let mut steady = None;
    for _ in 0..10 {
        drop(feed_and_drop_buffer(&mut c, &frame));
        c.send_binary(vec![1; 64]).unwrap();
        c.send_binary_copy(&[2; 300]).unwrap();
        for _ in 0..20 {
            c.send_binary_copy(&[3; 20]).unwrap();
        }
        drop(drain(&mut c));
        let held = live() - before;
        assert!(
            held <= idle + 640 + 512,
            "client holds {held} heap bytes after traffic"
        );
        assert_eq!(*steady.get_or_insert(held), held, "no growth with traffic");
    }
    drop(c);
    assert_eq!(live(), before);
}

#[test]
fn fragmented_message_storage_is_released_after_delivery() {
    let first = masked_frame(false, BINARY, &[1; 1000], KEY);
    let second = masked_frame(true, CONT, &[2; 1000], KEY);
    let before = live();
    let mut s = Connection::server(Config::default(), T0);

    let outs = feed_and_drop_buffer(&mut s, &first);
    assert_eq!(outs, vec![]);
    let open = live() - before;
    assert!(
        open >= 1000,
        "the first fragment is held while the message is open ({open})"
    );
    assert!(
        open <= 4096,
        "reassembly holds about the data received ({open})"
    );

    let outs = feed_and_drop_buffer(&mut s, &second);
    let mut expected = vec![1; 1000];
    expected.extend_from_slice(&[2; 1000]);
    assert_eq!(
        outs,
        vec![Out::Event(Event::Message(Message::binary(expected)))]
    );
    drop(outs);
    assert_eq!(
        live(),
        before,
        "nothing kept after the message is delivered"
    );
    drop(s);
}

#[test]
fn ping_flood_leaves_no_heap_behind() {
    let flood: Vec<u8> = (0u32..10_000)
        .flat_map(|i| masked_frame(true, PING, &i.to_be_bytes(), KEY))
        .collect();
    let before = live();
    let mut s = Connection::server(Config::default(), T0);
    let outs = feed_and_drop_buffer(&mut s, &flood);
    assert!(transmits(&outs).len() <= 32);
    drop(outs);
    assert_eq!(live(), before);
}

#[test]
fn pending_pongs_do_not_grow_memory() {
    // Without draining, each ping adds an event (the application must drain),
    // but the pongs owed stop growing after a few.
    let ping = |i: u32| masked_frame(true, PING, &i.to_be_bytes(), KEY);
    let mut s = Connection::server(Config::default().auto_pong(true), T0);
    let mut quiet = Connection::server(Config::default().auto_pong(false), T0);
    let (mut with_pong, mut without_pong) = (0, 0);
    for i in 0..100 {
        let frame = ping(i);
        let before = live();
        let mut buf = BytesMut::from(&frame[..]);
        s.handle_read(T0, &mut buf);
        drop(buf);
        with_pong = live() - before;
        let before = live();
        let mut buf = BytesMut::from(&frame[..]);
        quiet.handle_read(T0, &mut buf);
        drop(buf);
        without_pong = live() - before;
    }
    // The 100th ping costs the same with auto_pong as without: no pong queue.
    assert_eq!(with_pong, without_pong);
    assert!(transmits(&drain(&mut s)).len() <= 32);
}

#[test]
fn closed_connection_holds_no_heap() {
    let close = close_frame(Origin::Client, 1000, b"bye");
    let before = live();
    let mut s = Connection::server(Config::default(), T0);
    s.send_text("pending").unwrap();
    let outs = feed_and_drop_buffer(&mut s, &close);
    assert!(closed(&outs).clean);
    drop(outs);
    assert!(s.is_closed());
    assert_eq!(
        live(),
        before,
        "the close bookkeeping is released with Closed"
    );
    drop(s);
}

#[test]
fn local_close_then_timeout_holds_no_heap() {
    let before = live();
    let mut s = Connection::server(Config::default(), T0);
    s.close(T0, CloseCode::NORMAL, "bye").unwrap();
    drop(drain(&mut s));
    s.handle_timeout(T0 + Config::default().close_timeout);
    drop(drain(&mut s));
    assert!(s.is_closed());
    assert_eq!(live(), before);
}

const MIB: usize = 1 << 20;

fn big(len: usize) -> Vec<u8> {
    (0..len).map(|i| u8::try_from(i % 253).unwrap()).collect()
}

/// What a stream of chunks delivered: the bytes, and the `fin` flag of each chunk.
struct Streamed {
    data: Vec<u8>,
    fins: Vec<bool>,
}

/// Heap a connection holds while a message spans reads: the state of the
/// message in progress (kind, size, UTF-8 state), never its payload.
const MESSAGE_STATE: isize = 64;

/// Feeds `bytes` in `piece`-byte reads (each through a buffer dropped right
/// after) and collects the chunks, checking that between reads the
/// connection holds no payload: at most the small state of the message in
/// progress, and nothing once the message is over.
fn stream(bytes: &[u8], piece: usize, kind: DataKind) -> Streamed {
    let mut s = Connection::server(Config::default().delivery(Delivery::Chunks), T0);
    // Allocated up front so that collecting does not move the heap count.
    let mut out = Streamed {
        data: Vec::with_capacity(bytes.len()),
        fins: Vec::with_capacity(bytes.len()),
    };
    let base = live();
    for part in bytes.chunks(piece) {
        let before = live();
        let outs = feed_and_drop_buffer(&mut s, part);
        for o in outs {
            match o {
                Out::Event(Event::Chunk { kind: k, data, fin }) => {
                    assert_eq!(k, kind);
                    out.data.extend_from_slice(&data);
                    out.fins.push(fin);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let held = live() - base;
        assert!(
            held <= MESSAGE_STATE,
            "the connection holds {held} heap bytes between reads"
        );
        assert!(
            live() <= before.max(base + MESSAGE_STATE),
            "no growth per read"
        );
    }
    assert_eq!(live(), base, "nothing is left once the message is over");
    assert!(s.is_open());
    out
}

#[test]
fn chunks_of_a_1_mib_message_fed_in_4_kib_pieces() {
    let data = big(MIB);
    let bytes = masked_frame(true, BINARY, &data, KEY);
    let Streamed { data: joined, fins } = stream(&bytes, 4096, DataKind::Binary);
    assert!(fins.len() >= MIB / 4096);
    assert!(
        fins[..fins.len() - 1].iter().all(|f| !f),
        "fin only on the last chunk"
    );
    assert!(fins[fins.len() - 1]);
    assert_eq!(joined.len(), MIB);
    assert!(joined == data, "chunks concatenate to the message");
}

#[test]
fn chunks_of_a_fragmented_1_mib_text_message() {
    // Four fragments of 256 KiB, with multi-byte characters split across
    // fragment and read boundaries.
    let text: String = "añ€🦀".repeat(MIB / 10 + 1);
    let mut end = MIB;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let data = &text.as_bytes()[..end];
    let quarter = data.len() / 4;
    let mut bytes = Vec::new();
    for (i, part) in data.chunks(quarter + 1).enumerate() {
        let op = if i == 0 { TEXT } else { CONT };
        let last = (i + 1) * (quarter + 1) >= data.len();
        bytes.extend(masked_frame(
            last,
            op,
            part,
            [1, 2, 3, u8::try_from(i).unwrap()],
        ));
    }
    let Streamed { data: joined, fins } = stream(&bytes, 4096, DataKind::Text);
    assert_eq!(fins.iter().filter(|f| **f).count(), 1);
    assert!(fins[fins.len() - 1]);
    assert!(joined == data);
}

/// Whether nothing but `buf` holds its allocation: the capacity can be
/// reclaimed without allocating only then.
fn unshared(buf: &mut BytesMut, capacity: usize) -> bool {
    buf.try_reclaim(capacity)
}

#[test]
fn idle_server_keeps_no_reference_to_the_read_buffer() {
    let frame = masked_frame(
        true,
        TEXT,
        b"a text long enough to be shared, not inlined: 48",
        KEY,
    );
    let mut s = Connection::server(Config::default(), T0);
    let mut buf = BytesMut::with_capacity(1024);
    buf.extend_from_slice(&frame);
    s.handle_read(T0, &mut buf);
    let outs = drain(&mut s);
    assert_eq!(
        outs,
        vec![Out::Event(Event::Message(Message::text(
            "a text long enough to be shared, not inlined: 48"
        )))]
    );
    // The message shares the read buffer (zero copy), so it is shared now...
    assert!(
        !unshared(&mut buf, 1024),
        "the delivered message shares the read buffer"
    );
    drop(outs);
    // ...and once the application drops the message, nothing else holds it.
    assert!(
        unshared(&mut buf, 1024),
        "the connection keeps a reference to the read buffer"
    );
    assert_eq!(drain_with_wait(&mut s), (vec![], None));
}

#[test]
fn server_send_is_zero_copy_and_releases_the_payload() {
    let data = Bytes::from(vec![7u8; 10_000]);
    let mut s = Connection::server(Config::default(), T0);
    s.send_binary(data.clone()).unwrap();
    assert!(!data.is_unique(), "queued without copying");
    let wsmachine::Output::Transmit(t) = s.poll_output() else {
        panic!("expected a transmit")
    };
    assert_eq!(
        t.payload().as_ptr(),
        data.as_ptr(),
        "the transmit carries the caller's bytes"
    );
    drop(t);
    assert!(
        data.is_unique(),
        "nothing is kept once the transmit is handed out"
    );
    assert_eq!(drain_with_wait(&mut s), (vec![], None));
}

#[test]
fn client_masking_never_touches_shared_caller_bytes() {
    let data = Bytes::from(vec![0x55u8; 1000]);
    let mut c = Connection::client(Config::default(), T0, SEED);
    c.send_binary(data.clone()).unwrap();
    let frames = sent_frames(&drain(&mut c), Origin::Client);
    assert_eq!(frames[0].payload, vec![0x55; 1000]);
    assert!(
        data.iter().all(|b| *b == 0x55),
        "the caller's copy is still unmasked"
    );
    assert!(data.is_unique());
}

#[test]
fn fragmented_message_storage_is_handed_over_whole() {
    let mut bytes = masked_frame(false, BINARY, &[1; 1000], KEY);
    bytes.extend(masked_frame(true, CONT, &[2; 1000], KEY));
    let mut s = Connection::server(Config::default(), T0);
    let mut buf = BytesMut::with_capacity(4096);
    buf.extend_from_slice(&bytes);
    s.handle_read(T0, &mut buf);
    let mut outs = drain(&mut s);
    let Some(Out::Event(Event::Message(Message::Binary(payload)))) = outs.pop() else {
        panic!("{outs:?}")
    };
    assert!(outs.is_empty());
    assert_eq!(payload.len(), 2000);
    assert!(
        payload.is_unique(),
        "the connection keeps no handle on the reassembled message"
    );
    assert!(
        unshared(&mut buf, 4096),
        "fragments were copied out; the read buffer is free"
    );
}

#[test]
fn chunks_of_a_1_mib_message_sent_by_a_client_peer() {
    let data = big(MIB);
    let mut peer = Connection::client(Config::default(), T0, SEED);
    peer.send_binary(data.clone()).unwrap();
    let bytes = wire(&drain(&mut peer));
    let Streamed { data: joined, fins } = stream(&bytes, 4096, DataKind::Binary);
    assert_eq!(fins.iter().filter(|f| **f).count(), 1);
    assert!(joined == data);
}

#[test]
fn chunks_mode_small_message_is_one_chunk() {
    let mut s = Connection::server(Config::default().delivery(Delivery::Chunks), T0);
    let outs = feed(&mut s, T0, &masked_frame(true, TEXT, b"Hello", KEY));
    assert_eq!(
        outs,
        vec![Out::Event(Event::Chunk {
            kind: DataKind::Text,
            data: Bytes::from_static(b"Hello"),
            fin: true
        })]
    );
    let outs = feed(&mut s, T0, &masked_frame(true, BINARY, b"", KEY));
    assert_eq!(
        outs,
        vec![Out::Event(Event::Chunk {
            kind: DataKind::Binary,
            data: Bytes::new(),
            fin: true
        })]
    );
}

#[test]
fn chunks_mode_over_the_message_limit_still_fails() {
    // Streaming does not lift max_message_size: it is checked from headers.
    let mut s = Connection::server(
        Config::default()
            .delivery(Delivery::Chunks)
            .max_message_size(1000),
        T0,
    );
    let mut bytes = masked_frame(false, BINARY, &[0; 600], KEY);
    bytes.extend(masked_frame(true, CONT, &[0; 600], KEY));
    let outs = feed(&mut s, T0, &bytes);
    let err = wsmachine::ProtocolError::MessageTooLarge {
        size: 1200,
        limit: 1000,
    };
    let before = assert_protocol_failure(&outs, Origin::Server, &err);
    assert_eq!(
        before.len(),
        1,
        "the first fragment was streamed before the limit was crossed"
    );
}

#[test]
fn large_single_frame_in_messages_mode_is_not_copied() {
    // Zero copy: a single-frame message stays in the caller's buffer until
    // whole, and the delivered message points into that buffer.
    let data = big(256 * 1024);
    let bytes = masked_frame(true, BINARY, &data, KEY);
    let mut s = Connection::server(Config::default(), T0);
    let mut buf = BytesMut::with_capacity(bytes.len());
    let start = buf.as_ptr();
    let mut outs = Vec::new();
    for part in bytes.chunks(4096) {
        buf.extend_from_slice(part);
        s.handle_read(T0, &mut buf);
        outs.extend(drain(&mut s));
    }
    assert!(buf.is_empty());
    let [Out::Event(Event::Message(Message::Binary(payload)))] = &outs[..] else {
        panic!("{outs:?}")
    };
    assert!(payload[..] == data[..]);
    assert_eq!(
        payload.as_ptr(),
        start.wrapping_add(14),
        "the payload was unmasked in place"
    );
}
