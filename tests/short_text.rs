//! Short text messages (up to 30 bytes) are validated in a padded, aligned
//! copy: for any bytes, in both roles, the outcome is exactly what
//! `core::str::from_utf8` says of the payload (the message, or close 1007),
//! whether the message ends the read or more bytes follow it (the copy then
//! reads a fixed 32-byte window past the payload), and whether it is polled
//! or lent by `poll_messages`.

mod common;

use bytes::BytesMut;
use common::{Origin, Out, feed, frame};
use proptest::prelude::*;
use wsmachine::{Config, Connection, Event, Instant, Message};

/// Bytes that make UTF-8 hard: ASCII, continuation bytes, every kind of
/// lead byte (valid and not), and the edges of the surrogate range.
fn tricky_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => 0x20u8..0x7F,
        1 => prop::sample::select(vec![
            0x00u8, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
            0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFF,
        ]),
    ]
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(tricky_byte(), 0..=30),
        // Valid text, cut anywhere up to 30 bytes.
        (".{0,12}", 0usize..=30).prop_map(|(s, cut)| {
            let b = s.into_bytes();
            b[..cut.min(b.len()).min(30)].to_vec()
        }),
    ]
}

/// A connection in either role, and where its peer's frames come from.
fn connection(client: bool) -> (Connection, Origin) {
    if client {
        (
            Connection::client(Config::default(), Instant::ZERO, [4; 32]),
            Origin::Server,
        )
    } else {
        (
            Connection::server(Config::default(), Instant::ZERO),
            Origin::Client,
        )
    }
}

/// Everything `wire`, read at once, gives: messages lent by
/// `poll_messages` first if `lend`, then `poll_output` to `Wait`.
fn read(conn: &mut Connection, wire: &[u8], lend: bool) -> Vec<Out> {
    let mut buf = BytesMut::from(wire);
    conn.handle_read(Instant::ZERO, &mut buf);
    let mut outs = Vec::new();
    if lend {
        conn.poll_messages(usize::MAX, |m| {
            outs.push(Out::Event(Event::Message(m.to_message())));
        });
    }
    outs.extend(common::drain(conn));
    outs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn short_text_outcome_is_from_utf8s(client in any::<bool>(), payload in payload()) {
        let (mut conn, from) = connection(client);
        let outs = feed(&mut conn, Instant::ZERO, &frame(from, true, 0x1, &payload));
        match core::str::from_utf8(&payload) {
            Ok(text) => prop_assert_eq!(outs, vec![Out::Event(Event::Message(Message::text(text)))]),
            // Our close frame says 1007 (checked by the helper).
            Err(_) => {
                common::assert_protocol_failure(
                    &outs,
                    from.other(),
                    &wsmachine::ProtocolError::InvalidUtf8,
                );
            }
        }
    }

    /// Short texts in one read (checked together when lent), maybe
    /// followed by bytes that are neither zero nor ASCII: the texts up to
    /// the first that is not UTF-8, then 1007.
    #[test]
    fn runs_of_short_texts_outcome_is_from_utf8s(
        client in any::<bool>(),
        lend in any::<bool>(),
        payloads in prop::collection::vec(payload(), 1..40),
        after in any::<bool>(),
    ) {
        let (mut conn, from) = connection(client);
        let mut wire: Vec<u8> = payloads.iter().flat_map(|p| frame(from, true, 0x1, p)).collect();
        let tail = [0xF8u8; 40];
        if after {
            wire.extend_from_slice(&frame(from, true, 0x2, &tail));
        }
        let outs = read(&mut conn, &wire, lend);
        let valid: Vec<&str> = payloads
            .iter()
            .map_while(|p| core::str::from_utf8(p).ok())
            .collect();
        let mut messages: Vec<Out> = valid
            .iter()
            .map(|t| Out::Event(Event::Message(Message::text(*t))))
            .collect();
        if after && valid.len() == payloads.len() {
            messages.push(Out::Event(Event::Message(Message::binary(tail.to_vec()))));
        }
        prop_assert_eq!(&outs[..messages.len()], &messages[..]);
        if valid.len() < payloads.len() {
            common::assert_protocol_failure(
                &outs[messages.len()..],
                from.other(),
                &wsmachine::ProtocolError::InvalidUtf8,
            );
        } else {
            prop_assert_eq!(outs.len(), messages.len());
        }
    }
}

/// Texts checked together are each checked on its own: a sequence cut at
/// the end of one text is not completed by the start of the next.
#[test]
fn a_cut_sequence_is_not_completed_by_the_next_text() {
    for first in [&b""[..], b"ok"] {
        let mut conn = Connection::server(Config::default(), Instant::ZERO);
        let mut wire = Vec::new();
        if !first.is_empty() {
            wire.extend(frame(Origin::Client, true, 0x1, first));
        }
        wire.extend(frame(Origin::Client, true, 0x1, b"a\xC3"));
        wire.extend(frame(Origin::Client, true, 0x1, b"\xA9b"));
        let mut buf = BytesMut::from(&wire[..]);
        conn.handle_read(Instant::ZERO, &mut buf);
        let mut lent = Vec::new();
        conn.poll_messages(usize::MAX, |m| lent.push(m.to_message()));
        let expected: Vec<Message> = (!first.is_empty())
            .then(|| Message::text("ok"))
            .into_iter()
            .collect();
        assert_eq!(lent, expected);
        common::assert_protocol_failure(
            &common::drain(&mut conn),
            Origin::Server,
            &wsmachine::ProtocolError::InvalidUtf8,
        );
    }
}
