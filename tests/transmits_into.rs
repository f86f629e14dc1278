//! `Connection::poll_transmits_into` is `poll_output` with the frames
//! written into a buffer: for any script of sends, reads, ticks and closes,
//! the bytes on the wire, everything else that is output, its order
//! relative to the frames, and the counters are the same, whatever room
//! (`max`) each call is given.

mod common;

use bytes::BytesMut;
use common::{Origin, Out, close_frame, frame, poll};
use proptest::prelude::*;
use wsmachine::{CloseCode, Config, Connection, DataKind, Duration, Instant};

#[derive(Debug, Clone)]
enum Op {
    /// A whole message: text or binary, shared or borrowed.
    Send { text: bool, copy: bool, len: usize },
    /// A message in fragments.
    Fragments { text: bool, parts: Vec<usize> },
    /// Frames from the peer, in one read: (opcode, payload length).
    Read(Vec<(u8, usize)>),
    /// The peer's close frame.
    PeerClose(u16),
    /// Our close.
    Close,
    /// Time passes (keepalive pings, timeouts).
    Tick(u64),
    /// The transport ends.
    Eof,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), any::<bool>(), 0usize..300)
            .prop_map(|(text, copy, len)| Op::Send { text, copy, len }),
        1 => (any::<bool>(), prop::collection::vec(0usize..40, 1..4))
            .prop_map(|(text, parts)| Op::Fragments { text, parts }),
        3 => prop::collection::vec(
            (prop::sample::select(vec![0x1u8, 0x2, 0x9, 0xA]), 0usize..130),
            1..6,
        )
        .prop_map(Op::Read),
        1 => prop::sample::select(vec![1000u16, 1001, 4000]).prop_map(Op::PeerClose),
        1 => Just(Op::Close),
        2 => (1u64..40_000).prop_map(Op::Tick),
        1 => Just(Op::Eof),
    ]
}

/// Drains with `poll_output` alone, or with `poll_transmits_into` before
/// each `poll_output`; adjacent transmits are merged, so the two compare.
fn drain(conn: &mut Connection, into: Option<usize>, outs: &mut Vec<Out>) {
    for _ in 0..100_000 {
        let out = if let Some(max) = into {
            let mut bytes = vec![7; 3]; // it appends to what is there
            let n = conn.poll_transmits_into(&mut bytes, max);
            assert_eq!(bytes.drain(..3).collect::<Vec<_>>(), [7; 3]);
            assert_eq!(n, bytes.len());
            assert!(n <= max);
            if !bytes.is_empty() {
                push(outs, Out::Transmit(bytes));
            }
            poll(conn)
        } else {
            poll(conn)
        };
        match out {
            Out::Wait(_) => return,
            other => push(outs, other),
        }
    }
    panic!("poll_output never returned Wait");
}

fn push(outs: &mut Vec<Out>, out: Out) {
    if let (Some(Out::Transmit(last)), Out::Transmit(more)) = (outs.last_mut(), &out) {
        last.extend_from_slice(more);
        return;
    }
    outs.push(out);
}

fn run(client: bool, ops: &[Op], into: Option<usize>) -> (Vec<Out>, wsmachine::Stats) {
    let config = Config::default()
        .ping_interval(Some(Duration::from_secs(10)))
        .pong_timeout(Duration::from_secs(5))
        .max_buffered_output(4096);
    let mut conn = if client {
        Connection::client(config, Instant::ZERO, [9; 32])
    } else {
        Connection::server(config, Instant::ZERO)
    };
    let peer = if client {
        Origin::Server
    } else {
        Origin::Client
    };
    let mut now = Instant::ZERO;
    let mut outs = Vec::new();
    let mut buf = BytesMut::new();
    for op in ops {
        match op {
            Op::Send { text, copy, len } => {
                let data = vec![b'x'; *len];
                let _ = match (text, copy) {
                    (true, true) => conn.send_text_copy(core::str::from_utf8(&data).unwrap()),
                    (false, true) => conn.send_binary_copy(&data),
                    (true, false) => conn.send_text(String::from_utf8(data).unwrap()),
                    (false, false) => conn.send_binary(data),
                };
            }
            Op::Fragments { text, parts } => {
                let kind = if *text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                for (i, len) in parts.iter().enumerate() {
                    let _ = conn.send_fragment(kind, vec![b'y'; *len], i + 1 == parts.len());
                }
            }
            Op::Read(frames) => {
                for &(opcode, len) in frames {
                    let len = if opcode >= 0x8 { len.min(125) } else { len };
                    buf.extend_from_slice(&frame(peer, true, opcode, &vec![b'z'; len]));
                }
                conn.handle_read(now, &mut buf);
            }
            Op::PeerClose(code) => {
                buf.extend_from_slice(&close_frame(peer, *code, b"bye"));
                conn.handle_read(now, &mut buf);
            }
            Op::Close => {
                let _ = conn.close(now, CloseCode::NORMAL, "done");
            }
            Op::Tick(ms) => {
                now = now + Duration::from_millis(*ms);
                conn.handle_timeout(now);
            }
            Op::Eof => conn.handle_eof(now),
        }
        drain(&mut conn, into, &mut outs);
    }
    (outs, conn.stats())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn transmits_into_equals_poll_output(
        client in any::<bool>(),
        ops in prop::collection::vec(op(), 1..24),
        max in prop_oneof![0usize..400, Just(usize::MAX)],
    ) {
        let (plain, plain_stats) = run(client, &ops, None);
        let (into, into_stats) = run(client, &ops, Some(max));
        prop_assert_eq!(plain, into);
        prop_assert_eq!(plain_stats, into_stats);
    }
}

#[test]
fn stops_before_an_event_and_resumes_after_it() {
    let mut conn = Connection::server(Config::default(), Instant::ZERO);
    conn.send_binary_copy(b"one").unwrap();
    let mut buf = BytesMut::from(&frame(Origin::Client, true, 0x9, b"p")[..]);
    conn.handle_read(Instant::ZERO, &mut buf);
    conn.send_binary_copy(b"two").unwrap();
    let mut out = Vec::new();
    // "one", then the pong owed to the ping; the ping event comes next.
    assert_eq!(conn.poll_transmits_into(&mut out, 100), 5 + 3);
    assert_eq!(&out[..5], b"\x82\x03one");
    assert_eq!(&out[5..], b"\x8A\x01p");
    assert!(matches!(
        poll(&mut conn),
        Out::Event(wsmachine::Event::Ping(ref p)) if &p[..] == b"p"
    ));
    out.clear();
    assert_eq!(conn.poll_transmits_into(&mut out, 100), 5);
    assert_eq!(&out[..], b"\x82\x03two");
    assert!(matches!(poll(&mut conn), Out::Wait(_)));
    assert_eq!(conn.poll_transmits_into(&mut out, 100), 0);
}

#[test]
fn a_frame_that_does_not_fit_is_left_for_poll_output() {
    let mut conn = Connection::server(Config::default(), Instant::ZERO);
    conn.send_binary_copy(b"small").unwrap();
    conn.send_binary(vec![1u8; 1000]).unwrap();
    let mut out = Vec::new();
    assert_eq!(conn.poll_transmits_into(&mut out, 500), 7);
    // The large frame comes whole, as a zero-copy transmit.
    match poll(&mut conn) {
        Out::Transmit(bytes) => assert_eq!(bytes.len(), 4 + 1000),
        other => panic!("{other:?}"),
    }
    assert!(matches!(poll(&mut conn), Out::Wait(_)));
    assert_eq!(conn.stats().frames_out, 2);
}

/// Short frames wait after the queue; whatever is queued behind them
/// (here a pong and a ping event) comes after them, and a later short frame
/// after that, with `poll_output` alone or with the buffer.
#[test]
fn short_frames_keep_their_place_among_other_outputs() {
    for into in [false, true] {
        let mut conn = Connection::client(Config::default(), Instant::ZERO, [3; 32]);
        conn.send_binary_copy(b"a").unwrap();
        conn.send_text_copy("b").unwrap();
        conn.send_binary(vec![7u8; 200]).unwrap(); // a queued frame
        conn.send_binary_copy(b"c").unwrap();
        let mut buf = BytesMut::from(&frame(Origin::Server, true, 0x9, b"p")[..]);
        conn.handle_read(Instant::ZERO, &mut buf);
        conn.send_binary_copy(b"d").unwrap();
        let mut outs = Vec::new();
        drain(&mut conn, into.then_some(usize::MAX), &mut outs);
        let wire_before_ping = match &outs[0] {
            Out::Transmit(bytes) => common::decode_frames(bytes, Origin::Client),
            other => panic!("{other:?}"),
        };
        let payloads: Vec<Vec<u8>> = wire_before_ping.iter().map(|f| f.payload.clone()).collect();
        assert_eq!(
            payloads,
            [
                b"a".to_vec(),
                b"b".to_vec(),
                vec![7; 200],
                b"c".to_vec(),
                b"p".to_vec()
            ],
            "into: {into}"
        );
        assert!(matches!(&outs[1], Out::Event(wsmachine::Event::Ping(p)) if &p[..] == b"p"));
        match &outs[2] {
            Out::Transmit(bytes) => {
                let frames = common::decode_frames(bytes, Origin::Client);
                assert_eq!(frames.len(), 1);
                assert_eq!(frames[0].payload, b"d");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(outs.len(), 3);
        assert_eq!(conn.buffered_amount(), 0);
    }
}

/// Messages read while short frames wait come after them.
#[test]
fn messages_read_behind_short_frames_come_after_them() {
    for into in [false, true] {
        let mut conn = Connection::client(Config::default(), Instant::ZERO, [3; 32]);
        conn.send_binary_copy(b"first").unwrap();
        let mut buf = BytesMut::from(&frame(Origin::Server, true, 0x1, b"hello")[..]);
        conn.handle_read(Instant::ZERO, &mut buf);
        let mut outs = Vec::new();
        drain(&mut conn, into.then_some(usize::MAX), &mut outs);
        assert_eq!(outs.len(), 2, "{outs:?}");
        assert!(
            matches!(&outs[0], Out::Transmit(_)),
            "into: {into}: {outs:?}"
        );
        assert!(matches!(
            &outs[1],
            Out::Event(wsmachine::Event::Message(m)) if m.as_bytes() == b"hello"
        ));
    }
}
