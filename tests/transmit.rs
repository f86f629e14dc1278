//! `Transmit` as a `bytes::Buf`: any sequence of partial writes yields the
//! same bytes as one `write_to`, for inline (short client) and shared payloads.

use bytes::Buf;
use proptest::prelude::*;
use wsmachine::{Config, Connection, Instant, Output, Transmit};

fn one_transmit(client: bool, payload: Vec<u8>) -> Transmit {
    let mut conn = if client {
        Connection::client(Config::default(), Instant::ZERO, [5; 32])
    } else {
        Connection::server(Config::default(), Instant::ZERO)
    };
    conn.send_binary(payload).unwrap();
    match conn.poll_output() {
        Output::Transmit(t) => t,
        other => panic!("{other:?}"),
    }
}

proptest! {
    #[test]
    fn partial_writes_equal_write_to(
        client in any::<bool>(),
        payload in prop::collection::vec(any::<u8>(), 0..80),
        steps in prop::collection::vec(1usize..20, 0..40),
    ) {
        let t = one_transmit(client, payload.clone());
        let mut whole = Vec::new();
        t.write_to(&mut whole);
        prop_assert_eq!(whole.len(), t.len());
        prop_assert_eq!(t.header().len() + t.payload().len(), t.len());
        let mut t2 = t.clone();
        let mut out = Vec::new();
        for step in steps.into_iter().chain(std::iter::repeat(7)) {
            if !t2.has_remaining() {
                break;
            }
            let chunk = t2.chunk();
            let n = step.min(chunk.len());
            out.extend_from_slice(&chunk[..n]);
            t2.advance(n);
            prop_assert_eq!(t2.header().len() + t2.payload().len(), t2.remaining());
        }
        prop_assert_eq!(&out, &whole);
        // The payload on the wire unmasks to what was sent.
        let (h, n) = wsmachine::frame::FrameHeader::decode(&whole).unwrap().unwrap();
        let mut body = whole[n..].to_vec();
        if let Some(key) = h.mask {
            wsmachine::frame::apply_mask(&mut body, key, 0);
        }
        prop_assert_eq!(body, payload);
        prop_assert_eq!(h.mask.is_some(), client);
    }
}

#[test]
fn short_client_frame_is_one_chunk() {
    let t = one_transmit(true, vec![1; 16]);
    assert_eq!(
        t.chunk().len(),
        t.len(),
        "header and masked payload together"
    );
    let long = one_transmit(true, vec![1; 100]);
    assert_eq!(long.chunk().len(), long.header().len());
}
