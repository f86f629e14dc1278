//! Timer rules for all inputs, and random operation scripts through the
//! simulation: nothing fires early, everything fires by its deadline, exactly
//! one `Closed` per side with nothing after it, and every message sent before
//! a clean close arrives intact and in order.

mod common;

use bytes::BytesMut;
use proptest::prelude::*;
use wsmachine::frame::OpCode;
use wsmachine::sim::{Side, Sim, SimConfig};
use wsmachine::{
    CloseCause, CloseCode, Config, Connection, Duration, Event, Instant, Message, Output,
};

fn arb_config() -> impl Strategy<Value = Config> {
    (
        prop::option::of(1u64..5_000),
        1u64..5_000,
        prop::option::of(1u64..20_000),
        1u64..5_000,
    )
        .prop_map(|(ping, pong, idle, close)| {
            Config::default()
                .ping_interval(ping.map(Duration::from_millis))
                .pong_timeout(Duration::from_millis(pong))
                .idle_timeout(idle.map(Duration::from_millis))
                .close_timeout(Duration::from_millis(close))
        })
}

/// A masked frame as a client would send it.
fn client_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    common::masked_frame(true, opcode.as_u8(), payload, [1, 2, 3, 4])
}

#[derive(Clone, Debug)]
enum Input {
    /// Let time pass, then call handle_timeout at the new time.
    Tick(u64),
    /// Probe strictly before the current deadline.
    EarlyProbe(u64),
    /// A frame from the peer.
    Frame(u8),
    Close,
    Eof,
}

fn arb_inputs() -> impl Strategy<Value = Vec<Input>> {
    prop::collection::vec(
        prop_oneof![
            6 => (0u64..8_000).prop_map(Input::Tick),
            3 => (1u64..1_000_000).prop_map(Input::EarlyProbe),
            3 => (0u8..4).prop_map(Input::Frame),
            1 => Just(Input::Close),
            1 => Just(Input::Eof),
        ],
        0..40,
    )
}

/// Drains, returning whether anything but `Wait` came out and the `Wait` value.
fn drain(conn: &mut Connection, closed: &mut usize) -> (usize, Option<Instant>) {
    let mut n = 0;
    loop {
        match conn.poll_output() {
            Output::Wait { until } => return (n, until),
            Output::Event(Event::Closed(_)) => {
                *closed += 1;
                n += 1;
            }
            _ => n += 1,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn timers_fire_never_early_and_always_by_their_deadline(config in arb_config(), inputs in arb_inputs()) {
        let mut now = Instant::from_secs(1);
        let mut conn = Connection::server(config, now);
        let mut closed = 0;
        let mut buf = BytesMut::new();
        for input in inputs {
            match input {
                Input::Tick(ms) => {
                    now = now + Duration::from_millis(ms);
                    let due = conn.poll_timeout().filter(|d| *d <= now);
                    conn.handle_timeout(now);
                    drain(&mut conn, &mut closed);
                    if let Some(due) = due {
                        // Everything due was handled: no deadline at or before it remains.
                        prop_assert!(conn.poll_timeout().is_none_or(|d| d > due), "{due:?} still armed");
                    }
                }
                Input::EarlyProbe(frac) => {
                    let Some(deadline) = conn.poll_timeout() else { continue };
                    if deadline <= now {
                        continue;
                    }
                    // A time strictly between now and the deadline.
                    let span = u64::try_from((deadline - now).as_micros()).unwrap();
                    let probe = now + Duration::from_micros(frac % span);
                    let before = format!("{conn:?}");
                    conn.handle_timeout(probe);
                    let (outputs, until) = drain(&mut conn, &mut closed);
                    prop_assert_eq!(outputs, 0, "a timer fired early at {:?} (deadline {:?})", probe, deadline);
                    prop_assert_eq!(until, Some(deadline));
                    prop_assert_eq!(before.replace(&format!("{now:?}"), ""), format!("{conn:?}").replace(&format!("{probe:?}"), ""));
                    now = probe;
                }
                Input::Frame(kind) => {
                    let frame = match kind {
                        0 => client_frame(OpCode::Text, b"hello"),
                        1 => client_frame(OpCode::Ping, b"p"),
                        2 => client_frame(OpCode::Pong, b"wsm\0\0\0\0\x01"),
                        _ => client_frame(OpCode::Binary, &[]),
                    };
                    buf.extend_from_slice(&frame);
                    conn.handle_read(now, &mut buf);
                    drain(&mut conn, &mut closed);
                }
                Input::Close => {
                    let _ = conn.close(now, CloseCode::NORMAL, "");
                    drain(&mut conn, &mut closed);
                }
                Input::Eof => {
                    conn.handle_eof(now);
                    drain(&mut conn, &mut closed);
                }
            }
            // Never a deadline in the past relative to the last `now`.
            if let Some(d) = conn.poll_timeout() {
                prop_assert!(d >= now, "deadline {d:?} before now {now:?}");
            }
            prop_assert!(closed <= 1);
        }
        // Whatever happened, the connection ends within bounded virtual time.
        for _ in 0..10 {
            conn.handle_eof(now);
            if let Some(d) = conn.poll_timeout() {
                now = d;
                conn.handle_timeout(now);
            }
            drain(&mut conn, &mut closed);
        }
        prop_assert_eq!(closed, 1);
        prop_assert!(conn.is_closed());
    }
}

/// One step of a random script through the simulation.
#[derive(Clone, Debug)]
enum Op {
    Send(Side, Message),
    Fragments(Side, Message, usize),
    Ping(Side),
    Close(Side, u16),
    Advance(u64),
    Blackhole(Side, bool),
}

fn arb_side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Client), Just(Side::Server)]
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        "\\PC{0,30}".prop_map(Message::text),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(Message::binary),
    ]
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            5 => (arb_side(), arb_message()).prop_map(|(s, m)| Op::Send(s, m)),
            2 => (arb_side(), arb_message(), 1usize..5).prop_map(|(s, m, n)| Op::Fragments(s, m, n)),
            1 => arb_side().prop_map(Op::Ping),
            1 => (arb_side(), prop::sample::select(vec![1000u16, 1001, 3000, 4999])).prop_map(|(s, c)| Op::Close(s, c)),
            3 => (0u64..20_000).prop_map(Op::Advance),
            1 => (arb_side(), any::<bool>()).prop_map(|(s, on)| Op::Blackhole(s, on)),
        ],
        0..30,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_scripts_keep_every_invariant(
        ops in arb_ops(),
        client in arb_config(),
        server in arb_config(),
        latency in 0u64..200,
        max_chunk in 1usize..64,
        seed in any::<u64>(),
    ) {
        let mut sim = Sim::new(
            SimConfig::default()
                .client_config(client)
                .server_config(server)
                .latency(Duration::from_millis(latency))
                .max_chunk(max_chunk)
                .seed(seed),
        );
        let mut sent: [Vec<Message>; 2] = [Vec::new(), Vec::new()];
        let index = |s: Side| if s == Side::Client { 0 } else { 1 };
        for op in ops {
            match op {
                Op::Send(side, m) => {
                    if sim.conn(side).send(m.clone()).is_ok() {
                        sent[index(side)].push(m);
                    }
                }
                Op::Fragments(side, m, n) => {
                    let bytes = m.as_bytes().to_vec();
                    let step = bytes.len().div_ceil(n).max(1);
                    let chunks: Vec<&[u8]> = if bytes.is_empty() { vec![&[][..]] } else { bytes.chunks(step).collect() };
                    let last = chunks.len() - 1;
                    let mut ok = true;
                    for (i, c) in chunks.iter().enumerate() {
                        ok &= sim.conn(side).send_fragment(m.kind(), c.to_vec(), i == last).is_ok();
                    }
                    if ok {
                        sent[index(side)].push(m);
                    }
                }
                Op::Ping(side) => { let _ = sim.conn(side).ping(&b"app"[..]); }
                Op::Close(side, code) => {
                    let now = sim.now();
                    let _ = sim.conn(side).close(now, CloseCode(code), "bye");
                }
                Op::Advance(ms) => sim.run_for(Duration::from_millis(ms)),
                Op::Blackhole(side, on) => sim.set_blackhole(side, on),
            }
            sim.flush();
        }
        // Heal the path, then let everything finish.
        sim.set_blackhole(Side::Client, false);
        sim.set_blackhole(Side::Server, false);
        for side in [Side::Client, Side::Server] {
            if sim.closed(side).is_none() {
                let now = sim.now();
                let _ = sim.conn(side).close(now, CloseCode::NORMAL, "end");
            }
        }
        prop_assert!(sim.run_until_closed(Duration::from_secs(3600)), "both sides end");

        for side in [Side::Client, Side::Server] {
            let closes = sim.events(side).iter().filter(|(_, e)| matches!(e, Event::Closed(_))).count();
            prop_assert_eq!(closes, 1);
            prop_assert!(matches!(sim.events(side).last(), Some((_, Event::Closed(_)))));
            prop_assert_eq!(sim.outputs_after_closed(side), 0);
            let info = sim.closed(side).unwrap();
            // Every transmit decoded at the peer: no side saw a protocol error.
            prop_assert!(!matches!(info.cause, CloseCause::Protocol(_)), "{:?}", info);
            // Times are consistent.
            let times: Vec<Instant> = sim.events(side).iter().map(|(t, _)| *t).collect();
            prop_assert!(times.windows(2).all(|w| w[0] <= w[1]));
        }
        // A clean close on both sides means nothing was lost either way.
        let clean = sim.closed(Side::Client).unwrap().clean && sim.closed(Side::Server).unwrap().clean;
        for side in [Side::Client, Side::Server] {
            let received: Vec<Message> = sim.events(side.peer()).iter().filter_map(|(_, e)| match e {
                Event::Message(m) => Some(m.clone()),
                _ => None,
            }).collect();
            let sent = &sent[index(side)];
            // Whatever arrived is a prefix of what was sent, intact and in order.
            prop_assert!(received.len() <= sent.len());
            prop_assert_eq!(&received[..], &sent[..received.len()]);
            if clean {
                prop_assert_eq!(received.len(), sent.len(), "clean close lost messages from {:?}", side);
            }
        }
    }
}
