//! Every way a connection ends, for both roles: local, remote and
//! simultaneous close, close timeouts, EOF, misuse of `close`, and the
//! guarantee of exactly one `Closed`, last.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use wsmachine::{
    CloseCause, CloseCode, CloseFrame, Config, DataKind, Duration, Event, Initiator, Instant,
    Message, SendError, Utf8Bytes,
};

fn frame_of(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code: CloseCode(code),
        reason: Utf8Bytes::from(reason),
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

fn config() -> Config {
    Config::default().close_timeout(TIMEOUT)
}

#[test]
fn server_local_close() {
    let mut s = server_with(config());
    s.close(T0, CloseCode::NORMAL, "bye").unwrap();
    assert!(!s.is_open());
    let (outs, until) = drain_with_wait(&mut s);
    assert_eq!(
        outs,
        vec![Out::Transmit(vec![
            0x88, 0x05, 0x03, 0xE8, b'b', b'y', b'e'
        ])]
    );
    assert_eq!(until, Some(T0 + TIMEOUT));

    let t1 = Instant::from_secs(1);
    let outs = feed(&mut s, t1, &close_frame(Origin::Client, 1000, b""));
    assert_eq!(outs.len(), 2, "no second close frame: {outs:?}");
    assert_eq!(outs[0], Out::Shutdown);
    let info = closed(&outs);
    assert_eq!(info.initiator, Initiator::Local);
    assert!(info.clean);
    assert_eq!(info.cause, CloseCause::Handshake);
    assert_eq!(info.sent, Some(frame_of(1000, "bye")));
    assert_eq!(info.received, Some(frame_of(1000, "")));
    assert_eq!(info.code(), CloseCode::NORMAL);
    assert_eq!(info.since_last_received, Duration::ZERO);
    assert_inert(&mut s, Origin::Client);
}

#[test]
fn client_local_close_waits_for_the_server_to_close_tcp() {
    let mut c = client_with(config());
    c.close(T0, CloseCode::GOING_AWAY, "leaving").unwrap();
    let outs = drain(&mut c);
    let frames = sent_frames(&outs, Origin::Client);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].close_code(), Some(1001));
    assert_eq!(frames[0].close_reason(), "leaving");

    let t1 = Instant::from_secs(1);
    let mut buf = BytesMut::from(&close_frame(Origin::Server, 1001, b"")[..]);
    c.handle_read(t1, &mut buf);
    let (outs, until) = drain_with_wait(&mut c);
    assert_eq!(
        outs,
        vec![],
        "the client neither replies again nor shuts down first"
    );
    assert_eq!(until, Some(t1 + TIMEOUT), "waits for the server's FIN");
    assert!(!c.is_closed());

    c.handle_eof(Instant::from_secs(2));
    let outs = drain(&mut c);
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert_eq!(outs[0], Out::Shutdown);
    let info = closed(&outs);
    assert!(info.clean);
    assert_eq!(info.initiator, Initiator::Local);
    assert_eq!(info.cause, CloseCause::Handshake);
    assert_eq!(info.sent, Some(frame_of(1001, "leaving")));
    assert_eq!(info.received, Some(frame_of(1001, "")));
    assert_inert(&mut c, Origin::Server);
}

#[test]
fn server_remote_close_echoes_the_code() {
    let mut s = server_with(config());
    let outs = feed(
        &mut s,
        T0,
        &close_frame(Origin::Client, 1001, b"tab closed"),
    );
    assert_eq!(outs.len(), 3, "{outs:?}");
    assert_eq!(outs[0], Out::Transmit(vec![0x88, 0x02, 0x03, 0xE9]));
    assert_eq!(outs[1], Out::Shutdown);
    let info = closed(&outs);
    assert_eq!(info.initiator, Initiator::Remote);
    assert!(info.clean);
    assert_eq!(info.cause, CloseCause::Handshake);
    assert_eq!(info.received, Some(frame_of(1001, "tab closed")));
    assert_eq!(info.sent, Some(frame_of(1001, "")));
    assert_eq!(info.code(), CloseCode::GOING_AWAY);
    assert_inert(&mut s, Origin::Client);
}

#[test]
fn client_remote_close_replies_then_waits_for_eof() {
    let mut c = client_with(config());
    let t1 = Instant::from_secs(3);
    let mut buf = BytesMut::from(&close_frame(Origin::Server, 4000, b"app says bye")[..]);
    c.handle_read(t1, &mut buf);
    let (outs, until) = drain_with_wait(&mut c);
    let frames = sent_frames(&outs, Origin::Client);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].close_code(), Some(4000));
    assert_eq!(
        outs.len(),
        1,
        "no Shutdown yet: the server closes TCP first: {outs:?}"
    );
    assert_eq!(until, Some(t1 + TIMEOUT));
    assert!(!c.is_open());
    assert_eq!(c.send_text("late"), Err(SendError::Closed));

    c.handle_eof(Instant::from_secs(4));
    let outs = drain(&mut c);
    assert_eq!(outs[0], Out::Shutdown);
    let info = closed(&outs);
    assert!(info.clean);
    assert_eq!(info.initiator, Initiator::Remote);
    assert_eq!(info.cause, CloseCause::Handshake);
    assert_eq!(info.received, Some(frame_of(4000, "app says bye")));
    assert_eq!(info.sent, Some(frame_of(4000, "")));
    assert_eq!(info.since_last_received, Duration::from_secs(1));
    assert_inert(&mut c, Origin::Server);
}

#[test]
fn peer_close_with_every_sendable_code_is_accepted_and_echoed() {
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000,
        4999,
    ] {
        let mut s = server();
        let outs = feed(&mut s, T0, &close_frame(Origin::Client, code, b"r"));
        let frames = sent_frames(&outs, Origin::Server);
        assert_eq!(frames.len(), 1, "{code}");
        assert_eq!(frames[0].close_code(), Some(code));
        let info = closed(&outs);
        assert!(info.clean, "{code}");
        assert_eq!(info.code(), CloseCode(code));
    }
}

#[test]
fn simultaneous_close_ends_clean_on_both_sides() {
    let mut s = server_with(config());
    let mut c = client_with(config());
    let (mut to_s, mut to_c) = (BytesMut::new(), BytesMut::new());
    s.close(T0, CloseCode::NORMAL, "server bye").unwrap();
    c.close(T0, CloseCode::GOING_AWAY, "client bye").unwrap();
    // Both close frames cross on the wire.
    let s_first = pump(T0, &mut s, &mut c, &mut to_c);
    let c_first = pump(T0, &mut c, &mut s, &mut to_s);
    assert_eq!(sent_frames(&s_first, Origin::Server).len(), 1);
    assert_eq!(sent_frames(&c_first, Origin::Client).len(), 1);

    // The server has both frames: it closes TCP.
    let s_end = drain(&mut s);
    assert_eq!(s_end.len(), 2, "{s_end:?}");
    assert_eq!(s_end[0], Out::Shutdown);
    let s_info = closed(&s_end);
    assert!(s_info.clean);
    assert_eq!(s_info.initiator, Initiator::Local);
    assert_eq!(s_info.sent, Some(frame_of(1000, "server bye")));
    assert_eq!(s_info.received, Some(frame_of(1001, "client bye")));

    // The client has both frames and waits for the server's FIN.
    let c_mid = drain(&mut c);
    assert_eq!(c_mid, vec![]);
    c.handle_eof(T0);
    let c_end = drain(&mut c);
    let c_info = closed(&c_end);
    assert!(c_info.clean);
    assert_eq!(c_info.initiator, Initiator::Local);
    assert_eq!(c_info.cause, CloseCause::Handshake);
    assert_eq!(c_info.sent, Some(frame_of(1001, "client bye")));
    assert_eq!(c_info.received, Some(frame_of(1000, "server bye")));
    assert_inert(&mut s, Origin::Client);
    assert_inert(&mut c, Origin::Server);
}

#[test]
fn full_close_handshake_between_client_and_server() {
    let mut s = server_with(config());
    let mut c = client_with(config());
    let (mut to_s, mut to_c) = (BytesMut::new(), BytesMut::new());
    c.send_text("last words").unwrap();
    c.close(T0, CloseCode::NORMAL, "done").unwrap();
    pump(T0, &mut c, &mut s, &mut to_s);
    let s_outs = pump(T0, &mut s, &mut c, &mut to_c);
    assert_eq!(
        s_outs[0],
        Out::Event(Event::Message(Message::text("last words")))
    );
    assert_eq!(
        sent_frames(&s_outs, Origin::Server)[0].close_code(),
        Some(1000)
    );
    assert!(has_shutdown(&s_outs));
    let s_info = closed(&s_outs);
    assert_eq!((s_info.initiator, s_info.clean), (Initiator::Remote, true));
    // The server's Shutdown reaches the client as EOF.
    assert_eq!(drain(&mut c), vec![]);
    c.handle_eof(T0);
    let c_info = closed(&drain(&mut c));
    assert_eq!(
        (c_info.initiator, c_info.clean, c_info.cause),
        (Initiator::Local, true, CloseCause::Handshake)
    );
}

#[test]
fn server_close_timeout() {
    let mut s = server_with(config());
    let t1 = Instant::from_secs(10);
    s.close(t1, CloseCode::NORMAL, "").unwrap();
    let (outs, until) = drain_with_wait(&mut s);
    assert_eq!(outs, vec![Out::Transmit(vec![0x88, 0x02, 0x03, 0xE8])]);
    let deadline = t1 + TIMEOUT;
    assert_eq!(until, Some(deadline));
    assert_eq!(s.poll_timeout(), Some(deadline));

    s.handle_timeout(deadline - Duration::from_micros(1));
    let (outs, until) = drain_with_wait(&mut s);
    assert_eq!(outs, vec![], "no timer fires before its deadline");
    assert_eq!(until, Some(deadline));

    s.handle_timeout(deadline);
    let outs = drain(&mut s);
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert_eq!(outs[0], Out::Shutdown);
    let info = closed(&outs);
    assert_eq!(info.cause, CloseCause::CloseTimeout);
    assert!(!info.clean);
    assert_eq!(info.initiator, Initiator::Local);
    assert_eq!(info.received, None);
    assert_eq!(info.code(), CloseCode::ABNORMAL);
    assert_eq!(info.since_last_received, Duration::from_secs(15));
    assert_inert(&mut s, Origin::Client);
}

#[test]
fn client_close_timeout_without_a_reply() {
    let mut c = client_with(config());
    c.close(T0, CloseCode::NORMAL, "").unwrap();
    let (outs, until) = drain_with_wait(&mut c);
    assert_eq!(sent_frames(&outs, Origin::Client).len(), 1);
    assert_eq!(until, Some(T0 + TIMEOUT));
    c.handle_timeout(T0 + TIMEOUT);
    let outs = drain(&mut c);
    assert_eq!(outs[0], Out::Shutdown);
    let info = closed(&outs);
    assert_eq!(
        (info.cause, info.clean, info.initiator),
        (CloseCause::CloseTimeout, false, Initiator::Local)
    );
    assert_inert(&mut c, Origin::Server);
}

#[test]
fn client_close_timeout_waiting_for_fin() {
    let mut c = client_with(config());
    let t1 = Instant::from_secs(1);
    let mut buf = BytesMut::from(&close_frame(Origin::Server, 1000, b"")[..]);
    c.handle_read(t1, &mut buf);
    let (outs, until) = drain_with_wait(&mut c);
    assert_eq!(
        sent_frames(&outs, Origin::Client)[0].close_code(),
        Some(1000)
    );
    let deadline = t1 + TIMEOUT;
    assert_eq!(until, Some(deadline));

    c.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(drain(&mut c), vec![]);
    c.handle_timeout(deadline);
    let outs = drain(&mut c);
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert_eq!(outs[0], Out::Shutdown);
    let info = closed(&outs);
    assert_eq!(info.cause, CloseCause::CloseTimeout);
    assert!(info.clean, "both close frames were exchanged");
    assert_eq!(info.initiator, Initiator::Remote);
    assert_eq!(info.code(), CloseCode::NORMAL);
    assert_inert(&mut c, Origin::Server);
}

#[test]
fn late_timeout_call_still_fires() {
    let mut s = server_with(config());
    s.close(T0, CloseCode::NORMAL, "").unwrap();
    let _ = drain(&mut s);
    s.handle_timeout(Instant::from_secs(3600));
    let info = closed(&drain(&mut s));
    assert_eq!(info.cause, CloseCause::CloseTimeout);
}

#[test]
fn spurious_timeouts_on_an_open_connection_do_nothing() {
    let mut s = server();
    assert_eq!(s.poll_timeout(), None);
    for secs in [0, 1, 100, 100_000] {
        s.handle_timeout(Instant::from_secs(secs));
        assert_eq!(drain_with_wait(&mut s), (vec![], None));
    }
    assert!(s.is_open());
}

#[test]
fn eof_mid_message() {
    for (name, mut s) in [("server", server()), ("client", client())] {
        let from = if name == "server" {
            Origin::Client
        } else {
            Origin::Server
        };
        let mut buf = BytesMut::new();
        let mut bytes = frame(from, false, TEXT, b"Hel");
        // and a second frame that is cut short
        bytes.extend_from_slice(&frame(from, true, CONT, &[b'x'; 50])[..10]);
        let outs = feed_into(&mut s, Instant::from_secs(1), &mut buf, &bytes);
        assert_eq!(outs, vec![], "{name}");
        s.handle_eof(Instant::from_secs(2));
        let outs = drain(&mut s);
        assert_eq!(
            transmits(&outs),
            Vec::<Vec<u8>>::new(),
            "{name}: no close frame after EOF"
        );
        let info = closed(&outs);
        assert_eq!(info.code(), CloseCode::ABNORMAL, "{name}");
        assert_eq!(info.cause, CloseCause::Eof, "{name}");
        assert!(!info.clean, "{name}");
        assert_eq!(info.initiator, Initiator::Remote, "{name}");
        assert_eq!((info.sent, info.received), (None, None), "{name}");
        assert_eq!(info.since_last_received, Duration::from_secs(1), "{name}");
        assert!(
            app_events(&outs).is_empty(),
            "{name}: the partial message is not delivered"
        );
        assert_inert(&mut s, from);
    }
}

#[test]
fn eof_with_nothing() {
    for mut conn in [server(), client()] {
        conn.handle_eof(Instant::from_secs(70));
        let outs = drain(&mut conn);
        let info = closed(&outs);
        assert_eq!(info.code(), CloseCode::ABNORMAL);
        assert_eq!(info.cause, CloseCause::Eof);
        assert!(!info.clean);
        assert_eq!(info.since_last_received, Duration::from_secs(70));
        assert!(
            info.hint().contains("idle timeout"),
            "70 s of silence hints at a proxy: {}",
            info.hint()
        );
        assert_silent_forever(&mut conn);
    }
}

#[test]
fn eof_after_local_close_is_not_clean() {
    let mut s = server_with(config());
    s.close(T0, CloseCode::NORMAL, "").unwrap();
    let _ = drain(&mut s);
    s.handle_eof(Instant::from_secs(1));
    let outs = drain(&mut s);
    let info = closed(&outs);
    assert_eq!(info.cause, CloseCause::Eof);
    assert!(!info.clean);
    assert_eq!(info.initiator, Initiator::Local);
    assert_eq!(info.code(), CloseCode::ABNORMAL);
    assert_inert(&mut s, Origin::Client);
}

#[test]
fn send_after_close_fails() {
    for mut conn in [server(), client()] {
        conn.close(T0, CloseCode::NORMAL, "").unwrap();
        assert_eq!(conn.send(Message::text("x")), Err(SendError::Closed));
        assert_eq!(conn.send_text("x"), Err(SendError::Closed));
        assert_eq!(
            conn.send_binary(Bytes::from_static(b"x")),
            Err(SendError::Closed)
        );
        assert_eq!(
            conn.send_fragment(DataKind::Binary, Bytes::from_static(b"x"), true),
            Err(SendError::Closed)
        );
        assert_eq!(conn.ping(Bytes::new()), Err(SendError::Closed));
        // Only the close frame goes out.
        assert_eq!(transmits(&drain(&mut conn)).len(), 1);
    }
}

#[test]
fn commands_after_closed_fail() {
    let mut s = server();
    s.handle_eof(T0);
    let _ = drain(&mut s);
    assert!(s.is_closed());
    assert_eq!(s.send_text("x"), Err(SendError::Closed));
    assert_eq!(s.ping(Bytes::new()), Err(SendError::Closed));
    assert_eq!(s.close(T0, CloseCode::NORMAL, ""), Err(SendError::Closed));
    assert_silent_forever(&mut s);
}

#[test]
fn close_twice_fails() {
    for mut conn in [server(), client()] {
        conn.close(T0, CloseCode::NORMAL, "").unwrap();
        assert_eq!(
            conn.close(T0, CloseCode::NORMAL, ""),
            Err(SendError::Closed)
        );
        assert_eq!(
            conn.close(T0, CloseCode::GOING_AWAY, "again"),
            Err(SendError::Closed)
        );
        let outs = drain(&mut conn);
        assert_eq!(transmits(&outs).len(), 1, "one close frame only");
    }
}

#[test]
fn close_after_peer_close_fails() {
    for (mut conn, from) in [(client(), Origin::Server), (server(), Origin::Client)] {
        let outs = feed(&mut conn, T0, &close_frame(from, 1000, b""));
        assert_eq!(sent_frames(&outs, from.other()).len(), 1, "the reply");
        assert_eq!(
            conn.close(T0, CloseCode::NORMAL, ""),
            Err(SendError::Closed)
        );
        assert_eq!(conn.send_text("x"), Err(SendError::Closed));
        assert_eq!(drain(&mut conn), vec![], "no second close frame");
    }
}

#[test]
fn close_with_unsendable_codes_is_refused() {
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        for mut conn in [server(), client()] {
            assert_eq!(
                conn.close(T0, CloseCode(code), ""),
                Err(SendError::InvalidCloseCode(code))
            );
            assert!(conn.is_open(), "{code}: a refused close changes nothing");
            assert_eq!(drain_with_wait(&mut conn), (vec![], None), "{code}");
            conn.send_text("still usable").unwrap();
        }
    }
}

#[test]
fn close_with_sendable_codes_is_sent() {
    for code in [1000, 1003, 1007, 1011, 1014, 3000, 4999] {
        let mut s = server();
        s.close(T0, CloseCode(code), "").unwrap();
        let frames = sent_frames(&drain(&mut s), Origin::Server);
        assert_eq!(frames[0].close_code(), Some(code));
    }
}

#[test]
fn close_reason_length_limit() {
    let mut s = server();
    let long = "x".repeat(124);
    assert_eq!(
        s.close(T0, CloseCode::NORMAL, &long),
        Err(SendError::ReasonTooLong(124))
    );
    assert!(s.is_open());
    // 123 bytes (here 41 three-byte chars) is the most a control frame holds.
    let max = "€".repeat(41);
    assert_eq!(max.len(), 123);
    s.close(T0, CloseCode::NORMAL, &max).unwrap();
    let outs = drain(&mut s);
    let tx = transmits(&outs);
    assert_eq!(tx[0][..2], [0x88, 125]);
    assert_eq!(sent_frames(&outs, Origin::Server)[0].close_reason(), max);
}

#[test]
fn data_after_peer_close_is_discarded() {
    // Server: the close frame and more data in the same read.
    let mut s = server();
    let mut bytes = close_frame(Origin::Client, 1000, b"");
    bytes.extend(masked_frame(true, TEXT, b"ghost", KEY));
    bytes.extend(masked_frame(true, PING, b"ghost", KEY));
    let outs = feed(&mut s, T0, &bytes);
    assert!(app_events(&outs).is_empty(), "{outs:?}");
    assert_eq!(transmits(&outs).len(), 1, "only the close reply, no pong");
    assert!(closed(&outs).clean);

    // Client: in the same read, and in a later read while it waits for EOF.
    let mut c = client();
    let mut bytes = close_frame(Origin::Server, 1000, b"");
    bytes.extend(unmasked_frame(true, BINARY, b"ghost"));
    let outs = feed(&mut c, T0, &bytes);
    assert!(events(&outs).is_empty(), "{outs:?}");
    assert_eq!(transmits(&outs).len(), 1);
    let outs = feed(&mut c, T0, &unmasked_frame(true, PING, b"again"));
    assert_eq!(
        outs,
        vec![],
        "nothing is answered or reported after the peer's close"
    );
    c.handle_eof(T0);
    assert!(closed(&drain(&mut c)).clean);
}

#[test]
fn messages_still_arrive_after_local_close() {
    // RFC 6455 §1.4: after sending Close, an endpoint keeps reading until the
    // peer's Close arrives.
    let mut s = server_with(config());
    s.close(T0, CloseCode::NORMAL, "").unwrap();
    let _ = drain(&mut s);
    let mut bytes = masked_frame(true, TEXT, b"in flight", KEY);
    bytes.extend(close_frame(Origin::Client, 1000, b""));
    let outs = feed(&mut s, T0, &bytes);
    assert_eq!(
        outs[0],
        Out::Event(Event::Message(Message::text("in flight")))
    );
    assert_eq!(outs[1], Out::Shutdown);
    assert!(closed(&outs).clean);
}

#[test]
fn queued_data_goes_out_before_the_close_frame() {
    let mut s = server();
    s.send_text("a").unwrap();
    s.send_binary(Bytes::from_static(b"b")).unwrap();
    s.close(T0, CloseCode::NORMAL, "").unwrap();
    let frames = sent_frames(&drain(&mut s), Origin::Server);
    let ops: Vec<u8> = frames.iter().map(|f| f.opcode).collect();
    assert_eq!(ops, vec![TEXT, BINARY, CLOSE]);
}

#[test]
fn exactly_one_closed_and_nothing_after_it() {
    let mut s = server();
    let outs = feed(&mut s, T0, &close_frame(Origin::Client, 1000, b""));
    closed(&outs);
    for _ in 0..100 {
        assert_eq!(poll(&mut s), Out::Wait(None));
    }
    assert_inert(&mut s, Origin::Client);
    // The same through every end: EOF, timeout, failure.
    let mut c = client_with(config());
    c.close(T0, CloseCode::NORMAL, "").unwrap();
    c.handle_timeout(T0 + TIMEOUT);
    c.handle_eof(T0 + TIMEOUT);
    c.handle_timeout(T0 + TIMEOUT * 2);
    let outs = drain(&mut c);
    closed(&outs);
    assert_eq!(outs.iter().filter(|o| **o == Out::Shutdown).count(), 1);
    assert_inert(&mut c, Origin::Server);
}

#[test]
fn empty_close_is_answered_with_empty_close() {
    let mut s = server();
    let outs = feed(&mut s, T0, &masked_frame(true, CLOSE, b"", KEY));
    assert_eq!(outs[0], Out::Transmit(vec![0x88, 0x00]));
    assert_eq!(outs[1], Out::Shutdown);
    let info = closed(&outs);
    assert_eq!(
        info.received.as_ref().map(|f| f.code),
        Some(CloseCode::NO_STATUS)
    );
    assert_eq!(info.code(), CloseCode::NO_STATUS);
    assert!(info.clean);

    let mut c = client();
    let outs = feed(&mut c, T0, &[0x88, 0x00]);
    let tx = transmits(&outs);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0][..2], [0x88, 0x80], "masked, empty");
    assert_eq!(tx[0].len(), 6);
    c.handle_eof(T0);
    let info = closed(&drain(&mut c));
    assert_eq!(info.code(), CloseCode::NO_STATUS);
    assert!(info.clean);
}

#[test]
fn close_reason_at_the_limit_is_received() {
    let reason = "r".repeat(123);
    let mut s = server();
    let outs = feed(
        &mut s,
        T0,
        &close_frame(Origin::Client, 3001, reason.as_bytes()),
    );
    let info = closed(&outs);
    assert_eq!(info.received, Some(frame_of(3001, &reason)));
}

#[test]
fn hint_and_display_for_a_normal_close() {
    let mut s = server();
    let outs = feed(&mut s, T0, &close_frame(Origin::Client, 1000, b""));
    let info = closed(&outs);
    assert_eq!(info.hint(), "normal closure");
    let shown = info.to_string();
    assert!(
        shown.contains("1000") && shown.contains("Remote") && shown.contains("clean"),
        "{shown}"
    );
    let mut s = server();
    let outs = feed(&mut s, T0, &close_frame(Origin::Client, 1013, b""));
    assert!(closed(&outs).hint().contains("try again"));
}

#[test]
fn eof_right_after_the_close_frame_keeps_the_received_close() {
    // A driver may read the close frame and the FIN before it polls. The
    // close frame was received, so RFC 6455 §7.1.5 makes its code the
    // connection close code (not 1006), and the reply still goes out.
    for (mut conn, from) in [(client(), Origin::Server), (server(), Origin::Client)] {
        let mut buf = BytesMut::from(&close_frame(from, 1001, b"bye")[..]);
        conn.handle_read(T0, &mut buf);
        conn.handle_eof(T0);
        let outs = drain(&mut conn);
        let frames = sent_frames(&outs, from.other());
        assert_eq!(frames.len(), 1, "{from:?}: the close reply: {outs:?}");
        assert_eq!(frames[0].close_code(), Some(1001), "{from:?}");
        let info = closed(&outs);
        assert_eq!(info.received, Some(frame_of(1001, "bye")), "{from:?}");
        assert_eq!(info.code(), CloseCode::GOING_AWAY, "{from:?}");
        assert_eq!(info.initiator, Initiator::Remote, "{from:?}");
        assert_inert(&mut conn, from);
    }
}

#[test]
fn ping_after_our_close_is_still_answered() {
    // RFC 6455 §5.5.2: a Pong is owed "unless it already received a Close
    // frame"; having sent one is no excuse.
    let mut s = server();
    s.close(T0, CloseCode::NORMAL, "").unwrap();
    let _ = drain(&mut s);
    let outs = feed(&mut s, T0, &masked_frame(true, PING, b"still?", KEY));
    let frames = sent_frames(&outs, Origin::Server);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].opcode, PONG);
    assert_eq!(frames[0].payload, b"still?");
}
