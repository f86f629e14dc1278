//! Properties of the codec that hold for all inputs: encode/decode round trip,
//! chunking invariance, and messages crossing a client/server pair intact.

use bytes::{Buf, BytesMut};
use proptest::prelude::*;
use wsmachine::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};
use wsmachine::{Config, Connection, DataKind, Delivery, Event, Instant, Message, Output};

const T0: Instant = Instant::ZERO;

/// Everything a connection emits, in order, with transmits as bytes.
#[derive(Debug, PartialEq)]
enum Out {
    Bytes(Vec<u8>),
    Shutdown,
    Event(Event),
}

fn drain(conn: &mut Connection) -> Vec<Out> {
    let mut outs = Vec::new();
    loop {
        match conn.poll_output() {
            Output::Transmit(mut t) => {
                let mut bytes = vec![0; t.remaining()];
                t.copy_to_slice(&mut bytes);
                outs.push(Out::Bytes(bytes));
            }
            Output::Shutdown => outs.push(Out::Shutdown),
            Output::Event(e) => outs.push(Out::Event(e)),
            Output::Wait { .. } => return outs,
        }
    }
}

fn wire(outs: &[Out]) -> Vec<u8> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Bytes(b) => Some(b.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

fn events(outs: Vec<Out>) -> Vec<Event> {
    outs.into_iter()
        .filter_map(|o| match o {
            Out::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// Splits `bytes` at the (sorted, clamped) cut points.
fn pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts {
        out.push(bytes[start..cut].to_vec());
        start = cut;
    }
    out.push(bytes[start..].to_vec());
    out
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        "\\PC{0,40}".prop_map(Message::text),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Message::binary),
    ]
}

/// A message and how to fragment it (cut points into its payload).
fn arb_fragmented() -> impl Strategy<Value = (Message, Vec<usize>)> {
    (arb_message(), prop::collection::vec(any::<usize>(), 0..4))
}

/// Sends `message` split at `cuts` (byte offsets; text may be split inside a
/// code point, which fragments allow).
fn send_fragmented(conn: &mut Connection, message: &Message, cuts: &[usize]) {
    if cuts.is_empty() {
        conn.send(message.clone()).unwrap();
        return;
    }
    let kind = message.kind();
    let parts = pieces(message.as_bytes(), cuts);
    let last = parts.len() - 1;
    for (i, part) in parts.into_iter().enumerate() {
        conn.send_fragment(kind, part, i == last).unwrap();
    }
}

/// A script of things a client may send.
#[derive(Clone, Debug)]
enum ClientOp {
    Message(Message, Vec<usize>),
    Ping(Vec<u8>),
}

fn arb_client_ops() -> impl Strategy<Value = Vec<ClientOp>> {
    prop::collection::vec(
        prop_oneof![
            4 => arb_fragmented().prop_map(|(m, c)| ClientOp::Message(m, c)),
            1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(ClientOp::Ping),
        ],
        0..8,
    )
}

/// The bytes a client writes for `ops` (optionally ending with a close).
fn client_stream(ops: &[ClientOp], seed: u8, close: bool) -> Vec<u8> {
    let mut client = Connection::client(Config::default(), T0, [seed; 32]);
    for op in ops {
        match op {
            ClientOp::Message(m, cuts) => send_fragmented(&mut client, m, cuts),
            ClientOp::Ping(p) => client.ping(p.clone()).unwrap(),
        }
    }
    if close {
        client
            .close(T0, wsmachine::CloseCode::NORMAL, "done")
            .unwrap();
    }
    wire(&drain(&mut client))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn header_encode_decode_round_trip(
        fin in any::<bool>(),
        rsv in 0u8..8,
        opcode in prop::sample::select(vec![OpCode::Continuation, OpCode::Text, OpCode::Binary, OpCode::Close, OpCode::Ping, OpCode::Pong]),
        mask in any::<Option<[u8; 4]>>(),
        len in prop_oneof![0u64..=125, 126u64..=65535, 65536u64..(1 << 63)],
    ) {
        let control = opcode.is_control();
        let header = FrameHeader { fin: fin || control, rsv, opcode, mask, payload_len: if control { len % 126 } else { len } };
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut buf);
        prop_assert_eq!(FrameHeader::decode(&buf[..n]), Ok(Some((header, n))));
        for cut in 0..n {
            prop_assert_eq!(FrameHeader::decode(&buf[..cut]), Ok(None));
        }
    }

    /// Client → server: every message arrives intact and in order, whatever
    /// the fragmentation and the read chunking.
    #[test]
    fn messages_cross_client_to_server_intact(
        messages in prop::collection::vec(arb_fragmented(), 0..10),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
        seed in any::<u8>(),
    ) {
        let mut client = Connection::client(Config::default(), T0, [seed; 32]);
        for (m, c) in &messages {
            send_fragmented(&mut client, m, c);
        }
        let bytes = wire(&drain(&mut client));
        let mut server = Connection::server(Config::default(), T0);
        let mut buf = BytesMut::new();
        let mut received = Vec::new();
        for piece in pieces(&bytes, &cuts) {
            buf.extend_from_slice(&piece);
            server.handle_read(T0, &mut buf);
            received.extend(events(drain(&mut server)));
        }
        let expected: Vec<Event> = messages.into_iter().map(|(m, _)| Event::Message(m)).collect();
        prop_assert_eq!(received, expected);
        prop_assert!(buf.is_empty());
    }

    /// The borrowed-slice sends put the same bytes on the wire as the `Bytes`
    /// sends (payload shared or not, inline or not, both roles), so the
    /// fused copy-and-mask is exactly masking.
    #[test]
    fn copy_sends_equal_bytes_sends(
        messages in prop::collection::vec(arb_message(), 0..8),
        seed in any::<u8>(),
        client in any::<bool>(),
        share in any::<bool>(),
    ) {
        let new = || if client {
            Connection::client(Config::default(), T0, [seed; 32])
        } else {
            Connection::server(Config::default(), T0)
        };
        let (mut by_bytes, mut by_copy) = (new(), new());
        let mut keep = Vec::new();
        for m in &messages {
            let bytes = m.clone().into_bytes();
            if share {
                keep.push(bytes.clone());
            }
            match m {
                Message::Text(t) => {
                    by_bytes.send_text(t.clone()).unwrap();
                    by_copy.send_text_copy(t).unwrap();
                }
                Message::Binary(b) => {
                    by_bytes.send_binary(bytes).unwrap();
                    by_copy.send_binary_copy(b).unwrap();
                }
            }
        }
        let expected = wire(&drain(&mut by_bytes));
        prop_assert_eq!(wire(&drain(&mut by_copy)), expected);
    }

    /// Server → client, the other masking direction.
    #[test]
    fn messages_cross_server_to_client_intact(
        messages in prop::collection::vec(arb_fragmented(), 0..10),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut server = Connection::server(Config::default(), T0);
        for (m, c) in &messages {
            send_fragmented(&mut server, m, c);
        }
        let bytes = wire(&drain(&mut server));
        let mut client = Connection::client(Config::default(), T0, [1; 32]);
        let mut buf = BytesMut::new();
        let mut received = Vec::new();
        for piece in pieces(&bytes, &cuts) {
            buf.extend_from_slice(&piece);
            client.handle_read(T0, &mut buf);
            received.extend(events(drain(&mut client)));
        }
        let expected: Vec<Event> = messages.into_iter().map(|(m, _)| Event::Message(m)).collect();
        prop_assert_eq!(received, expected);
    }

    /// Any split of the input gives identical events and identical output
    /// bytes, for valid streams and for streams with garbage after a valid
    /// prefix (the failure and its close frame must not depend on chunking).
    #[test]
    fn chunking_invariance(
        ops in arb_client_ops(),
        close in any::<bool>(),
        garbage in prop::collection::vec(any::<u8>(), 0..40),
        cuts in prop::collection::vec(any::<usize>(), 1..12),
        limit in prop_oneof![Just(usize::MAX), 1usize..400],
    ) {
        let mut bytes = client_stream(&ops, 3, close);
        bytes.extend_from_slice(&garbage);
        let config = Config::default().max_message_size(limit.min(1 << 30)).max_frame_size(limit.min(1 << 30));

        let mut whole = Connection::server(config.clone(), T0);
        let mut buf = BytesMut::from(&bytes[..]);
        whole.handle_read(T0, &mut buf);
        let expected = drain(&mut whole);

        let mut split = Connection::server(config.clone(), T0);
        let mut buf = BytesMut::new();
        for piece in pieces(&bytes, &cuts) {
            buf.extend_from_slice(&piece);
            split.handle_read(T0, &mut buf);
        }
        prop_assert_eq!(drain(&mut split), expected);
    }

    /// Draining between pieces changes only how many pongs go out (the latest
    /// ping wins), never the events.
    #[test]
    fn chunking_invariance_of_events_when_draining_between_reads(
        ops in arb_client_ops(),
        garbage in prop::collection::vec(any::<u8>(), 0..40),
        cuts in prop::collection::vec(any::<usize>(), 1..12),
    ) {
        let mut bytes = client_stream(&ops, 5, false);
        bytes.extend_from_slice(&garbage);
        let mut whole = Connection::server(Config::default(), T0);
        let mut buf = BytesMut::from(&bytes[..]);
        whole.handle_read(T0, &mut buf);
        let expected = events(drain(&mut whole));

        let mut split = Connection::server(Config::default(), T0);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in pieces(&bytes, &cuts) {
            buf.extend_from_slice(&piece);
            split.handle_read(T0, &mut buf);
            got.extend(events(drain(&mut split)));
        }
        prop_assert_eq!(got, expected);
    }

    /// In chunk delivery the pieces differ with the split, but each message's
    /// pieces concatenate to the message, with `fin` on the last only.
    #[test]
    fn chunk_delivery_reassembles_to_the_messages(
        messages in prop::collection::vec(arb_fragmented(), 0..6),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut client = Connection::client(Config::default(), T0, [9; 32]);
        for (m, c) in &messages {
            send_fragmented(&mut client, m, c);
        }
        let bytes = wire(&drain(&mut client));
        let mut server = Connection::server(Config::default().delivery(Delivery::Chunks), T0);
        let mut buf = BytesMut::new();
        let mut got: Vec<Message> = Vec::new();
        let mut current: Vec<u8> = Vec::new();
        for piece in pieces(&bytes, &cuts) {
            buf.extend_from_slice(&piece);
            server.handle_read(T0, &mut buf);
            for e in events(drain(&mut server)) {
                let Event::Chunk { kind, data, fin } = e else { panic!("{e:?}") };
                current.extend_from_slice(&data);
                if fin {
                    let payload = std::mem::take(&mut current);
                    got.push(match kind {
                        DataKind::Text => Message::text(String::from_utf8(payload).unwrap()),
                        DataKind::Binary => Message::binary(payload),
                    });
                }
            }
        }
        let expected: Vec<Message> = messages.into_iter().map(|(m, _)| m).collect();
        prop_assert_eq!(got, expected);
    }
}
