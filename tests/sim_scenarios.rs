//! Disconnect scenarios through the deterministic simulation: keepalive,
//! half-open detection, proxy idle cuts, idle and close timeouts.

use wsmachine::sim::{Side, Sim, SimConfig};
use wsmachine::{CloseCause, CloseCode, Config, Duration, Event, Initiator, Instant, Message};

fn keepalive(interval_s: u64, timeout_s: u64) -> Config {
    Config::default()
        .ping_interval(Some(Duration::from_secs(interval_s)))
        .pong_timeout(Duration::from_secs(timeout_s))
}

fn pongs_with_rtt(sim: &Sim, side: Side) -> Vec<(Instant, Duration)> {
    sim.events(side)
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Pong { rtt: Some(rtt), .. } => Some((*t, *rtt)),
            _ => None,
        })
        .collect()
}

#[test]
fn keepalive_cadence_and_rtt() {
    let latency = Duration::from_millis(40);
    let mut sim = Sim::new(
        SimConfig::default()
            .latency(latency)
            .client_config(keepalive(10, 5)),
    );
    sim.run_for(Duration::from_secs(35));
    let pongs = pongs_with_rtt(&sim, Side::Client);
    // Pings leave at 10 s, then 10 s after each pong arrives (the pong is
    // traffic): 10, 20.08, 30.16 s.
    assert_eq!(pongs.len(), 3, "{pongs:?}");
    for (i, (at, rtt)) in pongs.iter().enumerate() {
        assert_eq!(*rtt, latency * 2, "ping {i}");
        let expected = Instant::from_millis(10_000 * (i as u64 + 1) + 80 * (i as u64 + 1));
        assert_eq!(*at, expected, "pong {i}");
    }
    assert_eq!(sim.client_ref().last_rtt(), Some(latency * 2));
    assert!(sim.closed(Side::Client).is_none());
    let stats = sim.client_ref().stats();
    assert_eq!(stats.pings_sent, 3);
    assert_eq!(stats.pongs_received, 3);
}

#[test]
fn traffic_postpones_keepalive() {
    let mut sim = Sim::new(SimConfig::default().client_config(keepalive(10, 5)));
    for _ in 0..5 {
        sim.run_for(Duration::from_secs(6));
        sim.server().send(Message::text("tick")).unwrap();
    }
    sim.run_for(Duration::from_millis(100));
    assert_eq!(
        sim.client_ref().stats().pings_sent,
        0,
        "server traffic proves it alive"
    );
}

#[test]
fn half_open_detected_within_ping_interval_plus_pong_timeout() {
    let mut sim = Sim::new(SimConfig::default().client_config(keepalive(25, 10)));
    sim.run_for(Duration::from_secs(1));
    // The path dies silently in both directions (unplugged cable).
    sim.set_blackhole(Side::Server, true);
    sim.set_blackhole(Side::Client, true);
    let cut_at = sim.now();
    assert!(sim.run_until_closed_side(Side::Client, Duration::from_secs(120)));
    let info = sim.closed(Side::Client).unwrap().clone();
    assert_eq!(info.cause, CloseCause::PingTimeout);
    assert_eq!(info.initiator, Initiator::Library);
    assert_eq!(
        info.sent.as_ref().map(|f| f.code),
        Some(CloseCode::INTERNAL_ERROR)
    );
    assert!(!info.clean);
    assert!(sim.is_shut_down(Side::Client));
    let closed_at = closed_time(&sim, Side::Client);
    // The last byte arrived ~at the start; the ping went out 25 s later and
    // the connection failed 10 s after that: never earlier, never later.
    assert_eq!(closed_at, Instant::from_secs(35));
    assert!(closed_at - cut_at <= Duration::from_secs(35));
    assert!(info.hint().contains("half-open"), "{}", info.hint());
}

#[test]
fn proxy_idle_timeout_kills_a_silent_connection_with_1006() {
    let mut sim = Sim::new(SimConfig::default().middlebox_idle(Some(Duration::from_secs(60))));
    sim.client().send(Message::text("hello")).unwrap();
    sim.run_for(Duration::from_secs(300));
    for side in [Side::Client, Side::Server] {
        let info = sim.closed(side).expect("cut");
        assert_eq!(info.code(), CloseCode::ABNORMAL);
        assert_eq!(info.cause, CloseCause::Eof);
        assert!(!info.clean);
        assert!(
            info.since_last_received >= Duration::from_secs(59),
            "{info}"
        );
        assert!(info.hint().contains("proxy"), "{}", info.hint());
        assert!(info.hint().contains("ping_interval"), "{}", info.hint());
    }
}

#[test]
fn proxy_idle_timeout_survived_with_25s_keepalive() {
    let config = keepalive(25, 10);
    let mut sim = Sim::new(
        SimConfig::default()
            .middlebox_idle(Some(Duration::from_secs(60)))
            .client_config(config.clone())
            .server_config(config),
    );
    sim.run_for(Duration::from_secs(3600));
    assert!(sim.closed(Side::Client).is_none());
    assert!(sim.closed(Side::Server).is_none());
    assert!(sim.client_ref().stats().pings_sent >= 100);
    sim.client().send(Message::text("still here")).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert!(
        sim.events(Side::Server)
            .iter()
            .any(|(_, e)| *e == Event::Message(Message::text("still here")))
    );
}

#[test]
fn idle_timeout_closes_with_1001() {
    let config = Config::default().idle_timeout(Some(Duration::from_secs(30)));
    let mut sim = Sim::new(SimConfig::default().server_config(config));
    sim.run_for(Duration::from_secs(20));
    sim.client().send(Message::text("x")).unwrap();
    sim.run_for(Duration::from_secs(100));
    let info = sim.closed(Side::Server).unwrap();
    assert_eq!(info.cause, CloseCause::IdleTimeout);
    assert_eq!(
        info.sent.as_ref().map(|f| f.code),
        Some(CloseCode::GOING_AWAY)
    );
    // The message arrived at 20.01 s; idle 30 s after that.
    assert_eq!(
        closed_time(&sim, Side::Server),
        Instant::from_millis(50_010)
    );
    // The client saw the server's 1001 close and the server's FIN.
    let client = sim.closed(Side::Client).unwrap();
    assert_eq!(client.code(), CloseCode::GOING_AWAY);
}

#[test]
fn close_timeout_with_a_silent_peer() {
    let config = Config::default().close_timeout(Duration::from_secs(3));
    let mut sim = Sim::new(SimConfig::default().client_config(config));
    sim.set_blackhole(Side::Server, true);
    sim.client()
        .close(Instant::ZERO, CloseCode::NORMAL, "bye")
        .unwrap();
    sim.run_for(Duration::from_secs(10));
    let info = sim.closed(Side::Client).unwrap();
    assert_eq!(info.cause, CloseCause::CloseTimeout);
    assert_eq!(info.initiator, Initiator::Local);
    assert!(!info.clean);
    assert_eq!(closed_time(&sim, Side::Client), Instant::from_secs(3));
}

#[test]
fn simultaneous_close_is_clean_on_both_sides() {
    let mut sim = Sim::new(SimConfig::default());
    sim.client()
        .close(Instant::ZERO, CloseCode::NORMAL, "client")
        .unwrap();
    sim.server()
        .close(Instant::ZERO, CloseCode::GOING_AWAY, "server")
        .unwrap();
    assert!(sim.run_until_closed(Duration::from_secs(30)));
    let client = sim.closed(Side::Client).unwrap();
    let server = sim.closed(Side::Server).unwrap();
    assert!(client.clean && server.clean);
    assert_eq!(client.cause, CloseCause::Handshake);
    assert_eq!(server.cause, CloseCause::Handshake);
    assert_eq!(client.code(), CloseCode::GOING_AWAY);
    assert_eq!(server.code(), CloseCode::NORMAL);
    assert_eq!(client.initiator, Initiator::Local);
}

#[test]
fn clean_close_client_waits_for_server_fin() {
    let mut sim = Sim::new(SimConfig::default().latency(Duration::from_millis(50)));
    sim.client()
        .close(Instant::ZERO, CloseCode::NORMAL, "done")
        .unwrap();
    assert!(sim.run_until_closed(Duration::from_secs(30)));
    // Server: close arrives at 50 ms, it replies and closes TCP at once.
    assert_eq!(closed_time(&sim, Side::Server), Instant::from_millis(50));
    // Client: the reply and the FIN arrive at 100 ms.
    assert_eq!(closed_time(&sim, Side::Client), Instant::from_millis(100));
    let client = sim.closed(Side::Client).unwrap();
    assert!(client.clean);
    assert_eq!(client.cause, CloseCause::Handshake);
    assert_eq!(client.received.as_ref().unwrap().reason, "");
    let server = sim.closed(Side::Server).unwrap();
    assert_eq!(server.received.as_ref().unwrap().reason, "done");
    assert_eq!(server.initiator, Initiator::Remote);
}

#[test]
fn eof_mid_message_is_1006() {
    let mut sim = Sim::new(SimConfig::default().max_chunk(3));
    sim.client()
        .send_fragment(wsmachine::DataKind::Text, "first half ", false)
        .unwrap();
    sim.run_for(Duration::from_secs(1));
    sim.deliver_eof(Side::Server);
    let info = sim.closed(Side::Server).unwrap();
    assert_eq!(info.code(), CloseCode::ABNORMAL);
    assert_eq!(info.cause, CloseCause::Eof);
    assert_eq!(info.initiator, Initiator::Remote);
    assert!(
        sim.events(Side::Server)
            .iter()
            .all(|(_, e)| !matches!(e, Event::Message(_)))
    );
}

#[test]
fn clock_going_backwards_is_clamped() {
    let config = keepalive(10, 5);
    let mut conn = wsmachine::Connection::server(config, Instant::from_secs(100));
    assert_eq!(conn.poll_timeout(), Some(Instant::from_secs(110)));
    conn.handle_timeout(Instant::from_secs(105));
    conn.handle_timeout(Instant::from_secs(1)); // backwards: clamped to 105 s
    assert_eq!(conn.poll_timeout(), Some(Instant::from_secs(110)));
    assert!(
        matches!(conn.poll_output(), wsmachine::Output::Wait { until: Some(t) } if t == Instant::from_secs(110))
    );
    conn.handle_timeout(Instant::from_secs(110));
    assert!(
        matches!(conn.poll_output(), wsmachine::Output::Transmit(_)),
        "keepalive ping"
    );
    // A backwards `now` on a read does not move last_received back either.
    let mut buf = bytes::BytesMut::new();
    conn.handle_read(Instant::from_secs(50), &mut buf);
    assert!(conn.poll_timeout().unwrap() >= Instant::from_secs(110));
}

fn closed_time(sim: &Sim, side: Side) -> Instant {
    sim.events(side)
        .iter()
        .find_map(|(t, e)| matches!(e, Event::Closed(_)).then_some(*t))
        .expect("closed")
}

trait RunUntilClosedSide {
    fn run_until_closed_side(&mut self, side: Side, limit: Duration) -> bool;
}

impl RunUntilClosedSide for Sim {
    fn run_until_closed_side(&mut self, side: Side, limit: Duration) -> bool {
        let end = self.now() + limit;
        while self.closed(side).is_none() && self.now() < end {
            self.run_for(Duration::from_millis(500));
        }
        self.closed(side).is_some()
    }
}

#[test]
fn a_keepalive_due_when_closing_does_not_outlive_the_close() {
    // The keepalive fires, then the application closes before polling: the
    // close timer alone decides, no pong deadline is armed behind it.
    let config = Config::default()
        .ping_interval(Some(Duration::from_secs(1)))
        .pong_timeout(Duration::from_millis(100))
        .close_timeout(Duration::from_secs(5));
    let mut conn = wsmachine::Connection::client(config, Instant::ZERO, [1; 32]);
    conn.handle_timeout(Instant::from_secs(1));
    conn.close(Instant::from_secs(1), CloseCode::NORMAL, "")
        .unwrap();
    let mut transmits = 0;
    loop {
        match conn.poll_output() {
            wsmachine::Output::Transmit(_) => transmits += 1,
            wsmachine::Output::Wait { until } => {
                assert_eq!(
                    until,
                    Some(Instant::from_secs(6)),
                    "only the close timeout is armed"
                );
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(transmits, 1, "just the close frame");
}
