//! One test per `ProtocolError`: input bytes -> close frame with the right
//! code on the wire -> `Shutdown` -> `Closed` with the right cause.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use wsmachine::{
    CloseCode, Config, Connection, DataKind, Delivery, Event, Initiator, Message, ProtocolError,
};

/// Feeds `bytes` to a server and checks the whole failure sequence.
fn server_fails(bytes: &[u8], err: ProtocolError) -> Vec<Out> {
    server_with_fails(Config::default(), bytes, err)
}

fn server_with_fails(config: Config, bytes: &[u8], err: ProtocolError) -> Vec<Out> {
    let mut s = server_with(config);
    let outs = feed(&mut s, T0, bytes);
    let before = assert_protocol_failure(&outs, Origin::Server, &err);
    assert_inert(&mut s, Origin::Client);
    before
}

fn client_fails(bytes: &[u8], err: ProtocolError) -> Vec<Out> {
    let mut c = client();
    let outs = feed(&mut c, T0, bytes);
    let before = assert_protocol_failure(&outs, Origin::Client, &err);
    assert_inert(&mut c, Origin::Server);
    before
}

#[test]
fn reserved_bits() {
    for rsv in [0x40, 0x20, 0x10, 0x70] {
        let bytes = raw_frame(0x80 | rsv | TEXT, b"hi", Some(KEY));
        assert_eq!(
            server_fails(&bytes, ProtocolError::ReservedBits),
            vec![],
            "rsv {rsv:#x}"
        );
        let bytes = raw_frame(0x80 | rsv | BINARY, b"hi", None);
        assert_eq!(
            client_fails(&bytes, ProtocolError::ReservedBits),
            vec![],
            "rsv {rsv:#x}"
        );
    }
    // On a control frame too.
    let bytes = raw_frame(0x80 | 0x40 | PING, b"", Some(KEY));
    server_fails(&bytes, ProtocolError::ReservedBits);
}

#[test]
fn reserved_opcode() {
    for op in (0x3..=0x7).chain(0xB..=0xF) {
        let bytes = raw_frame(0x80 | op, b"x", Some(KEY));
        assert_eq!(
            server_fails(&bytes, ProtocolError::ReservedOpcode(op)),
            vec![],
            "op {op:#x}"
        );
        let bytes = raw_frame(0x80 | op, b"x", None);
        client_fails(&bytes, ProtocolError::ReservedOpcode(op));
    }
}

#[test]
fn unmasked_frame_to_server() {
    server_fails(
        &unmasked_frame(true, TEXT, b"Hello"),
        ProtocolError::UnmaskedFrame,
    );
    server_fails(
        &unmasked_frame(true, PING, b""),
        ProtocolError::UnmaskedFrame,
    );
    server_fails(
        &unmasked_frame(true, CLOSE, &close_payload(1000, b"")),
        ProtocolError::UnmaskedFrame,
    );
}

#[test]
fn masked_frame_to_client() {
    client_fails(
        &masked_frame(true, TEXT, b"Hello", KEY),
        ProtocolError::MaskedFrame,
    );
    client_fails(
        &masked_frame(true, PONG, b"", KEY),
        ProtocolError::MaskedFrame,
    );
}

#[test]
fn client_failure_close_frame_is_masked() {
    let mut c = client();
    let outs = feed(&mut c, T0, &masked_frame(true, TEXT, b"x", KEY));
    // decode_frames asserts the mask bit for frames from a client.
    let frames = sent_frames(&outs, Origin::Client);
    assert_eq!(frames.len(), 1);
    assert!(frames[0].key.is_some());
    assert_eq!(frames[0].close_code(), Some(1002));
}

#[test]
fn fragmented_control() {
    for op in [PING, PONG, CLOSE] {
        let bytes = masked_frame(false, op, b"", KEY);
        server_fails(&bytes, ProtocolError::FragmentedControl);
        client_fails(
            &unmasked_frame(false, op, b""),
            ProtocolError::FragmentedControl,
        );
    }
}

#[test]
fn control_too_long() {
    // 126 bytes: the 16-bit length form.
    let payload = [b'a'; 126];
    server_fails(
        &masked_frame(true, PING, &payload, KEY),
        ProtocolError::ControlTooLong(126),
    );
    client_fails(
        &unmasked_frame(true, PONG, &payload),
        ProtocolError::ControlTooLong(126),
    );
    // The header alone is enough to reject it.
    let mut s = server();
    let mut buf = BytesMut::from(&header(0x80 | CLOSE, 126, Some(KEY))[..]);
    s.handle_read(T0, &mut buf);
    assert_protocol_failure(
        &drain(&mut s),
        Origin::Server,
        &ProtocolError::ControlTooLong(126),
    );
}

#[test]
fn control_of_125_bytes_is_fine() {
    let payload = [b'a'; 125];
    let mut s = server();
    let outs = feed(&mut s, T0, &masked_frame(true, PING, &payload, KEY));
    assert_eq!(transmits(&outs), vec![unmasked_frame(true, PONG, &payload)]);
    assert!(s.is_open());
}

#[test]
fn length_top_bit() {
    let mut bytes = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
    bytes.extend_from_slice(&KEY);
    server_fails(&bytes, ProtocolError::LengthTopBit);
    // Rejected from the 10 length bytes, before the masking key arrives.
    server_fails(&bytes[..10], ProtocolError::LengthTopBit);
    client_fails(
        &[0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        ProtocolError::LengthTopBit,
    );
}

#[test]
fn a_length_not_in_its_shortest_form() {
    // RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the
    // length" (124 bytes "can't be encoded as the sequence 126, 0, 124").
    let payload = [b'a'; 124];
    let mut bytes = vec![0x82, 0x80 | 126, 0, 124];
    bytes.extend_from_slice(&KEY);
    bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    server_fails(&bytes, ProtocolError::NonMinimalLength(124));
    // Known from the length bytes alone, before the key and payload arrive.
    server_fails(&bytes[..4], ProtocolError::NonMinimalLength(124));
    let mut long = vec![0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0x01, 0x00];
    long.extend_from_slice(&KEY);
    server_fails(&long, ProtocolError::NonMinimalLength(256));
    client_fails(
        &[0x82, 126, 0, 5, 1, 2, 3, 4, 5],
        ProtocolError::NonMinimalLength(5),
    );
    // Behind whole messages in the same read (the batch path reads ahead).
    let mut behind = masked_frame(true, 0x2, b"ok", KEY);
    behind.extend_from_slice(&bytes);
    server_fails(&behind, ProtocolError::NonMinimalLength(124));
}

#[test]
fn header_declaring_2_pow_62_bytes_is_rejected_with_1009_at_once() {
    let mut bytes = vec![0x82, 0xFF];
    bytes.extend_from_slice(&0x4000_0000_0000_0000u64.to_be_bytes());
    bytes.extend_from_slice(&KEY);
    let limit = Config::default().max_frame_size as u64;
    let err = ProtocolError::FrameTooLarge {
        size: 1 << 62,
        limit,
    };
    assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
    // Only the 14-byte header: no payload byte is needed to decide.
    server_fails(&bytes, err);
}

#[test]
fn unexpected_continuation() {
    server_fails(
        &masked_frame(true, CONT, b"lo", KEY),
        ProtocolError::UnexpectedContinuation,
    );
    client_fails(
        &unmasked_frame(false, CONT, b"lo"),
        ProtocolError::UnexpectedContinuation,
    );
    // After a finished fragmented message, a continuation is unexpected again.
    let mut bytes = masked_frame(false, TEXT, b"Hel", KEY);
    bytes.extend(masked_frame(true, CONT, b"lo", KEY));
    bytes.extend(masked_frame(true, CONT, b"!", KEY));
    let before = server_fails(&bytes, ProtocolError::UnexpectedContinuation);
    assert_eq!(
        before,
        vec![Out::Event(Event::Message(Message::text("Hello")))]
    );
}

#[test]
fn message_in_progress() {
    let mut bytes = masked_frame(false, TEXT, b"Hel", KEY);
    bytes.extend(masked_frame(true, TEXT, b"lo", KEY));
    server_fails(&bytes, ProtocolError::MessageInProgress);
    let mut bytes = unmasked_frame(false, BINARY, b"a");
    bytes.extend(unmasked_frame(false, BINARY, b"b"));
    client_fails(&bytes, ProtocolError::MessageInProgress);
}

#[test]
fn frame_too_large() {
    let config = Config::default().max_frame_size(100);
    let err = ProtocolError::FrameTooLarge {
        size: 101,
        limit: 100,
    };
    server_with_fails(
        config.clone(),
        &masked_frame(true, BINARY, &[0; 101], KEY),
        err.clone(),
    );
    // Checked from the header alone, before the payload arrives.
    let mut s = server_with(config.clone());
    let mut buf = BytesMut::from(&header(0x82, 101, Some(KEY))[..]);
    s.handle_read(T0, &mut buf);
    assert_protocol_failure(&drain(&mut s), Origin::Server, &err);
    // Exactly at the limit is fine.
    let mut s = server_with(config);
    let outs = feed(&mut s, T0, &masked_frame(true, BINARY, &[0; 100], KEY));
    assert_eq!(
        outs,
        vec![Out::Event(Event::Message(Message::binary(vec![0; 100])))]
    );
}

#[test]
fn message_too_large() {
    let config = Config::default().max_message_size(100);
    // Each fragment is fine on its own; together they are too big.
    let mut bytes = masked_frame(false, BINARY, &[1; 60], KEY);
    bytes.extend(masked_frame(true, CONT, &[2; 60], KEY));
    let err = ProtocolError::MessageTooLarge {
        size: 120,
        limit: 100,
    };
    server_with_fails(config.clone(), &bytes, err);
    // Detected from the second header, before its payload.
    let mut s = server_with(config.clone());
    let mut buf = BytesMut::from(&masked_frame(false, BINARY, &[1; 60], KEY)[..]);
    buf.extend_from_slice(&header(CONT, 60, Some(KEY)));
    s.handle_read(T0, &mut buf);
    assert_protocol_failure(
        &drain(&mut s),
        Origin::Server,
        &ProtocolError::MessageTooLarge {
            size: 120,
            limit: 100,
        },
    );
    // A single frame over the message limit.
    server_with_fails(
        config.clone(),
        &masked_frame(true, TEXT, &[b'a'; 101], KEY),
        ProtocolError::MessageTooLarge {
            size: 101,
            limit: 100,
        },
    );
    // Fragments adding up to exactly the limit are fine.
    let mut s = server_with(config);
    let mut bytes = masked_frame(false, BINARY, &[1; 50], KEY);
    bytes.extend(masked_frame(true, CONT, &[1; 50], KEY));
    assert_eq!(
        feed(&mut s, T0, &bytes),
        vec![Out::Event(Event::Message(Message::binary(vec![1; 100])))]
    );
}

#[test]
fn invalid_utf8_in_a_text_message() {
    server_fails(
        &masked_frame(true, TEXT, b"ab\xFFcd", KEY),
        ProtocolError::InvalidUtf8,
    );
    client_fails(
        &unmasked_frame(true, TEXT, b"\xC0\xAF"),
        ProtocolError::InvalidUtf8,
    );
    // A truncated sequence at the end of the message.
    server_fails(
        &masked_frame(true, TEXT, b"ok\xE2\x82", KEY),
        ProtocolError::InvalidUtf8,
    );
    // Surrogates are not UTF-8.
    server_fails(
        &masked_frame(true, TEXT, b"\xED\xA0\x80", KEY),
        ProtocolError::InvalidUtf8,
    );
    // Binary messages are not checked.
    let mut s = server();
    let outs = feed(&mut s, T0, &masked_frame(true, BINARY, b"\xFF", KEY));
    assert_eq!(
        outs,
        vec![Out::Event(Event::Message(Message::binary(&b"\xFF"[..])))]
    );
}

#[test]
fn invalid_utf8_across_fragments() {
    // "é" split across fragments is fine.
    let mut s = server();
    let mut bytes = masked_frame(false, TEXT, b"caf\xC3", KEY);
    bytes.extend(masked_frame(true, CONT, b"\xA9", KEY));
    assert_eq!(
        feed(&mut s, T0, &bytes),
        vec![Out::Event(Event::Message(Message::text("café")))]
    );
    // A lead byte followed, in the next fragment, by a non-continuation byte.
    let mut bytes = masked_frame(false, TEXT, b"caf\xC3", KEY);
    bytes.extend(masked_frame(true, CONT, b"(", KEY));
    server_fails(&bytes, ProtocolError::InvalidUtf8);
    // The message ends inside a sequence.
    let mut bytes = masked_frame(false, TEXT, b"caf", KEY);
    bytes.extend(masked_frame(true, CONT, b"\xC3", KEY));
    server_fails(&bytes, ProtocolError::InvalidUtf8);
}

#[test]
fn invalid_utf8_in_a_first_fragment_fails_before_the_rest() {
    let mut s = server();
    let outs = feed(&mut s, T0, &masked_frame(false, TEXT, b"ab\xFF", KEY));
    assert_protocol_failure(&outs, Origin::Server, &ProtocolError::InvalidUtf8);
}

#[test]
fn invalid_utf8_inside_a_frame_still_arriving() {
    // The header announces 100 bytes; 10 arrive, one of them invalid.
    let payload: Vec<u8> = b"abcd\xFFefgh"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'z', 90))
        .collect();
    let bytes = masked_frame(true, TEXT, &payload, KEY);
    let head_len = header(0x81, 100, Some(KEY)).len();
    for config in [
        Config::default(),
        Config::default().delivery(Delivery::Chunks),
    ] {
        let mut s = server_with(config.clone());
        let mut buf = BytesMut::from(&bytes[..head_len + 10]);
        s.handle_read(T0, &mut buf);
        let outs = drain(&mut s);
        // The 1007 close is already out, 90 bytes before the frame ends.
        let before = assert_protocol_failure(&outs, Origin::Server, &ProtocolError::InvalidUtf8);
        assert!(
            app_events(&before)
                .iter()
                .all(|e| matches!(e, Event::Chunk { .. })),
            "{config:?}"
        );
        // The rest of the frame is discarded.
        let mut rest = BytesMut::from(&bytes[head_len + 10..]);
        s.handle_read(T0, &mut rest);
        assert_silent_forever(&mut s);
    }
}

#[test]
fn invalid_utf8_inside_a_fragment_still_arriving() {
    let mut s = server();
    let mut bytes = masked_frame(false, TEXT, b"hello ", KEY);
    let rest: Vec<u8> = b"wor\x80ld"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'.', 94))
        .collect();
    let second = masked_frame(true, CONT, &rest, KEY);
    bytes.extend_from_slice(&second[..8 + 6]);
    let mut buf = BytesMut::from(&bytes[..]);
    s.handle_read(T0, &mut buf);
    assert_protocol_failure(&drain(&mut s), Origin::Server, &ProtocolError::InvalidUtf8);
}

#[test]
fn partial_frame_ending_inside_a_valid_sequence_is_not_rejected() {
    // "€" is E2 82 AC: the first read ends after E2 82.
    let text = "price: 5€ only";
    let bytes = masked_frame(true, TEXT, text.as_bytes(), KEY);
    let cut = 6 + "price: 5".len() + 2;
    for config in [
        Config::default(),
        Config::default().delivery(Delivery::Chunks),
    ] {
        let mut s = server_with(config.clone());
        let mut buf = BytesMut::new();
        let mut outs = feed_into(&mut s, T0, &mut buf, &bytes[..cut]);
        assert!(!has_closed(&outs), "{config:?}: {outs:?}");
        outs.extend(feed_into(&mut s, T0, &mut buf, &bytes[cut..]));
        assert!(!has_closed(&outs), "{config:?}: {outs:?}");
        let got: Vec<u8> = app_events(&outs)
            .into_iter()
            .flat_map(|e| match e {
                Event::Message(m) => m.into_bytes().to_vec(),
                Event::Chunk {
                    kind: DataKind::Text,
                    data,
                    ..
                } => data.to_vec(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(got, text.as_bytes(), "{config:?}");
    }
}

#[test]
fn close_frame_too_short() {
    server_fails(
        &masked_frame(true, CLOSE, &[0x03], KEY),
        ProtocolError::CloseFrameTooShort,
    );
    client_fails(
        &unmasked_frame(true, CLOSE, &[0x03]),
        ProtocolError::CloseFrameTooShort,
    );
}

#[test]
fn invalid_close_code() {
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let bytes = masked_frame(true, CLOSE, &close_payload(code, b""), KEY);
        server_fails(&bytes, ProtocolError::InvalidCloseCode(code));
        let bytes = unmasked_frame(true, CLOSE, &close_payload(code, b"why"));
        client_fails(&bytes, ProtocolError::InvalidCloseCode(code));
    }
}

#[test]
fn invalid_utf8_close_reason() {
    let bytes = masked_frame(true, CLOSE, &close_payload(1000, b"bye\xFF"), KEY);
    server_fails(&bytes, ProtocolError::InvalidUtf8);
    let bytes = unmasked_frame(true, CLOSE, &close_payload(1001, b"\xE2\x82"));
    client_fails(&bytes, ProtocolError::InvalidUtf8);
}

#[test]
fn close_code_table_row_by_row() {
    let rows: [(ProtocolError, u16); 16] = [
        (ProtocolError::ReservedBits, 1002),
        (ProtocolError::ReservedOpcode(3), 1002),
        (ProtocolError::UnmaskedFrame, 1002),
        (ProtocolError::MaskedFrame, 1002),
        (ProtocolError::FragmentedControl, 1002),
        (ProtocolError::ControlTooLong(126), 1002),
        (ProtocolError::LengthTopBit, 1002),
        (ProtocolError::NonMinimalLength(5), 1002),
        (ProtocolError::UnexpectedContinuation, 1002),
        (ProtocolError::MessageInProgress, 1002),
        (ProtocolError::FrameTooLarge { size: 2, limit: 1 }, 1009),
        (ProtocolError::MessageTooLarge { size: 2, limit: 1 }, 1009),
        (ProtocolError::InvalidUtf8, 1007),
        (ProtocolError::CloseFrameTooShort, 1002),
        (ProtocolError::InvalidCloseCode(1005), 1002),
        (ProtocolError::InvalidCloseCode(5000), 1002),
    ];
    for (err, code) in rows {
        assert_eq!(err.close_code(), CloseCode(code), "{err:?}");
        assert!(err.close_code().is_sendable(), "{err:?}");
        let text = err.to_string();
        assert!(!text.is_empty() && text.len() <= 123, "{err:?}: {text}");
    }
}

#[test]
fn data_received_before_an_error_is_delivered_before_closed() {
    let mut bytes = masked_frame(true, TEXT, b"first", KEY);
    bytes.extend(masked_frame(true, BINARY, b"second", KEY));
    bytes.extend(masked_frame(true, PING, b"p", KEY));
    bytes.extend(masked_frame(true, CONT, b"bad", KEY));
    bytes.extend(masked_frame(true, TEXT, b"never", KEY));
    let mut s = server();
    let outs = feed(&mut s, T0, &bytes);
    let before = assert_protocol_failure(
        &outs,
        Origin::Server,
        &ProtocolError::UnexpectedContinuation,
    );
    assert_eq!(
        app_events(&before),
        vec![
            Event::Message(Message::text("first")),
            Event::Message(Message::binary(&b"second"[..])),
            Event::Ping(Bytes::from_static(b"p")),
        ]
    );
    // Before the close frame, at most the pong for the ping.
    let frames = sent_frames(&outs, Origin::Server);
    let (close, before_close) = frames.split_last().unwrap();
    assert_eq!(close.close_code(), Some(1002));
    assert!(
        before_close
            .iter()
            .all(|f| f.opcode == PONG && f.payload == b"p"),
        "{before_close:?}"
    );
}

#[test]
fn chunks_received_before_an_error_are_delivered_before_closed() {
    let mut s = server_with(Config::default().delivery(Delivery::Chunks));
    let mut bytes = masked_frame(false, BINARY, b"abc", KEY);
    bytes.extend(masked_frame(true, TEXT, b"x", KEY));
    let outs = feed(&mut s, T0, &bytes);
    let before = assert_protocol_failure(&outs, Origin::Server, &ProtocolError::MessageInProgress);
    assert_eq!(
        before,
        vec![Out::Event(Event::Chunk {
            kind: DataKind::Binary,
            data: Bytes::from_static(b"abc"),
            fin: false
        })]
    );
}

#[test]
fn bytes_after_the_bad_frame_are_discarded() {
    let mut s = server();
    let mut bytes = masked_frame(true, 0x83, b"", KEY);
    bytes.extend(masked_frame(true, TEXT, b"after", KEY));
    let outs = feed(&mut s, T0, &bytes);
    let before = assert_protocol_failure(&outs, Origin::Server, &ProtocolError::ReservedOpcode(3));
    assert_eq!(before, vec![]);
}

#[test]
fn protocol_error_after_local_close_sends_no_second_close() {
    let mut s = server();
    s.close(T0, CloseCode::GOING_AWAY, "bye").unwrap();
    let outs = drain(&mut s);
    assert_eq!(
        sent_frames(&outs, Origin::Server)[0].close_code(),
        Some(1001)
    );
    let outs = feed(&mut s, T0, &masked_frame(true, 0x84, b"", KEY));
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert_eq!(outs[0], Out::Shutdown);
    let info = closed(&outs);
    assert_eq!(
        info.cause,
        wsmachine::CloseCause::Protocol(ProtocolError::ReservedOpcode(4))
    );
    assert_eq!(info.initiator, Initiator::Local);
    assert!(!info.clean);
    assert_eq!(info.sent.map(|f| f.code), Some(CloseCode::GOING_AWAY));
    assert_silent_forever(&mut s);
}

#[test]
fn protocol_error_hint_and_display_mention_the_error() {
    let mut s = server();
    let outs = feed(&mut s, T0, &masked_frame(true, TEXT, b"\xFF", KEY));
    let info = closed(&outs);
    assert_eq!(
        info.code(),
        CloseCode::ABNORMAL,
        "no close frame was received"
    );
    assert!(info.hint().contains("UTF-8"), "{}", info.hint());
    let shown = info.to_string();
    assert!(shown.contains("invalid UTF-8"), "{shown}");
    let mut s = server_with(Config::default().max_frame_size(10));
    let outs = feed(&mut s, T0, &masked_frame(true, BINARY, &[0; 11], KEY));
    assert!(closed(&outs).hint().contains("max_frame_size"));
}

#[test]
fn a_failed_client_does_not_wait_for_the_server() {
    // Failing is immediate for both roles: close frame, then Shutdown, no
    // timer left armed.
    let mut c: Connection = client();
    let mut buf = BytesMut::from(&unmasked_frame(true, TEXT, b"\xFF")[..]);
    c.handle_read(T0, &mut buf);
    let (outs, until) = drain_with_wait(&mut c);
    assert_protocol_failure(&outs, Origin::Client, &ProtocolError::InvalidUtf8);
    assert_eq!(until, None);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn control_too_long_reports_the_real_length() {
    let mut bytes = header(first_byte(true, PING), 300, Some(KEY));
    bytes.extend(vec![0u8; 300]);
    let mut s = server();
    let outs = feed(&mut s, T0, &bytes);
    assert_eq!(
        closed(&outs).cause,
        wsmachine::CloseCause::Protocol(ProtocolError::ControlTooLong(300))
    );
}

/// Whole messages in one read (the read is split off in one piece when
/// every frame passes the header rules): a frame one byte over either
/// limit still fails with 1009, with a 7-bit and with a 16-bit length,
/// whether the messages before it are polled or lent.
#[test]
fn limits_hold_for_whole_messages_read_together() {
    for limit in [100usize, 300] {
        for frame_limit in [true, false] {
            for lend in [false, true] {
                let config = if frame_limit {
                    Config::default().max_frame_size(limit)
                } else {
                    Config::default().max_message_size(limit)
                };
                let size = (limit + 1) as u64;
                let limit64 = limit as u64;
                let err = if frame_limit {
                    ProtocolError::FrameTooLarge {
                        size,
                        limit: limit64,
                    }
                } else {
                    ProtocolError::MessageTooLarge {
                        size,
                        limit: limit64,
                    }
                };
                let mut bytes = masked_frame(true, BINARY, b"first", KEY);
                bytes.extend(masked_frame(true, TEXT, &vec![b'a'; limit], KEY));
                bytes.extend(masked_frame(true, BINARY, &vec![0; limit + 1], KEY));
                let mut s = server_with(config);
                let mut buf = BytesMut::from(&bytes[..]);
                s.handle_read(T0, &mut buf);
                let mut outs = Vec::new();
                if lend {
                    s.poll_messages(usize::MAX, |m| {
                        outs.push(Out::Event(Event::Message(m.to_message())));
                    });
                }
                outs.extend(drain(&mut s));
                let text = String::from_utf8(vec![b'a'; limit]).unwrap();
                assert_eq!(
                    outs[..2],
                    [
                        Out::Event(Event::Message(Message::binary(&b"first"[..]))),
                        Out::Event(Event::Message(Message::text(text))),
                    ],
                    "limit {limit} frame_limit {frame_limit} lend {lend}"
                );
                assert_protocol_failure(&outs[2..], Origin::Server, &err);
            }
        }
    }
}
