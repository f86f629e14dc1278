//! The batch polls are `poll_output` in bulk. `poll_transmits_into` writes
//! the frames into a buffer and `poll_messages` lends the messages: for any
//! script of sends, reads, ticks and closes, the bytes on the wire, the
//! messages, everything else that is output, its order, and the counters
//! are the same as with `poll_output` alone, whatever `max` each call is
//! given.

mod common;

use bytes::BytesMut;
use common::{Origin, Out, close_frame, frame, poll};
use proptest::prelude::*;
use wsmachine::{CloseCode, Config, Connection, DataKind, Duration, Event, Instant};

#[derive(Debug, Clone)]
enum Op {
    /// A whole message: text or binary, shared or borrowed.
    Send { text: bool, copy: bool, len: usize },
    /// A message in fragments.
    Fragments { text: bool, parts: Vec<usize> },
    /// Frames from the peer, in one read: (opcode, FIN, payload length,
    /// payload pattern).
    Read(Vec<(u8, bool, usize, Pattern)>),
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
            (
                prop::sample::select(vec![0x0u8, 0x1, 0x2, 0x9, 0xA]),
                prop::bool::weighted(0.85),
                prop_oneof![3 => 0usize..40, 1 => 0usize..300],
                pattern(),
            ),
            1..6,
        )
        .prop_map(Op::Read),
        1 => prop::sample::select(vec![1000u16, 1001, 4000]).prop_map(Op::PeerClose),
        1 => Just(Op::Close),
        2 => (1u64..40_000).prop_map(Op::Tick),
        1 => Just(Op::Eof),
    ]
}

/// What a peer's payload is made of.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    Ascii,
    /// Two-byte characters, cut at the end when the length is odd.
    TwoByte,
    /// ASCII with one byte that is never UTF-8.
    Invalid,
}

fn pattern() -> impl Strategy<Value = Pattern> {
    prop_oneof![
        4 => Just(Pattern::Ascii),
        2 => Just(Pattern::TwoByte),
        1 => Just(Pattern::Invalid),
    ]
}

fn payload(pattern: Pattern, len: usize) -> Vec<u8> {
    match pattern {
        Pattern::Ascii => vec![b'z'; len],
        Pattern::TwoByte => "é".bytes().cycle().take(len).collect(),
        Pattern::Invalid => {
            let mut p = vec![b'z'; len];
            if let Some(b) = p.get_mut(len / 2) {
                *b = 0xFF;
            }
            p
        }
    }
}

/// How a script's outputs are drained.
#[derive(Debug, Clone, Copy)]
enum Drain {
    /// `poll_output` alone.
    Plain,
    /// `poll_transmits_into` with this room before each `poll_output`.
    Into(usize),
    /// `poll_messages` with this `max` before each `poll_output`.
    Messages(usize),
    /// `poll_output` alone, but each borrowed-slice send is followed by
    /// `poll_transmits_into` with no limit: what `send_*_into` is defined as.
    SendThenPoll,
    /// `poll_output` alone, but the borrowed-slice sends are
    /// `send_*_into`, appending to a write buffer.
    SendInto,
}

/// Drains `conn` until `Wait`; adjacent transmits are merged, so the modes
/// compare.
fn drain(conn: &mut Connection, mode: Drain, outs: &mut Vec<Out>) {
    for _ in 0..100_000 {
        match mode {
            Drain::Plain | Drain::SendThenPoll | Drain::SendInto => {}
            Drain::Into(max) => {
                let mut bytes = vec![7; 3]; // it appends to what is there
                let n = conn.poll_transmits_into(&mut bytes, max);
                assert_eq!(bytes.drain(..3).collect::<Vec<_>>(), [7; 3]);
                assert_eq!(n, bytes.len());
                assert!(n <= max);
                if !bytes.is_empty() {
                    push(outs, Out::Transmit(bytes));
                }
            }
            Drain::Messages(max) => {
                let mut lent = 0;
                let n = conn.poll_messages(max, |m| {
                    lent += 1;
                    outs.push(Out::Event(Event::Message(m.to_message())));
                });
                assert_eq!(n, lent);
                assert!(n <= max);
            }
        }
        match poll(conn) {
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

/// Runs `ops`, draining after every `every`-th op and at the end (so
/// outputs can pile up between drains).
fn run(client: bool, ops: &[Op], every: usize, mode: Drain) -> (Vec<Out>, wsmachine::Stats) {
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
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Send { text, copy, len } if *copy && matches!(mode, Drain::SendInto) => {
                let data = vec![b'x'; *len];
                let mut bytes = vec![7; 2]; // it appends to what is there
                let deadline = conn.poll_timeout();
                let sent = if *text {
                    conn.send_text_into(core::str::from_utf8(&data).unwrap(), &mut bytes)
                } else {
                    conn.send_binary_into(&data, &mut bytes)
                };
                assert_eq!(bytes.drain(..2).collect::<Vec<_>>(), [7; 2]);
                assert_eq!(sent.unwrap_or(0), bytes.len());
                // After a full drain, a send moves no deadline: a driver
                // may drain again later. (With outputs left, taking a
                // due keepalive ping out arms the pong deadline.)
                if every == 1 {
                    assert_eq!(conn.poll_timeout(), deadline);
                }
                if !bytes.is_empty() {
                    push(&mut outs, Out::Transmit(bytes));
                }
            }
            Op::Send { text, copy, len } => {
                let data = vec![b'x'; *len];
                let _ = match (text, copy) {
                    (true, true) => conn.send_text_copy(core::str::from_utf8(&data).unwrap()),
                    (false, true) => conn.send_binary_copy(&data),
                    (true, false) => conn.send_text(String::from_utf8(data).unwrap()),
                    (false, false) => conn.send_binary(data),
                };
                if *copy && matches!(mode, Drain::SendThenPoll) {
                    let mut bytes = Vec::new();
                    conn.poll_transmits_into(&mut bytes, usize::MAX);
                    if !bytes.is_empty() {
                        push(&mut outs, Out::Transmit(bytes));
                    }
                }
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
                for &(opcode, fin, len, pattern) in frames {
                    let (fin, len) = if opcode >= 0x8 {
                        (true, len.min(125))
                    } else {
                        (fin, len)
                    };
                    buf.extend_from_slice(&frame(peer, fin, opcode, &payload(pattern, len)));
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
        if (i + 1) % every == 0 || i + 1 == ops.len() {
            drain(&mut conn, mode, &mut outs);
        }
    }
    (outs, conn.stats())
}

/// The two ways of draining give the same outputs and counters.
fn same(client: bool, ops: &[Op], every: usize, a: Drain, b: Drain) -> Result<(), TestCaseError> {
    let (a_outs, a_stats) = run(client, ops, every, a);
    let (b_outs, b_stats) = run(client, ops, every, b);
    prop_assert_eq!(a_outs, b_outs);
    prop_assert_eq!(a_stats, b_stats);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1536))]

    /// Each batch call against what it is defined as: `poll_transmits_into`
    /// and `poll_messages` against `poll_output` alone, `send_*_into`
    /// against the send followed by `poll_transmits_into`.
    #[test]
    fn batch_calls_equal_their_definition(
        client in any::<bool>(),
        ops in prop::collection::vec(op(), 1..24),
        every in 1usize..4,
        (reference, batch) in prop_oneof![
            prop_oneof![0usize..400, Just(usize::MAX)].prop_map(|m| (Drain::Plain, Drain::Into(m))),
            Just((Drain::SendThenPoll, Drain::SendInto)),
            prop_oneof![0usize..4, Just(usize::MAX)].prop_map(|m| (Drain::Plain, Drain::Messages(m))),
        ],
    ) {
        same(client, &ops, every, reference, batch)?;
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
    for mode in [Drain::Plain, Drain::Into(usize::MAX)] {
        let mut conn = Connection::client(Config::default(), Instant::ZERO, [3; 32]);
        conn.send_binary_copy(b"a").unwrap();
        conn.send_text_copy("b").unwrap();
        conn.send_binary(vec![7u8; 200]).unwrap(); // a queued frame
        conn.send_binary_copy(b"c").unwrap();
        let mut buf = BytesMut::from(&frame(Origin::Server, true, 0x9, b"p")[..]);
        conn.handle_read(Instant::ZERO, &mut buf);
        conn.send_binary_copy(b"d").unwrap();
        let mut outs = Vec::new();
        drain(&mut conn, mode, &mut outs);
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
            "{mode:?}"
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
    for mode in [Drain::Plain, Drain::Into(usize::MAX)] {
        let mut conn = Connection::client(Config::default(), Instant::ZERO, [3; 32]);
        conn.send_binary_copy(b"first").unwrap();
        let mut buf = BytesMut::from(&frame(Origin::Server, true, 0x1, b"hello")[..]);
        conn.handle_read(Instant::ZERO, &mut buf);
        let mut outs = Vec::new();
        drain(&mut conn, mode, &mut outs);
        assert_eq!(outs.len(), 2, "{outs:?}");
        assert!(matches!(&outs[0], Out::Transmit(_)), "{mode:?}: {outs:?}");
        assert!(matches!(
            &outs[1],
            Out::Event(wsmachine::Event::Message(m)) if m.as_bytes() == b"hello"
        ));
    }
}

/// A text that is not UTF-8 is left for `poll_output` as it was received,
/// so it fails the connection with 1007; the valid message before it is
/// lent. (Here the bytes on the wire are valid UTF-8 and the text is not: a
/// second unmasking of the text would deliver it.)
#[test]
fn poll_messages_leaves_invalid_text_to_poll_output() {
    let key = [0x80; 4];
    for len in [5, 40, 100] {
        let mut conn = Connection::server(Config::default(), Instant::ZERO);
        let mut wire = common::masked_frame(true, 0x1, b"fine", key);
        wire.extend_from_slice(&common::masked_frame(true, 0x1, &vec![0xE1; len], key));
        let mut buf = BytesMut::from(&wire[..]);
        conn.handle_read(Instant::ZERO, &mut buf);
        let mut lent = Vec::new();
        let n = conn.poll_messages(usize::MAX, |m| lent.push(m.to_message()));
        assert_eq!((n, lent), (1, vec![wsmachine::Message::text("fine")]));
        assert_eq!(conn.poll_messages(usize::MAX, |_| panic!("lent")), 0);
        let (outs, _) = common::drain_with_wait(&mut conn);
        assert!(
            outs.iter().any(|o| matches!(
                o,
                Out::Event(Event::Closed(info)) if info.sent.as_ref().map(|f| f.code) == Some(CloseCode::INVALID_PAYLOAD)
            )),
            "len {len}: {outs:?}"
        );
    }
}

/// A due keepalive ping goes before messages already queued.
#[test]
fn poll_messages_waits_behind_a_due_ping() {
    let config = Config::default().ping_interval(Some(Duration::from_secs(10)));
    let mut conn = Connection::server(config, Instant::ZERO);
    conn.send_binary(vec![1u8; 200]).unwrap();
    let mut buf = BytesMut::from(&frame(Origin::Client, true, 0x2, b"queued")[..]);
    conn.handle_read(Instant::ZERO, &mut buf);
    // The frame sent first comes first; the message is queued behind it.
    assert_eq!(conn.poll_messages(usize::MAX, |_| panic!("lent")), 0);
    assert!(poll(&mut conn).is_transmit());
    conn.handle_timeout(Instant::ZERO + Duration::from_secs(11));
    assert_eq!(conn.poll_messages(usize::MAX, |_| panic!("lent")), 0);
    match poll(&mut conn) {
        Out::Transmit(bytes) => assert_eq!(bytes[0], 0x89, "a ping"),
        other => panic!("{other:?}"),
    }
    let mut lent = Vec::new();
    assert_eq!(conn.poll_messages(9, |m| lent.push(m.to_message())), 1);
    assert_eq!(lent, [wsmachine::Message::binary(&b"queued"[..])]);
}

/// Messages split off a read come before a frame sent after the read:
/// `send_binary_into` then queues the frame and appends nothing.
#[test]
fn send_into_waits_behind_messages_not_yet_polled() {
    let mut conn = Connection::server(Config::default(), Instant::ZERO);
    let mut wire = frame(Origin::Client, true, 0x1, b"one");
    wire.extend_from_slice(&frame(Origin::Client, true, 0x2, b"two"));
    let mut buf = BytesMut::from(&wire[..]);
    conn.handle_read(Instant::ZERO, &mut buf);
    let mut out = Vec::new();
    assert_eq!(conn.send_binary_into(b"reply", &mut out).unwrap(), 0);
    assert!(out.is_empty());
    let (outs, _) = common::drain_with_wait(&mut conn);
    assert!(matches!(&outs[0], Out::Event(Event::Message(m)) if m.as_bytes() == b"one"));
    assert!(matches!(&outs[1], Out::Event(Event::Message(m)) if m.as_bytes() == b"two"));
    assert!(matches!(&outs[2], Out::Transmit(b) if b == b"\x82\x05reply"));
    assert_eq!(outs.len(), 3);
    // Now nothing is due: the next frame goes straight into the buffer.
    assert_eq!(conn.send_binary_into(b"next", &mut out).unwrap(), 6);
    assert_eq!(out, b"\x82\x04next");
}

/// The pong owed to the last ping of a flood goes out after the queue: a
/// frame sent while it is owed is appended before it, and it after.
#[test]
fn send_into_appends_an_owed_pong_after_the_frame() {
    let mut conn = Connection::server(Config::default(), Instant::ZERO);
    let pings = 17; // one more than the pongs the connection queues
    let mut wire = Vec::new();
    for i in 0..pings {
        wire.extend_from_slice(&frame(Origin::Client, true, 0x9, &[i]));
    }
    let mut buf = BytesMut::from(&wire[..]);
    conn.handle_read(Instant::ZERO, &mut buf);
    // Take the queued pongs and ping events, up to the last ping event.
    let mut seen = 0;
    while seen < pings {
        if let Out::Event(Event::Ping(_)) = poll(&mut conn) {
            seen += 1;
        }
    }
    let mut out = Vec::new();
    assert_eq!(conn.send_binary_into(b"x", &mut out).unwrap(), 3 + 3);
    assert_eq!(out, b"\x82\x01x\x8A\x01\x10");
    assert!(matches!(poll(&mut conn), Out::Wait(_)));
}
