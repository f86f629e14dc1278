//! `Connection::frame_remaining`: what a driver may read to finish the frame
//! being received, so that a large frame ends where a read ends and is split
//! off without moving what was buffered.

mod common;

use bytes::BytesMut;
use common::*;
use proptest::prelude::*;
use wsmachine::{Event, Message};

#[test]
fn none_between_frames_and_inside_a_header() {
    let mut s = server();
    assert_eq!(s.frame_remaining(), None);
    let frame = masked_frame(true, BINARY, &[1; 300], KEY);
    let mut buf = BytesMut::from(&frame[..3]); // 1 of the 2 extended length bytes
    s.handle_read(T0, &mut buf);
    assert_eq!(s.frame_remaining(), None, "the header is not whole yet");
    buf.extend_from_slice(&frame[3..]);
    s.handle_read(T0, &mut buf);
    assert_eq!(s.frame_remaining(), None, "the frame is whole");
    assert!(buf.is_empty());
}

#[test]
fn counts_what_is_missing_of_binary_text_and_control_frames() {
    for (opcode, len) in [(BINARY, 100_000), (TEXT, 100_000), (PING, 100)] {
        let payload = vec![b'a'; len];
        let frame = masked_frame(true, opcode, &payload, KEY);
        let head = frame.len() - len;
        let mut s = server();
        let mut buf = BytesMut::from(&frame[..head + 10]);
        s.handle_read(T0, &mut buf);
        let rest = s.frame_remaining().expect("a frame is in progress");
        assert_eq!(rest, (len - 10) as u64, "opcode {opcode}");
        // Reading exactly that much completes the frame: nothing is left over.
        buf.extend_from_slice(&frame[head + 10..]);
        s.handle_read(T0, &mut buf);
        assert!(buf.is_empty());
        assert_eq!(s.frame_remaining(), None);
    }
}

#[test]
fn none_once_input_is_no_longer_read() {
    let mut s = server();
    let mut bad = masked_frame(true, TEXT, &[0xff, 0xfe], KEY);
    bad.extend_from_slice(&header(0x82, 1000, Some(KEY)));
    let mut buf = BytesMut::from(&bad[..]);
    s.handle_read(T0, &mut buf);
    assert_eq!(s.frame_remaining(), None);
}

proptest! {
    /// A driver that, while a frame is partly buffered, reads exactly what
    /// `frame_remaining` says gets every message intact, and each such read
    /// completes the frame: the buffer is then empty (nothing had to move).
    #[test]
    fn reading_what_remains_completes_the_frame(
        sizes in prop::collection::vec(0usize..70_000, 1..6),
        piece in 1usize..100_000,
    ) {
        let mut client = client();
        let messages: Vec<Message> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| Message::binary(vec![u8::try_from(i).unwrap(); n]))
            .collect();
        for m in &messages {
            client.send(m.clone()).unwrap();
        }
        let bytes = wire(&drain(&mut client));
        let mut server = server();
        let mut buf = BytesMut::new();
        let mut received = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let hinted = server.frame_remaining().filter(|_| !buf.is_empty());
            let take = match hinted {
                Some(rest) => usize::try_from(rest).unwrap(),
                None => piece,
            }
            .min(bytes.len() - at);
            buf.extend_from_slice(&bytes[at..at + take]);
            at += take;
            server.handle_read(T0, &mut buf);
            if hinted.is_some() {
                prop_assert!(buf.is_empty(), "a read of what remained left {} bytes", buf.len());
            }
            received.extend(events(&drain(&mut server)));
        }
        let expected: Vec<Event> = messages.into_iter().map(Event::Message).collect();
        prop_assert_eq!(received, expected);
    }
}
