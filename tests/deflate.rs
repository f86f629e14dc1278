//! permessage-deflate (RFC 7692) through the public API: negotiation into
//! connections, round trips for all parameter combinations, RSV1 rules, and
//! corrupt data.

mod common;

use bytes::{Buf, BytesMut};
use proptest::prelude::*;
use wsmachine::deflate::{DeflateConfig, accept_response, negotiate_server, offer};
use wsmachine::frame::{FrameHeader, OpCode};
use wsmachine::{
    CloseCause, CloseCode, Config, Connection, DataKind, Delivery, Event, Instant, Message, Output,
    ProtocolError,
};

const T0: Instant = Instant::ZERO;

fn pair_with(
    client_cfg: &DeflateConfig,
    server_cfg: &DeflateConfig,
    config: Config,
) -> (Connection, Connection) {
    let offered = offer(client_cfg);
    let (server_params, answer) = negotiate_server(&[offered], server_cfg).expect("negotiated");
    let client_params = accept_response(&answer, client_cfg).expect("valid answer");
    assert_eq!(
        server_params.server_max_window_bits,
        client_params.server_max_window_bits
    );
    (
        Connection::client(config.clone().deflate(Some(client_params)), T0, [3; 32]),
        Connection::server(config.deflate(Some(server_params)), T0),
    )
}

fn pair() -> (Connection, Connection) {
    pair_with(
        &DeflateConfig::default(),
        &DeflateConfig::default(),
        Config::default(),
    )
}

/// Drains, returning the wire bytes and the events.
fn drain(conn: &mut Connection) -> (Vec<u8>, Vec<Event>) {
    let mut wire = Vec::new();
    let mut events = Vec::new();
    loop {
        match conn.poll_output() {
            Output::Transmit(mut t) => {
                while t.has_remaining() {
                    let c = t.chunk();
                    wire.extend_from_slice(c);
                    let n = c.len();
                    t.advance(n);
                }
            }
            Output::Shutdown => {}
            Output::Event(e) => events.push(e),
            Output::Wait { .. } => return (wire, events),
        }
    }
}

/// Splits `wire` into frames: (rsv, opcode, payload length).
fn frames(wire: &[u8]) -> Vec<(u8, OpCode, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let (h, n) = FrameHeader::decode(&wire[at..]).unwrap().unwrap();
        out.push((h.rsv, h.opcode, h.payload_len));
        at += n + usize::try_from(h.payload_len).unwrap();
    }
    out
}

fn feed(conn: &mut Connection, wire: &[u8], piece: usize) -> Vec<Event> {
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for chunk in wire.chunks(piece.max(1)) {
        buf.extend_from_slice(chunk);
        conn.handle_read(T0, &mut buf);
        events.extend(drain(conn).1);
    }
    events
}

fn json_like(n: usize) -> String {
    let mut s = String::from("[");
    for i in 0..n {
        s.push_str(&format!(
            "{{\"id\":{i},\"name\":\"user-{i}\",\"active\":{},\"tags\":[\"alpha\",\"beta\"]}},",
            i % 2 == 0
        ));
    }
    s.push(']');
    s
}

#[test]
fn messages_are_compressed_with_rsv1_and_arrive_intact() {
    let (mut client, mut server) = pair();
    let big = json_like(200);
    client.send(Message::text(big.clone())).unwrap();
    client.send(Message::text("tiny")).unwrap();
    let (wire, _) = drain(&mut client);
    let f = frames(&wire);
    assert_eq!(f[0].0, 0b100, "RSV1 on the compressed message");
    assert!(
        f[0].2 < big.len() as u64 / 4,
        "compressed {} of {}",
        f[0].2,
        big.len()
    );
    assert_eq!(f[1].0, 0, "short messages go uncompressed");
    let events = feed(&mut server, &wire, 7);
    assert_eq!(
        events,
        vec![
            Event::Message(Message::text(big)),
            Event::Message(Message::text("tiny"))
        ]
    );
}

#[test]
fn context_takeover_makes_repeats_cheaper_and_no_takeover_does_not() {
    let msg = json_like(20);
    for (no_takeover, shrinks) in [(false, true), (true, false)] {
        let cfg = DeflateConfig::default().client_no_context_takeover(no_takeover);
        let (mut client, mut server) =
            pair_with(&cfg, &DeflateConfig::default(), Config::default());
        client.send(Message::text(msg.clone())).unwrap();
        client.send(Message::text(msg.clone())).unwrap();
        let (wire, _) = drain(&mut client);
        let f = frames(&wire);
        assert_eq!(f[1].2 < f[0].2, shrinks, "{f:?}");
        let events = feed(&mut server, &wire, 1000);
        assert_eq!(events.len(), 2);
    }
}

#[test]
fn server_to_client_with_small_windows() {
    for bits in 8..=15 {
        let client_cfg = DeflateConfig::default()
            .server_max_window_bits(bits)
            .client_max_window_bits(bits);
        let (mut client, mut server) =
            pair_with(&client_cfg, &DeflateConfig::default(), Config::default());
        let msg = json_like(100);
        server.send(Message::text(msg.clone())).unwrap();
        client.send(Message::text(msg.clone())).unwrap();
        let (s_wire, _) = drain(&mut server);
        let (c_wire, _) = drain(&mut client);
        if bits == 8 {
            assert_eq!(frames(&s_wire)[0].0, 0, "window 8: sent uncompressed");
        }
        assert_eq!(
            feed(&mut client, &s_wire, 100),
            vec![Event::Message(Message::text(msg.clone()))],
            "{bits}"
        );
        assert_eq!(
            feed(&mut server, &c_wire, 100),
            vec![Event::Message(Message::text(msg))],
            "{bits}"
        );
    }
}

#[test]
fn chunk_delivery_streams_inflated_pieces() {
    let (mut client, _) = pair();
    let (_, mut server) = pair_with(
        &DeflateConfig::default(),
        &DeflateConfig::default(),
        Config::default().delivery(Delivery::Chunks),
    );
    let msg = json_like(500);
    client.send(Message::text(msg.clone())).unwrap();
    let (wire, _) = drain(&mut client);
    let events = feed(&mut server, &wire, 512);
    let mut joined = Vec::new();
    let mut fins = 0;
    for e in events {
        let Event::Chunk { kind, data, fin } = e else {
            panic!("{e:?}")
        };
        assert_eq!(kind, DataKind::Text);
        joined.extend_from_slice(&data);
        fins += usize::from(fin);
    }
    assert_eq!(fins, 1);
    assert_eq!(joined, msg.as_bytes());
}

/// A masked client frame with explicit RSV bits.
fn raw(fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let first = common::first_byte(fin, opcode.as_u8()) | (rsv << 4);
    common::raw_frame(first, payload, Some([9, 8, 7, 6]))
}

fn closed_with(events: &[Event]) -> CloseCause {
    match events.last() {
        Some(Event::Closed(info)) => info.cause.clone(),
        other => panic!("not closed: {other:?}"),
    }
}

#[test]
fn rsv1_rules() {
    // RFC 7692 §6.1: RSV1 only on the first frame of a data message, and only
    // when negotiated; RSV2/RSV3 stay reserved.
    let cases: Vec<(bool, Vec<u8>)> = vec![
        (false, raw(true, 0b100, OpCode::Text, b"x")),
        (true, raw(true, 0b100, OpCode::Ping, b"")),
        (
            true,
            [
                raw(false, 0b100, OpCode::Text, b""),
                raw(true, 0b100, OpCode::Continuation, b""),
            ]
            .concat(),
        ),
        (true, raw(true, 0b010, OpCode::Binary, b"x")),
        (true, raw(true, 0b110, OpCode::Binary, b"x")),
    ];
    for (negotiated, bytes) in cases {
        let mut server = if negotiated {
            pair().1
        } else {
            Connection::server(Config::default(), T0)
        };
        let events = feed(&mut server, &bytes, 1000);
        assert_eq!(
            closed_with(&events),
            CloseCause::Protocol(ProtocolError::ReservedBits),
            "{bytes:x?}"
        );
    }
}

#[test]
fn corrupt_compressed_data_closes_with_1007() {
    let (_, mut server) = pair();
    let mut buf =
        BytesMut::from(&raw(true, 0b100, OpCode::Binary, &[0xff, 0xff, 0xff, 0xff, 0xff])[..]);
    server.handle_read(T0, &mut buf);
    let (wire, events) = drain(&mut server);
    assert_eq!(
        closed_with(&events),
        CloseCause::Protocol(ProtocolError::BadCompressedData)
    );
    let (h, n) = FrameHeader::decode(&wire).unwrap().unwrap();
    assert_eq!(h.opcode, OpCode::Close);
    assert_eq!(
        u16::from_be_bytes([wire[n], wire[n + 1]]),
        CloseCode::INVALID_PAYLOAD.0
    );
}

#[test]
fn invalid_utf8_inside_compressed_text_closes_with_1007() {
    let (mut client, mut server) = pair();
    // Compress invalid UTF-8 as binary, then relabel the frame as text.
    client.send(Message::binary(vec![0xC0u8; 200])).unwrap();
    let (mut wire, _) = drain(&mut client);
    wire[0] = (wire[0] & 0xF0) | 0x1;
    let events = feed(&mut server, &wire, 1000);
    assert_eq!(
        closed_with(&events),
        CloseCause::Protocol(ProtocolError::InvalidUtf8)
    );
}

fn arb_config() -> impl Strategy<Value = DeflateConfig> {
    (
        8u8..=15,
        8u8..=15,
        any::<bool>(),
        any::<bool>(),
        0u32..=9,
        0usize..100,
    )
        .prop_map(|(s, c, snt, cnt, level, min)| {
            DeflateConfig::default()
                .server_max_window_bits(s)
                .client_max_window_bits(c)
                .server_no_context_takeover(snt)
                .client_no_context_takeover(cnt)
                .level(level)
                .min_compress_size(min)
        })
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        "\\PC{0,300}".prop_map(Message::text),
        prop::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..2000)
            .prop_map(Message::binary),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any negotiated configuration, any messages, any chunking: intact, in
    /// order, both directions.
    #[test]
    fn round_trip_for_all_parameters(
        client_cfg in arb_config(),
        server_cfg in arb_config(),
        messages in prop::collection::vec(arb_message(), 1..12),
        piece in 1usize..700,
    ) {
        let (mut client, mut server) = pair_with(&client_cfg, &server_cfg, Config::default());
        for m in &messages {
            client.send(m.clone()).unwrap();
            server.send(m.clone()).unwrap();
        }
        let (c_wire, _) = drain(&mut client);
        let (s_wire, _) = drain(&mut server);
        let expected: Vec<Event> = messages.into_iter().map(Event::Message).collect();
        prop_assert_eq!(feed(&mut server, &c_wire, piece), expected.clone());
        prop_assert_eq!(feed(&mut client, &s_wire, piece), expected);
    }
}
