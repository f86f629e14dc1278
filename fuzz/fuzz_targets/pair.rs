//! A client and a server wired through `wsmachine::sim::Sim` (latency,
//! chunking, seed, blackholes, an optional middlebox idle cut) running a
//! fuzzer-chosen script of sends, fragments, pings, closes and time, with
//! permessage-deflate negotiated from fuzzer-chosen configs (or not).
//!
//! Oracles: what a side received is always a prefix of what its peer sent,
//! intact and in order, and all of it once the receiver got the sender's
//! close frame (so: equal when both closes are clean); no side ever closes
//! with `CloseCause::Protocol` (every transmit decodes cleanly at the peer);
//! after `run_until_closed` each side has exactly one `Closed`, last, and no
//! output after it; event times never go back.

#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use wsmachine::deflate::{DeflateConfig, DeflateParams, accept_response, negotiate_server, offer};
use wsmachine::sim::{Side, Sim, SimConfig};
use wsmachine::{CloseCause, CloseCode, Config, DataKind, Delivery, Duration, Event, Message};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum S {
    Client,
    Server,
}

impl S {
    fn side(self) -> Side {
        match self {
            S::Client => Side::Client,
            S::Server => Side::Server,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Timers {
    /// 20 ms + 4 ms per unit.
    ping: Option<u8>,
    pong_ms: u16,
    idle_ms: Option<u16>,
    close_ms: u16,
    chunks: bool,
}

impl Timers {
    fn config(&self) -> Config {
        Config::default()
            .ping_interval(self.ping.map(|p| ms(20 + 4 * u64::from(p))))
            .pong_timeout(ms(self.pong_ms.into()))
            .idle_timeout(self.idle_ms.map(|m| ms(m.into())))
            .close_timeout(ms(self.close_ms.into()))
            .delivery(if self.chunks {
                Delivery::Chunks
            } else {
                Delivery::Messages
            })
    }
}

#[derive(Arbitrary, Debug)]
struct Script {
    latency_ms: u8,
    max_chunk: u8,
    seed: u64,
    middlebox_idle_ms: Option<u16>,
    client: Timers,
    server: Timers,
    /// permessage-deflate, negotiated from these two configs.
    deflate: Option<Deflate>,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
struct DeflateSide {
    /// 8 + n % 8.
    server_max_window_bits: u8,
    client_max_window_bits: u8,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// n % 10.
    level: u8,
    min_compress_size: u8,
}

impl DeflateSide {
    fn config(&self) -> DeflateConfig {
        DeflateConfig::default()
            .server_max_window_bits(8 + self.server_max_window_bits % 8)
            .client_max_window_bits(8 + self.client_max_window_bits % 8)
            .server_no_context_takeover(self.server_no_context_takeover)
            .client_no_context_takeover(self.client_no_context_takeover)
            .level(u32::from(self.level % 10))
            .min_compress_size(self.min_compress_size.into())
    }
}

#[derive(Arbitrary, Debug)]
struct Deflate {
    client: DeflateSide,
    server: DeflateSide,
}

impl Deflate {
    /// Client offer, server answer, client check: both ends must agree.
    fn negotiate(&self) -> Option<(DeflateParams, DeflateParams)> {
        let (client, server) = (self.client.config(), self.server.config());
        let offered = offer(&client);
        let (server_params, answer) = negotiate_server(&[offered], &server)?;
        let client_params = accept_response(&answer, &client)
            .unwrap_or_else(|e| panic!("client refused the server's answer {answer:?}: {e:?}"));
        let negotiated = |p: &DeflateParams| {
            (
                p.server_no_context_takeover,
                p.client_no_context_takeover,
                p.server_max_window_bits,
                p.client_max_window_bits,
            )
        };
        assert_eq!(
            negotiated(&server_params),
            negotiated(&client_params),
            "{answer}"
        );
        Some((client_params, server_params))
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    SendText(S, String),
    SendBinary(S, Vec<u8>),
    /// One fragment (opens, continues or ends a message).
    Fragment {
        side: S,
        text: bool,
        data: Vec<u8>,
        fin: bool,
    },
    /// A whole message in `pieces` fragments.
    Fragments {
        side: S,
        text: String,
        pieces: u8,
    },
    Ping(S, Vec<u8>),
    Close(S, u16, String),
    /// Run the simulation for this many ms (at most 10 s).
    Advance(u16),
    Blackhole(S, bool),
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

/// What one side sent: whole messages, and the fragmented one still open.
#[derive(Default)]
struct Sent {
    messages: Vec<Message>,
    open: Option<(DataKind, Vec<u8>)>,
}

fn message(kind: DataKind, bytes: Vec<u8>) -> Message {
    match kind {
        DataKind::Binary => Message::binary(bytes),
        DataKind::Text => Message::text(
            String::from_utf8(bytes).expect("text fragments accepted that are not UTF-8"),
        ),
    }
}

fn fragment(
    sim: &mut Sim,
    sent: &mut Sent,
    side: Side,
    kind: DataKind,
    data: &[u8],
    fin: bool,
) -> bool {
    let ok = sim
        .conn(side)
        .send_fragment(kind, Bytes::copy_from_slice(data), fin)
        .is_ok();
    if ok {
        let (_, buf) = sent.open.get_or_insert_with(|| (kind, Vec::new()));
        buf.extend_from_slice(data);
        if fin {
            let (k, buf) = sent.open.take().expect("open");
            assert_eq!(k, kind);
            sent.messages.push(message(k, buf));
        }
    }
    ok
}

/// The messages a side received (chunks reassembled).
fn received(sim: &Sim, side: Side) -> Vec<Message> {
    let mut out = Vec::new();
    let mut chunked: Option<(DataKind, Vec<u8>)> = None;
    for (_, e) in sim.events(side) {
        match e {
            Event::Message(m) => {
                assert!(chunked.is_none(), "a message inside a chunked message");
                out.push(m.clone());
            }
            Event::Chunk { kind, data, fin } => {
                let (k, buf) = chunked.get_or_insert_with(|| (*kind, Vec::new()));
                assert_eq!(k, kind, "chunk kind changed inside a message");
                buf.extend_from_slice(data);
                if *fin {
                    let (k, buf) = chunked.take().expect("open");
                    out.push(message(k, buf));
                }
            }
            _ => {}
        }
    }
    out
}

fuzz_target!(|script: Script| {
    let (client_deflate, server_deflate) =
        match script.deflate.as_ref().and_then(Deflate::negotiate) {
            Some((c, s)) => (Some(c), Some(s)),
            None => (None, None),
        };
    let mut sim = Sim::new(
        SimConfig::default()
            .client_config(script.client.config().deflate(client_deflate))
            .server_config(script.server.config().deflate(server_deflate))
            .latency(ms(script.latency_ms.into()))
            .max_chunk(usize::from(script.max_chunk).max(1))
            .seed(script.seed)
            .middlebox_idle(script.middlebox_idle_ms.map(|m| ms(m.into()))),
    );
    let mut sent = [Sent::default(), Sent::default()];

    for op in script.ops {
        match op {
            Op::SendText(s, text) => {
                let side = s.side();
                let m = Message::text(text);
                if sim.conn(side).send(m.clone()).is_ok() {
                    sent[idx(side)].messages.push(m);
                }
            }
            Op::SendBinary(s, data) => {
                let side = s.side();
                let m = Message::binary(data);
                if sim.conn(side).send(m.clone()).is_ok() {
                    sent[idx(side)].messages.push(m);
                }
            }
            Op::Fragment {
                side,
                text,
                data,
                fin,
            } => {
                let side = side.side();
                let kind = if text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                fragment(&mut sim, &mut sent[idx(side)], side, kind, &data, fin);
            }
            Op::Fragments { side, text, pieces } => {
                let side = side.side();
                let bytes = text.as_bytes();
                let n = usize::from(pieces % 8).max(1);
                let step = bytes.len().div_ceil(n).max(1);
                let chunks: Vec<&[u8]> = if bytes.is_empty() {
                    vec![&[][..]]
                } else {
                    bytes.chunks(step).collect()
                };
                let last = chunks.len() - 1;
                for (i, c) in chunks.iter().enumerate() {
                    // Split anywhere, even inside a UTF-8 sequence.
                    if !fragment(
                        &mut sim,
                        &mut sent[idx(side)],
                        side,
                        DataKind::Text,
                        c,
                        i == last,
                    ) {
                        break;
                    }
                }
            }
            Op::Ping(s, payload) => {
                let _ = sim.conn(s.side()).ping(payload);
            }
            Op::Close(s, code, reason) => {
                let now = sim.now();
                let _ = sim.conn(s.side()).close(now, CloseCode(code), &reason);
            }
            Op::Advance(n) => sim.run_for(ms(u64::from(n.min(10_000)))),
            Op::Blackhole(s, on) => sim.set_blackhole(s.side(), on),
        }
        sim.flush();
        for side in [Side::Client, Side::Server] {
            assert_eq!(
                sim.outputs_after_closed(side),
                0,
                "{side:?} output after Closed"
            );
        }
    }

    // Heal the path, close what is still open, and let everything finish.
    sim.set_blackhole(Side::Client, false);
    sim.set_blackhole(Side::Server, false);
    for side in [Side::Client, Side::Server] {
        if sim.closed(side).is_none() {
            let now = sim.now();
            let _ = sim.conn(side).close(now, CloseCode::NORMAL, "end");
        }
    }
    assert!(
        sim.run_until_closed(Duration::from_secs(3600)),
        "both sides end"
    );

    for side in [Side::Client, Side::Server] {
        let events = sim.events(side);
        let closes = events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Closed(_)))
            .count();
        assert_eq!(closes, 1, "{side:?}: {closes} Closed");
        assert!(
            matches!(events.last(), Some((_, Event::Closed(_)))),
            "{side:?}: Closed is not last"
        );
        assert_eq!(sim.outputs_after_closed(side), 0);
        assert!(sim.is_shut_down(side), "{side:?} never shut down");
        assert!(
            events.windows(2).all(|w| w[0].0 <= w[1].0),
            "{side:?}: event times go back"
        );
        let info = sim.closed(side).expect("closed");
        assert!(
            !matches!(info.cause, CloseCause::Protocol(_)),
            "{side:?} saw a protocol error from a correct peer: {info:?}"
        );
        if info.clean {
            assert!(info.sent.is_some() && info.received.is_some(), "{info:?}");
        }
    }
    for receiver in [Side::Client, Side::Server] {
        let got = received(&sim, receiver);
        let want = &sent[idx(receiver.peer())].messages;
        assert!(
            got.len() <= want.len(),
            "{receiver:?} received more messages than were sent"
        );
        assert_eq!(
            &got[..],
            &want[..got.len()],
            "{receiver:?} received something else than was sent"
        );
        // The peer's close frame arrived: everything sent before it did too.
        if sim.closed(receiver).is_some_and(|i| i.received.is_some()) {
            assert_eq!(
                got.len(),
                want.len(),
                "{receiver:?} got the close frame but lost messages"
            );
        }
    }
});
