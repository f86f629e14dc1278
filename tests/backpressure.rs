//! Output accounting and limits: `buffered_amount`, `max_buffered_output`,
//! ping floods (one pending pong at most), and the fragment send API.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use wsmachine::{CloseCode, Config, DataKind, Event, Message, SendError};

#[test]
fn buffered_amount_grows_with_sends_and_shrinks_as_transmits_leave() {
    let mut s = server();
    assert_eq!(s.buffered_amount(), 0);
    s.send_binary(vec![0; 100]).unwrap();
    assert_eq!(s.buffered_amount(), 102);
    s.send_binary(vec![0; 200]).unwrap();
    assert_eq!(s.buffered_amount(), 102 + 204);
    s.send_text("hi").unwrap();
    assert_eq!(s.buffered_amount(), 102 + 204 + 4);

    let Out::Transmit(first) = poll(&mut s) else {
        panic!("expected a transmit")
    };
    assert_eq!(first.len(), 102);
    assert_eq!(s.buffered_amount(), 204 + 4);
    let Out::Transmit(second) = poll(&mut s) else {
        panic!("expected a transmit")
    };
    assert_eq!(second.len(), 204);
    assert_eq!(s.buffered_amount(), 4);
    assert!(poll(&mut s).is_transmit());
    assert_eq!(s.buffered_amount(), 0);
    assert_eq!(poll(&mut s), Out::Wait(None));
}

#[test]
fn client_buffered_amount_counts_the_masking_key() {
    let mut c = client();
    c.send_binary(vec![0; 100]).unwrap();
    assert_eq!(c.buffered_amount(), 2 + 4 + 100);
    c.ping(Bytes::from_static(b"p")).unwrap();
    assert_eq!(c.buffered_amount(), 106 + 7);
    let _ = drain(&mut c);
    assert_eq!(c.buffered_amount(), 0);
}

#[test]
fn send_past_the_limit_is_refused_and_the_connection_stays_usable() {
    let mut s = server_with(Config::default().max_buffered_output(300));
    s.send_binary(vec![1; 100]).unwrap();
    assert_eq!(s.buffered_amount(), 102);
    let err = s.send_binary(vec![2; 200]).unwrap_err();
    assert!(
        matches!(err, SendError::Backpressure { buffered: 102, limit: 300, needed } if needed >= 204),
        "{err:?}"
    );
    assert_eq!(s.buffered_amount(), 102, "a refused send queues nothing");
    assert!(s.is_open());
    // Small sends still fit.
    s.send_text("ok").unwrap();
    let outs = drain(&mut s);
    assert_eq!(
        transmits(&outs),
        vec![
            unmasked_frame(true, BINARY, &[1; 100]),
            unmasked_frame(true, TEXT, b"ok")
        ]
    );
    // With the queue drained, the refused message fits.
    s.send_binary(vec![2; 200]).unwrap();
    assert_eq!(
        transmits(&drain(&mut s)),
        vec![unmasked_frame(true, BINARY, &[2; 200])]
    );
}

#[test]
fn every_send_command_respects_the_limit() {
    let mut c = client_with(Config::default().max_buffered_output(64));
    c.send_binary(vec![0; 40]).unwrap();
    assert!(matches!(
        c.send_text("x".repeat(40)),
        Err(SendError::Backpressure { .. })
    ));
    assert!(matches!(
        c.send(Message::binary(vec![0; 40])),
        Err(SendError::Backpressure { .. })
    ));
    assert!(matches!(
        c.ping(vec![0; 40]),
        Err(SendError::Backpressure { .. })
    ));
    assert!(matches!(
        c.send_fragment(DataKind::Binary, vec![0; 40], false),
        Err(SendError::Backpressure { .. })
    ));
    let frames = sent_frames(&drain(&mut c), Origin::Client);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].payload, vec![0; 40]);
}

#[test]
fn a_message_larger_than_the_limit_never_fits() {
    let mut s = server_with(Config::default().max_buffered_output(1000));
    assert!(matches!(
        s.send_binary(vec![0; 1000]),
        Err(SendError::Backpressure {
            buffered: 0,
            limit: 1000,
            ..
        })
    ));
    // Fragments of it do.
    for i in 0..4 {
        s.send_fragment(DataKind::Binary, vec![0; 250], i == 3)
            .unwrap();
        let _ = drain(&mut s);
    }
}

#[test]
fn close_goes_out_even_when_the_buffer_is_full() {
    let mut s = server_with(Config::default().max_buffered_output(120));
    s.send_binary(vec![0; 100]).unwrap();
    assert!(s.send_binary(vec![0; 10]).is_err());
    s.close(wsmachine::Instant::ZERO, CloseCode::NORMAL, "bye")
        .unwrap();
    let frames = sent_frames(&drain(&mut s), Origin::Server);
    assert_eq!(
        frames.iter().map(|f| f.opcode).collect::<Vec<_>>(),
        vec![BINARY, CLOSE]
    );
}

#[test]
fn ping_payload_over_125_is_refused() {
    let mut s = server();
    assert_eq!(s.ping(vec![0; 126]), Err(SendError::ControlTooLong(126)));
    s.ping(vec![0; 125]).unwrap();
    let tx = transmits(&drain(&mut s));
    assert_eq!(tx[0][..2], [0x89, 125]);
}

fn flood(count: u32, from: Origin) -> Vec<u8> {
    (0..count)
        .flat_map(|i| frame(from, true, PING, &i.to_be_bytes()))
        .collect()
}

/// At most this many pongs for any flood: RFC 6455 §5.5.3 lets an endpoint
/// answer only the most recent of several unanswered pings, and the
/// connection must, so that a flood cannot grow its memory.
const MAX_FLOOD_PONGS: usize = 32;

/// Checks the pongs sent for a flood of `count` pings numbered 0..count:
/// few, in the order of the pings, and the last answers the last ping.
fn check_flood_pongs(frames: &[WireFrame], count: u32) {
    assert!(
        frames.iter().all(|f| f.opcode == PONG),
        "only pongs: {frames:?}"
    );
    assert!(!frames.is_empty());
    assert!(
        frames.len() <= MAX_FLOOD_PONGS,
        "{} pongs for {count} pings",
        frames.len()
    );
    let answered: Vec<u32> = frames
        .iter()
        .map(|f| u32::from_be_bytes(f.payload[..].try_into().unwrap()))
        .collect();
    assert!(
        answered.windows(2).all(|w| w[0] < w[1]),
        "pongs follow the pings' order: {answered:?}"
    );
    assert_eq!(
        answered.last(),
        Some(&(count - 1)),
        "the latest ping is answered"
    );
}

#[test]
fn ping_flood_in_one_read_gets_a_bounded_number_of_pongs() {
    let mut s = server();
    let outs = feed(&mut s, T0, &flood(10_000, Origin::Client));
    check_flood_pongs(&sent_frames(&outs, Origin::Server), 10_000);
    assert_eq!(s.buffered_amount(), 0);
    // Every ping is still reported, in order.
    let pings: Vec<Event> = app_events(&outs);
    assert_eq!(pings.len(), 10_000);
    assert_eq!(
        pings[0],
        Event::Ping(Bytes::copy_from_slice(&0u32.to_be_bytes()))
    );
    assert_eq!(
        pings[9_999],
        Event::Ping(Bytes::copy_from_slice(&9_999u32.to_be_bytes()))
    );
    assert!(s.is_open());
}

#[test]
fn pongs_owed_do_not_grow_with_the_flood() {
    let pongs = |count: u32| {
        let mut s = server();
        let outs = feed(&mut s, T0, &flood(count, Origin::Client));
        transmits(&outs).len()
    };
    assert_eq!(pongs(1_000), pongs(20_000));
}

#[test]
fn ping_flood_to_a_client_gets_masked_pongs_for_the_latest_ping() {
    let mut c = client();
    let outs = feed(&mut c, T0, &flood(10_000, Origin::Server));
    check_flood_pongs(&sent_frames(&outs, Origin::Client), 10_000);
}

#[test]
fn ping_flood_across_reads_without_draining_stays_bounded() {
    let mut s = server();
    let mut buf = BytesMut::new();
    for i in 0u32..1_000 {
        buf.extend_from_slice(&masked_frame(true, PING, &i.to_be_bytes(), KEY));
        s.handle_read(T0, &mut buf);
        assert!(buf.is_empty());
    }
    check_flood_pongs(&sent_frames(&drain(&mut s), Origin::Server), 1_000);
}

#[test]
fn ping_flood_then_close_still_answers_the_latest_ping() {
    // RFC 6455 §5.5.2: every ping received before the close frame is owed a
    // pong; §5.5.3 allows skipping older ones, not the most recent.
    for count in [1u32, 5, 40, 1_000] {
        let mut bytes = flood(count, Origin::Client);
        bytes.extend(close_frame(Origin::Client, 1000, b""));
        let mut s = server();
        let outs = feed(&mut s, T0, &bytes);
        let frames = sent_frames(&outs, Origin::Server);
        let (close, pongs) = frames.split_last().unwrap();
        assert_eq!(close.opcode, CLOSE, "{count}");
        check_flood_pongs(pongs, count);
        assert!(closed(&outs).clean);
    }
}

#[test]
fn pings_answered_one_by_one_when_drained_between() {
    let mut s = server();
    for i in 0u8..5 {
        let outs = feed(&mut s, T0, &masked_frame(true, PING, &[i], KEY));
        assert_eq!(transmits(&outs), vec![unmasked_frame(true, PONG, &[i])]);
    }
}

#[test]
fn no_pong_when_auto_pong_is_off() {
    let mut s = server_with(Config::default().auto_pong(false));
    let outs = feed(&mut s, T0, &masked_frame(true, PING, b"hi", KEY));
    assert_eq!(
        outs,
        vec![Out::Event(Event::Ping(Bytes::from_static(b"hi")))]
    );
}

#[test]
fn pongs_by_hand() {
    // With auto_pong off, the application answers (RFC 6455 §5.5.2: same
    // payload); a pong may also go out unsolicited (§5.5.3). Masked by a
    // client, refused past 125 bytes and after the close frame.
    let mut s = server_with(Config::default().auto_pong(false));
    let outs = feed(&mut s, T0, &masked_frame(true, PING, b"hi", KEY));
    let Out::Event(Event::Ping(payload)) = &outs[0] else {
        panic!("{outs:?}")
    };
    s.pong(payload.clone()).unwrap();
    assert_eq!(
        transmits(&drain(&mut s)),
        vec![unmasked_frame(true, PONG, b"hi")]
    );
    assert_eq!(s.pong(vec![0; 126]), Err(SendError::ControlTooLong(126)));

    let mut c = client();
    c.pong(&b"beat"[..]).unwrap();
    let frames = sent_frames(&drain(&mut c), Origin::Client);
    assert_eq!(
        (frames[0].opcode, &frames[0].payload[..]),
        (PONG, &b"beat"[..])
    );
    c.close(T0, CloseCode::NORMAL, "").unwrap();
    assert_eq!(c.pong(&b"late"[..]), Err(SendError::Closed));
}

#[test]
fn fragmented_text_splitting_a_multibyte_char_arrives_as_one_message() {
    let mut c = client();
    let mut s = server();
    let mut to_s = BytesMut::new();
    // "5€!" with "€" = E2 82 AC split over three fragments.
    c.send_fragment(DataKind::Text, Bytes::from_static(b"5\xE2"), false)
        .unwrap();
    c.send_fragment(DataKind::Text, Bytes::from_static(b"\x82"), false)
        .unwrap();
    c.send_fragment(DataKind::Text, Bytes::from_static(b"\xAC!"), true)
        .unwrap();
    let outs = pump(T0, &mut c, &mut s, &mut to_s);
    let frames = sent_frames(&outs, Origin::Client);
    let shape: Vec<(u8, bool)> = frames.iter().map(|f| (f.opcode, f.fin)).collect();
    assert_eq!(shape, vec![(TEXT, false), (CONT, false), (CONT, true)]);
    assert_eq!(
        drain(&mut s),
        vec![Out::Event(Event::Message(Message::text("5€!")))]
    );
}

#[test]
fn fragment_kind_mismatch_is_refused() {
    let mut s = server();
    s.send_fragment(DataKind::Text, Bytes::from_static(b"ab"), false)
        .unwrap();
    assert_eq!(
        s.send_fragment(DataKind::Binary, Bytes::from_static(b"cd"), true),
        Err(SendError::FragmentKindMismatch)
    );
    // The open message can still be finished.
    s.send_fragment(DataKind::Text, Bytes::from_static(b"cd"), true)
        .unwrap();
    let frames = sent_frames(&drain(&mut s), Origin::Server);
    let shape: Vec<(u8, bool, Vec<u8>)> = frames
        .iter()
        .map(|f| (f.opcode, f.fin, f.payload.clone()))
        .collect();
    assert_eq!(
        shape,
        vec![(TEXT, false, b"ab".to_vec()), (CONT, true, b"cd".to_vec())]
    );
}

#[test]
fn whole_send_while_a_fragment_is_open_is_refused() {
    let mut s = server();
    s.send_fragment(DataKind::Binary, Bytes::from_static(b"a"), false)
        .unwrap();
    assert_eq!(s.send_text("x"), Err(SendError::FragmentInProgress));
    assert_eq!(
        s.send(Message::binary(Bytes::from_static(b"x"))),
        Err(SendError::FragmentInProgress)
    );
    // Control frames may be interleaved (RFC 6455 §5.4).
    s.ping(Bytes::from_static(b"p")).unwrap();
    s.send_fragment(DataKind::Binary, Bytes::from_static(b"b"), true)
        .unwrap();
    // After fin, whole sends work again.
    s.send_text("x").unwrap();
    let frames = sent_frames(&drain(&mut s), Origin::Server);
    let ops: Vec<u8> = frames.iter().map(|f| f.opcode).collect();
    assert_eq!(ops, vec![BINARY, PING, CONT, TEXT]);
}

#[test]
fn invalid_utf8_fragment_is_refused() {
    let mut s = server();
    s.send_fragment(DataKind::Text, Bytes::from_static(b"ab\xC3"), false)
        .unwrap();
    // "(" cannot follow a lead byte.
    assert_eq!(
        s.send_fragment(DataKind::Text, Bytes::from_static(b"("), false),
        Err(SendError::InvalidUtf8)
    );
    // The validator state is unchanged by the refusal: the right byte works.
    s.send_fragment(DataKind::Text, Bytes::from_static(b"\xA9"), false)
        .unwrap();
    // Ending inside a sequence is refused too.
    assert_eq!(
        s.send_fragment(DataKind::Text, Bytes::from_static(b"\xE2\x82"), true),
        Err(SendError::InvalidUtf8)
    );
    s.send_fragment(DataKind::Text, Bytes::from_static(b"!"), true)
        .unwrap();
    // A first fragment that is invalid opens nothing.
    assert_eq!(
        s.send_fragment(DataKind::Text, Bytes::from_static(b"\xFF"), false),
        Err(SendError::InvalidUtf8)
    );
    s.send_text("whole").unwrap();

    let frames = sent_frames(&drain(&mut s), Origin::Server);
    let text: Vec<u8> = frames[..3].iter().flat_map(|f| f.payload.clone()).collect();
    assert_eq!(text, "abé!".as_bytes());
    assert_eq!(frames.len(), 4);
    assert_eq!(frames[3].payload, b"whole");
}

#[test]
fn binary_fragments_are_not_validated() {
    let mut s = server();
    s.send_fragment(DataKind::Binary, Bytes::from_static(b"\xFF"), false)
        .unwrap();
    s.send_fragment(DataKind::Binary, Bytes::from_static(b"\xC3"), true)
        .unwrap();
    assert_eq!(transmits(&drain(&mut s)).len(), 2);
}

#[test]
fn single_fragment_with_fin_is_a_whole_message() {
    let mut s = server();
    s.send_fragment(DataKind::Text, Bytes::from_static(b"Hello"), true)
        .unwrap();
    assert_eq!(
        wire(&drain(&mut s)),
        [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
    );
}

#[test]
fn empty_fragments_are_allowed() {
    let mut c = client();
    let mut s = server();
    let mut to_s = BytesMut::new();
    c.send_fragment(DataKind::Binary, Bytes::new(), false)
        .unwrap();
    c.send_fragment(DataKind::Binary, Bytes::from_static(b"x"), false)
        .unwrap();
    c.send_fragment(DataKind::Binary, Bytes::new(), true)
        .unwrap();
    pump(T0, &mut c, &mut s, &mut to_s);
    assert_eq!(
        drain(&mut s),
        vec![Out::Event(Event::Message(Message::binary(
            Bytes::from_static(b"x")
        )))]
    );
}

#[test]
fn stats_count_frames_and_bytes() {
    let mut s = server();
    s.send_text("Hello").unwrap();
    let _ = drain(&mut s);
    let _ = feed(&mut s, T0, &masked_frame(true, PING, b"p", KEY));
    let stats = s.stats();
    assert_eq!(stats.frames_out, 2);
    assert_eq!(stats.bytes_out, 7 + 3);
    assert_eq!(stats.frames_in, 1);
    assert_eq!(stats.bytes_in, 2 + 4 + 1);
}
