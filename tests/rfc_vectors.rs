//! Byte-exact vectors: RFC 6455 §5.7 examples in both directions, length
//! encoding boundaries, and client masking.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use wsmachine::frame::{FrameHeader, MAX_HEADER_LEN, MaskGen, OpCode};
use wsmachine::{Config, Connection, DataKind, Event, Message};

const HELLO: [u8; 5] = *b"Hello";
const UNMASKED_HELLO: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const MASKED_HELLO: [u8; 11] = [
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

#[test]
fn rfc_unmasked_hello_received_by_client() {
    let mut c = client();
    let outs = feed(&mut c, T0, &UNMASKED_HELLO);
    assert_eq!(
        outs,
        vec![Out::Event(Event::Message(Message::text("Hello")))]
    );
}

#[test]
fn rfc_masked_hello_received_by_server() {
    let mut s = server();
    let outs = feed(&mut s, T0, &MASKED_HELLO);
    assert_eq!(
        outs,
        vec![Out::Event(Event::Message(Message::text("Hello")))]
    );
}

#[test]
fn helpers_reproduce_the_rfc_bytes() {
    assert_eq!(unmasked_frame(true, TEXT, &HELLO), UNMASKED_HELLO);
    assert_eq!(masked_frame(true, TEXT, &HELLO, KEY), MASKED_HELLO);
    let mut out = [0; MAX_HEADER_LEN];
    let h = FrameHeader {
        fin: true,
        rsv: 0,
        opcode: OpCode::Text,
        mask: Some(KEY),
        payload_len: 5,
    };
    let n = h.encode(&mut out);
    assert_eq!(&out[..n], &MASKED_HELLO[..6]);
}

#[test]
fn masked_hello_split_at_every_point_gives_the_same_message() {
    for cut in 0..=MASKED_HELLO.len() {
        let mut s = server();
        let mut buf = BytesMut::new();
        let mut outs = feed_into(&mut s, T0, &mut buf, &MASKED_HELLO[..cut]);
        outs.extend(feed_into(&mut s, T0, &mut buf, &MASKED_HELLO[cut..]));
        assert!(buf.is_empty(), "cut {cut}");
        assert_eq!(
            outs,
            vec![Out::Event(Event::Message(Message::text("Hello")))],
            "cut {cut}"
        );
    }
}

#[test]
fn masked_hello_byte_by_byte() {
    let mut s = server();
    let mut buf = BytesMut::new();
    let mut outs = Vec::new();
    for b in MASKED_HELLO {
        outs.extend(feed_into(&mut s, T0, &mut buf, &[b]));
    }
    assert!(buf.is_empty());
    assert_eq!(
        outs,
        vec![Out::Event(Event::Message(Message::text("Hello")))]
    );
}

#[test]
fn rfc_fragmented_unmasked_hello_received_by_client() {
    let mut c = client();
    let bytes = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let outs = feed(&mut c, T0, &bytes);
    assert_eq!(
        outs,
        vec![Out::Event(Event::Message(Message::text("Hello")))]
    );
}

#[test]
fn rfc_fragments_arriving_in_separate_reads() {
    let mut c = client();
    let mut buf = BytesMut::new();
    let first = feed_into(&mut c, T0, &mut buf, &[0x01, 0x03, 0x48, 0x65, 0x6c]);
    assert_eq!(first, vec![], "nothing before the final fragment");
    let second = feed_into(&mut c, T0, &mut buf, &[0x80, 0x02, 0x6c, 0x6f]);
    assert_eq!(
        second,
        vec![Out::Event(Event::Message(Message::text("Hello")))]
    );
    assert!(buf.is_empty());
}

#[test]
fn control_frame_between_fragments_is_handled() {
    // RFC 6455 §5.4: control frames may be injected in the middle of a
    // fragmented message.
    let mut s = server();
    let mut bytes = masked_frame(false, TEXT, b"Hel", KEY);
    bytes.extend(masked_frame(true, PING, b"p", [1, 2, 3, 4]));
    bytes.extend(masked_frame(true, CONT, b"lo", [5, 6, 7, 8]));
    let outs = feed(&mut s, T0, &bytes);
    assert_eq!(transmits(&outs), vec![unmasked_frame(true, PONG, b"p")]);
    assert_eq!(
        app_events(&outs),
        vec![
            Event::Ping(Bytes::from_static(b"p")),
            Event::Message(Message::text("Hello"))
        ]
    );
}

#[test]
fn rfc_unmasked_ping_client_answers_with_masked_pong() {
    let mut c = client();
    let outs = feed(&mut c, T0, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    let frames = sent_frames(&outs, Origin::Client);
    assert_eq!(frames.len(), 1);
    let pong = &frames[0];
    assert_eq!(pong.header[0], 0x8a);
    assert_eq!(pong.header[1], 0x85, "mask bit and length 5");
    assert_eq!(pong.opcode, PONG);
    assert_eq!(pong.payload, HELLO);
    // The key is the first of the seed's key stream.
    assert_eq!(pong.key, Some(MaskGen::new(SEED).next_key()));
    assert_eq!(
        app_events(&outs),
        vec![Event::Ping(Bytes::from_static(b"Hello"))]
    );
}

#[test]
fn rfc_masked_ping_server_answers_with_exact_unmasked_pong() {
    let mut s = server();
    let ping = [
        0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let outs = feed(&mut s, T0, &ping);
    assert_eq!(
        outs,
        vec![
            Out::Transmit(vec![0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]),
            Out::Event(Event::Ping(Bytes::from_static(b"Hello"))),
        ]
    );
}

#[test]
fn rfc_unmasked_pong_received_by_client() {
    let mut c = client();
    let outs = feed(&mut c, T0, &[0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(
        outs,
        vec![Out::Event(Event::Pong {
            payload: Bytes::from_static(b"Hello"),
            rtt: None
        })]
    );
}

#[test]
fn rfc_256_byte_binary_received_by_client() {
    let data = payload(256);
    let mut bytes = vec![0x82, 0x7E, 0x01, 0x00];
    bytes.extend_from_slice(&data);
    let mut c = client();
    let outs = feed(&mut c, T0, &bytes);
    assert_eq!(
        outs,
        vec![Out::Event(Event::Message(Message::binary(data)))]
    );
}

#[test]
fn rfc_64k_binary_received_by_client() {
    let data = payload(65536);
    let mut bytes = vec![0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    bytes.extend_from_slice(&data);
    let mut c = client();
    let outs = feed(&mut c, T0, &bytes);
    assert_eq!(
        outs,
        vec![Out::Event(Event::Message(Message::binary(data)))]
    );
}

#[test]
fn rfc_64k_binary_in_odd_pieces() {
    let data = payload(65536);
    let mut bytes = vec![0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    bytes.extend_from_slice(&data);
    let mut c = client();
    let mut buf = BytesMut::new();
    let mut outs = Vec::new();
    for piece in bytes.chunks(997) {
        outs.extend(feed_into(&mut c, T0, &mut buf, piece));
    }
    assert!(buf.is_empty());
    assert_eq!(
        outs,
        vec![Out::Event(Event::Message(Message::binary(data)))]
    );
}

#[test]
fn rfc_256_and_64k_binary_sent_by_server() {
    let mut s = server();
    s.send_binary(payload(256)).unwrap();
    s.send_binary(payload(65536)).unwrap();
    let outs = drain(&mut s);
    let tx = transmits(&outs);
    assert_eq!(tx.len(), 2);
    assert_eq!(tx[0][..4], [0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(tx[0][4..], payload(256)[..]);
    assert_eq!(
        tx[1][..10],
        [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
    );
    assert_eq!(tx[1][10..], payload(65536)[..]);
}

#[test]
fn server_sending_hello_transmits_exact_bytes() {
    let mut s = server();
    s.send_text("Hello").unwrap();
    assert_eq!(drain(&mut s), vec![Out::Transmit(UNMASKED_HELLO.to_vec())]);
    let mut s = server();
    s.send(Message::text("Hello")).unwrap();
    assert_eq!(drain(&mut s), vec![Out::Transmit(UNMASKED_HELLO.to_vec())]);
}

#[test]
fn transmit_buf_header_payload_and_write_to_agree() {
    let mut s = server();
    s.send_binary(payload(300)).unwrap();
    let wsmachine::Output::Transmit(t) = s.poll_output() else {
        panic!("expected a transmit")
    };
    assert_eq!(t.header(), &[0x82, 0x7E, 0x01, 0x2C]);
    assert_eq!(t.payload(), &payload(300)[..]);
    assert_eq!(t.len(), 304);
    let mut via_write_to = Vec::new();
    t.write_to(&mut via_write_to);
    let mut vectored = [std::io::IoSlice::new(&[]); 4];
    let n = bytes::Buf::chunks_vectored(&t, &mut vectored);
    let via_vectored: Vec<u8> = vectored[..n]
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect();
    let mut via_buf = Vec::new();
    bytes::BufMut::put(&mut via_buf, t);
    assert_eq!(via_write_to, via_buf);
    assert_eq!(via_vectored, via_buf);
}

#[test]
fn send_length_boundaries_use_exact_headers() {
    let cases: [(usize, &[u8]); 5] = [
        (0, &[0x82, 0x00]),
        (125, &[0x82, 0x7D]),
        (126, &[0x82, 0x7E, 0x00, 0x7E]),
        (65535, &[0x82, 0x7E, 0xFF, 0xFF]),
        (65536, &[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]),
    ];
    for (len, head) in cases {
        let mut s = server();
        s.send_binary(payload(len)).unwrap();
        let tx = transmits(&drain(&mut s));
        assert_eq!(tx.len(), 1, "{len}");
        assert_eq!(&tx[0][..head.len()], head, "{len}");
        assert_eq!(tx[0][head.len()..], payload(len)[..], "{len}");
    }
}

#[test]
fn client_send_length_boundaries_use_exact_headers() {
    let cases: [(usize, &[u8]); 5] = [
        (0, &[0x82, 0x80]),
        (125, &[0x82, 0xFD]),
        (126, &[0x82, 0xFE, 0x00, 0x7E]),
        (65535, &[0x82, 0xFE, 0xFF, 0xFF]),
        (65536, &[0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]),
    ];
    for (len, head) in cases {
        let mut c = client();
        c.send_binary(payload(len)).unwrap();
        let outs = drain(&mut c);
        let tx = transmits(&outs);
        assert_eq!(tx.len(), 1, "{len}");
        assert_eq!(&tx[0][..head.len()], head, "{len}");
        assert_eq!(tx[0].len(), head.len() + 4 + len, "{len}");
        let frames = sent_frames(&outs, Origin::Client);
        assert_eq!(frames[0].payload, payload(len), "{len}");
    }
}

#[test]
fn receive_length_boundaries_deliver_intact_messages() {
    for len in [0, 1, 125, 126, 127, 65535, 65536, 70000] {
        let data = payload(len);
        let mut s = server();
        let outs = feed(&mut s, T0, &masked_frame(true, BINARY, &data, KEY));
        assert_eq!(
            outs,
            vec![Out::Event(Event::Message(Message::binary(data.clone())))],
            "server {len}"
        );
        let mut c = client();
        let outs = feed(&mut c, T0, &unmasked_frame(true, BINARY, &data));
        assert_eq!(
            outs,
            vec![Out::Event(Event::Message(Message::binary(data)))],
            "client {len}"
        );
    }
}

#[test]
fn empty_text_message_both_ways() {
    let mut s = server();
    let outs = feed(&mut s, T0, &masked_frame(true, TEXT, b"", KEY));
    assert_eq!(outs, vec![Out::Event(Event::Message(Message::text("")))]);
    s.send_text("").unwrap();
    assert_eq!(drain(&mut s), vec![Out::Transmit(vec![0x81, 0x00])]);
}

#[test]
fn multibyte_text_round_trips_between_client_and_server() {
    let text = "héllo wörld ✓ 🦀";
    let mut c = client();
    let mut s = server();
    let mut to_server = BytesMut::new();
    c.send_text(text).unwrap();
    let outs = pump(T0, &mut c, &mut s, &mut to_server);
    assert_eq!(outs.len(), 1);
    assert_eq!(
        drain(&mut s),
        vec![Out::Event(Event::Message(Message::text(text)))]
    );
}

#[test]
fn client_frames_are_masked_and_unmask_to_the_payload() {
    let mut c = client();
    c.send_text("Hello").unwrap();
    c.send_binary(payload(300)).unwrap();
    c.ping(Bytes::from_static(b"abc")).unwrap();
    let outs = drain(&mut c);
    let frames = sent_frames(&outs, Origin::Client);
    assert_eq!(frames.len(), 3);
    let mut keys = MaskGen::new(SEED);
    for f in &frames {
        assert_ne!(f.header[1] & 0x80, 0, "mask bit set");
        assert_eq!(
            f.key,
            Some(keys.next_key()),
            "keys come from the seed's stream in order"
        );
    }
    assert_eq!(
        (frames[0].opcode, &frames[0].payload[..]),
        (TEXT, &b"Hello"[..])
    );
    assert_eq!(
        (frames[1].opcode, frames[1].payload.clone()),
        (BINARY, payload(300))
    );
    assert_eq!(
        (frames[2].opcode, &frames[2].payload[..]),
        (PING, &b"abc"[..])
    );
    // The payload on the wire is really masked.
    assert_ne!(&transmits(&outs)[0][6..], b"Hello");
}

#[test]
fn clients_with_the_same_seed_produce_identical_bytes() {
    let run = |seed: [u8; 32]| {
        let mut c = Connection::client(Config::default(), T0, seed);
        c.send_text("Hello").unwrap();
        c.send_binary(payload(1000)).unwrap();
        c.send_fragment(DataKind::Text, Bytes::from_static(b"ab"), false)
            .unwrap();
        c.send_fragment(DataKind::Text, Bytes::from_static(b"cd"), true)
            .unwrap();
        c.close(T0, wsmachine::CloseCode::NORMAL, "bye").unwrap();
        wire(&drain(&mut c))
    };
    assert_eq!(run(SEED), run(SEED));
    let a = decode_frames(&run(SEED), Origin::Client);
    let b = decode_frames(&run([8; 32]), Origin::Client);
    assert_eq!(a.len(), b.len());
    for (fa, fb) in a.iter().zip(&b) {
        assert_eq!(fa.payload, fb.payload, "same content");
        assert_ne!(fa.key, fb.key, "different seeds give different masks");
    }
}

#[test]
fn client_masking_keys_vary_between_frames() {
    let mut c = client();
    for _ in 0..32 {
        c.send_text("x").unwrap();
    }
    let frames = sent_frames(&drain(&mut c), Origin::Client);
    let mut keys: Vec<_> = frames.iter().map(|f| f.key.unwrap()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert!(
        keys.len() > 28,
        "masking keys should not repeat: {} distinct of 32",
        keys.len()
    );
}

#[test]
fn client_to_server_transcript_decodes_at_the_server() {
    let mut c = client();
    let mut s = server();
    let mut to_server = BytesMut::new();
    c.send_text("one").unwrap();
    c.send_binary(payload(70_000)).unwrap();
    c.send_fragment(DataKind::Binary, Bytes::from_static(b"ab"), false)
        .unwrap();
    c.send_fragment(DataKind::Binary, Bytes::from_static(b"cd"), true)
        .unwrap();
    pump(T0, &mut c, &mut s, &mut to_server);
    assert!(to_server.is_empty());
    assert_eq!(
        drain(&mut s),
        vec![
            Out::Event(Event::Message(Message::text("one"))),
            Out::Event(Event::Message(Message::binary(payload(70_000)))),
            Out::Event(Event::Message(Message::binary(Bytes::from_static(b"abcd")))),
        ]
    );
}

/// A transcript with every kind of frame: fragmented text split inside a
/// character with a ping between the fragments, 16- and 64-bit lengths, a
/// pong, and a close at the end.
fn transcript() -> Vec<u8> {
    let mut bytes = masked_frame(false, TEXT, "ünï".as_bytes(), [1, 2, 3, 4]);
    bytes.extend(masked_frame(false, CONT, b"\xE2\x82", [5, 6, 7, 8]));
    bytes.extend(masked_frame(true, PING, b"mid", [9, 10, 11, 12]));
    bytes.extend(masked_frame(true, CONT, b"\xAC!", [13, 14, 15, 16]));
    bytes.extend(masked_frame(true, BINARY, &payload(300), KEY));
    bytes.extend(masked_frame(true, PONG, b"", KEY));
    bytes.extend(masked_frame(
        true,
        BINARY,
        &payload(66_000),
        [0xde, 0xad, 0xbe, 0xef],
    ));
    bytes.extend(close_frame(Origin::Client, 1000, b"done"));
    bytes
}

/// The events the transcript must give, whatever the reads.
fn transcript_events() -> Vec<Event> {
    vec![
        Event::Ping(Bytes::from_static(b"mid")),
        Event::Message(Message::text("ünï€!")),
        Event::Message(Message::binary(payload(300))),
        Event::Pong {
            payload: Bytes::new(),
            rtt: None,
        },
        Event::Message(Message::binary(payload(66_000))),
    ]
}

/// What the server must send: the pong for the ping (RFC 6455 §5.5.2: it
/// MUST answer a ping received before the close frame), then the close reply.
fn transcript_wire() -> Vec<u8> {
    let mut bytes = unmasked_frame(true, PONG, b"mid");
    bytes.extend(unmasked_frame(true, CLOSE, &close_payload(1000, b"")));
    bytes
}

fn check_transcript(outs: &[Out], what: &str) {
    assert_eq!(app_events(outs), transcript_events(), "{what}");
    assert_eq!(wire(outs), transcript_wire(), "{what}");
    let info = closed(outs);
    assert!(info.clean, "{what}");
    assert_eq!(outs[outs.len() - 2], Out::Shutdown, "{what}");
}

#[test]
fn transcript_in_one_read() {
    let mut s = server();
    let outs = feed(&mut s, T0, &transcript());
    check_transcript(&outs, "one read");
}

#[test]
fn any_split_of_the_input_gives_the_same_outputs() {
    let bytes = transcript();
    // Two reads, split anywhere in the first 400 bytes and around the headers
    // of the 64-bit frame and the close frame.
    let big_at = bytes.len() - 66_000 - 14 - 12;
    let cuts = (0..400)
        .chain(big_at - 2..big_at + 16)
        .chain(bytes.len() - 14..=bytes.len());
    for cut in cuts {
        let mut s = server();
        let mut buf = BytesMut::new();
        let mut outs = feed_into(&mut s, T0, &mut buf, &bytes[..cut]);
        outs.extend(feed_into(&mut s, T0, &mut buf, &bytes[cut..]));
        assert!(buf.is_empty(), "cut {cut}");
        check_transcript(&outs, &format!("cut {cut}"));
    }
}

#[test]
fn small_uneven_reads_give_the_same_outputs() {
    let bytes = transcript();
    for sizes in [&[1usize][..], &[2, 3, 5, 7, 11, 13], &[13, 1, 4096, 2]] {
        let mut s = server();
        let mut buf = BytesMut::new();
        let mut outs = Vec::new();
        let mut at = 0;
        for size in sizes.iter().cycle() {
            if at >= bytes.len() {
                break;
            }
            let end = (at + size).min(bytes.len());
            outs.extend(feed_into(&mut s, T0, &mut buf, &bytes[at..end]));
            at = end;
        }
        check_transcript(&outs, &format!("{sizes:?}"));
    }
}

#[test]
fn ping_and_close_in_one_read_still_get_a_pong() {
    // RFC 6455 §5.5.2: a Pong is owed for every Ping received before the
    // Close frame; it must not depend on how the bytes were read.
    let mut bytes = masked_frame(true, PING, b"are you there", KEY);
    bytes.extend(close_frame(Origin::Client, 1001, b""));
    let mut s = server();
    let outs = feed(&mut s, T0, &bytes);
    let ops: Vec<u8> = sent_frames(&outs, Origin::Server)
        .iter()
        .map(|f| f.opcode)
        .collect();
    assert_eq!(ops, vec![PONG, CLOSE], "{outs:?}");
    let mut c = client();
    let mut bytes = unmasked_frame(true, PING, b"are you there");
    bytes.extend(close_frame(Origin::Server, 1001, b""));
    let outs = feed(&mut c, T0, &bytes);
    let ops: Vec<u8> = sent_frames(&outs, Origin::Client)
        .iter()
        .map(|f| f.opcode)
        .collect();
    assert_eq!(ops, vec![PONG, CLOSE], "{outs:?}");
}

#[test]
fn chunked_delivery_of_any_split_concatenates_to_the_same_messages() {
    let bytes = transcript();
    for cut in (0..400).step_by(7).chain([bytes.len() - 20]) {
        let mut s = server_with(Config::default().delivery(wsmachine::Delivery::Chunks));
        let mut buf = BytesMut::new();
        let mut outs = feed_into(&mut s, T0, &mut buf, &bytes[..cut]);
        outs.extend(feed_into(&mut s, T0, &mut buf, &bytes[cut..]));
        let mut messages: Vec<(DataKind, Vec<u8>)> = Vec::new();
        let mut open: Option<(DataKind, Vec<u8>)> = None;
        for e in app_events(&outs) {
            if let Event::Chunk { kind, data, fin } = e {
                let (k, mut acc) = open.take().unwrap_or((kind, Vec::new()));
                assert_eq!(k, kind, "cut {cut}");
                acc.extend_from_slice(&data);
                if fin {
                    messages.push((k, acc))
                } else {
                    open = Some((k, acc))
                }
            }
        }
        assert!(open.is_none(), "cut {cut}");
        assert_eq!(
            messages,
            vec![
                (DataKind::Text, "ünï€!".as_bytes().to_vec()),
                (DataKind::Binary, payload(300)),
                (DataKind::Binary, payload(66_000)),
            ],
            "cut {cut}"
        );
        assert!(closed(&outs).clean, "cut {cut}");
    }
}
