//! A deterministic two-endpoint simulation (feature `sim`): a client and a
//! server [`Connection`] joined by two simulated links with latency, seeded
//! chunking, a blackhole switch, FIN delivery, and an optional middlebox that
//! cuts idle connections like a proxy. Time is virtual and jumps straight to
//! the next deadline or delivery, so an hour of keepalive runs in microseconds.
//!
//! It is built on the public API only: use it to test your own timeout and
//! reconnect logic the way the crate tests its own.
//!
//! ```
//! use wsmachine::sim::{Side, Sim, SimConfig};
//! use wsmachine::{CloseCause, Config, Duration, Message};
//!
//! // A proxy that cuts connections after 60 s without traffic, and no keepalive.
//! let mut sim = Sim::new(SimConfig::default().middlebox_idle(Some(Duration::from_secs(60))));
//! sim.client().send(Message::text("hi")).unwrap();
//! sim.run_for(Duration::from_secs(120));
//! let info = sim.closed(Side::Client).expect("cut by the proxy");
//! assert_eq!(info.cause, CloseCause::Eof);
//! assert_eq!(info.code().0, 1006);
//!
//! // The same with a 25 s keepalive survives.
//! let config = Config::default().ping_interval(Some(Duration::from_secs(25)));
//! let mut sim = Sim::new(
//!     SimConfig::default()
//!         .middlebox_idle(Some(Duration::from_secs(60)))
//!         .client_config(config.clone())
//!         .server_config(config),
//! );
//! sim.run_for(Duration::from_secs(600));
//! assert!(sim.closed(Side::Client).is_none());
//! assert!(sim.client_ref().last_rtt().is_some());
//! ```

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::{Buf, Bytes, BytesMut};

use crate::{CloseInfo, Config, Connection, Duration, Event, Instant, Output};

/// One end of the simulated connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The client connection.
    Client,
    /// The server connection.
    Server,
}

impl Side {
    /// The other end.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }
}

/// Settings of a simulation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SimConfig {
    /// The client's connection settings.
    pub client_config: Config,
    /// The server's connection settings.
    pub server_config: Config,
    /// One-way latency of each link.
    pub latency: Duration,
    /// Transmitted bytes are cut into packets of 1..=max_chunk bytes (seeded).
    pub max_chunk: usize,
    /// Seed for chunking and the client's masking keys.
    pub seed: u64,
    /// A middlebox that closes both legs after this long with no traffic in
    /// either direction (like nginx `proxy_read_timeout` or a load balancer).
    pub middlebox_idle: Option<Duration>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            client_config: Config::default(),
            server_config: Config::default(),
            latency: Duration::from_millis(10),
            max_chunk: 1500,
            seed: 1,
            middlebox_idle: None,
        }
    }
}

macro_rules! sim_setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        impl SimConfig {
            $($(#[$doc])* #[must_use] pub fn $name(mut self, value: $ty) -> Self {
                self.$name = value;
                self
            })*
        }
    };
}

sim_setters! {
    /// Sets [`SimConfig::client_config`].
    client_config: Config;
    /// Sets [`SimConfig::server_config`].
    server_config: Config;
    /// Sets [`SimConfig::latency`].
    latency: Duration;
    /// Sets [`SimConfig::max_chunk`].
    max_chunk: usize;
    /// Sets [`SimConfig::seed`].
    seed: u64;
    /// Sets [`SimConfig::middlebox_idle`].
    middlebox_idle: Option<Duration>;
}

/// What travels on a link.
#[derive(Debug)]
enum Packet {
    Data(Bytes),
    Fin,
}

/// One direction: packets in flight and the receiver's read buffer.
#[derive(Debug, Default)]
struct Link {
    in_flight: VecDeque<(Instant, Packet)>,
    /// Packets swallowed by a blackhole, in order. Like TCP retransmission,
    /// they arrive if the path recovers; nothing overtakes them.
    held: VecDeque<Packet>,
    /// Cut by the middlebox: nothing is carried any more.
    dead: bool,
    read_buf: BytesMut,
    blackhole: bool,
    /// A FIN was sent on this link (nothing more may follow).
    fin_sent: bool,
}

/// One endpoint and what it has reported.
#[derive(Debug)]
struct Endpoint {
    conn: Connection,
    events: Vec<(Instant, Event)>,
    closed: Option<CloseInfo>,
    shutdown: bool,
    /// Outputs seen after `Closed`: must stay empty.
    after_closed: usize,
}

/// The simulation: two connections, two links, one virtual clock.
#[derive(Debug)]
pub struct Sim {
    now: Instant,
    ends: [Endpoint; 2],
    /// `links[i]` carries what endpoint `i` sends.
    links: [Link; 2],
    latency: Duration,
    max_chunk: usize,
    rng: u64,
    middlebox_idle: Option<Duration>,
    last_traffic: Instant,
    cut: bool,
}

impl Sim {
    /// A client and a server, already upgraded, at time zero.
    pub fn new(config: SimConfig) -> Self {
        let now = Instant::ZERO;
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&config.seed.to_le_bytes());
        let endpoint = |conn| Endpoint {
            conn,
            events: Vec::new(),
            closed: None,
            shutdown: false,
            after_closed: 0,
        };
        Sim {
            now,
            ends: [
                endpoint(Connection::client(config.client_config, now, seed)),
                endpoint(Connection::server(config.server_config, now)),
            ],
            links: [Link::default(), Link::default()],
            latency: config.latency,
            max_chunk: config.max_chunk.max(1),
            rng: config.seed ^ 0x9E37_79B9_7F4A_7C15,
            middlebox_idle: config.middlebox_idle,
            last_traffic: now,
            cut: false,
        }
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The client connection, to give it commands. Outputs are collected on
    /// the next `run_*` call (or [`Sim::flush`]).
    pub fn client(&mut self) -> &mut Connection {
        &mut self.ends[0].conn
    }

    /// The server connection, to give it commands.
    pub fn server(&mut self) -> &mut Connection {
        &mut self.ends[1].conn
    }

    /// The client connection, read-only.
    pub fn client_ref(&self) -> &Connection {
        &self.ends[0].conn
    }

    /// The server connection, read-only.
    pub fn server_ref(&self) -> &Connection {
        &self.ends[1].conn
    }

    /// One side's connection.
    pub fn conn(&mut self, side: Side) -> &mut Connection {
        &mut self.ends[side.index()].conn
    }

    /// Every event a side reported, with the time it was polled.
    pub fn events(&self, side: Side) -> &[(Instant, Event)] {
        &self.ends[side.index()].events
    }

    /// Takes the events a side reported so far.
    pub fn take_events(&mut self, side: Side) -> Vec<(Instant, Event)> {
        core::mem::take(&mut self.ends[side.index()].events)
    }

    /// The side's `Closed` info, once it came.
    pub fn closed(&self, side: Side) -> Option<&CloseInfo> {
        self.ends[side.index()].closed.as_ref()
    }

    /// Whether the side emitted `Shutdown`.
    pub fn is_shut_down(&self, side: Side) -> bool {
        self.ends[side.index()].shutdown
    }

    /// Outputs a side produced after its `Closed` (an invariant says 0).
    pub fn outputs_after_closed(&self, side: Side) -> usize {
        self.ends[side.index()].after_closed
    }

    /// Packets sent by `side` from now on vanish (a half-open path: unplugged
    /// cable, dead NAT entry). `false` restores the path: as with TCP
    /// retransmission, what was swallowed then arrives, in order, after the
    /// link's latency.
    pub fn set_blackhole(&mut self, side: Side, on: bool) {
        let deliver_at = self.now + self.latency;
        let link = &mut self.links[side.index()];
        link.blackhole = on;
        if !on {
            while let Some(packet) = link.held.pop_front() {
                link.in_flight.push_back((deliver_at, packet));
            }
        }
    }

    /// Sets or clears the middlebox idle cut.
    pub fn set_middlebox_idle(&mut self, idle: Option<Duration>) {
        self.middlebox_idle = idle;
    }

    /// Delivers the transport's end (FIN) to `side` now, as if the peer's
    /// kernel closed the socket.
    pub fn deliver_eof(&mut self, side: Side) {
        let now = self.now;
        self.ends[side.index()].conn.handle_eof(now);
        self.flush();
    }

    /// Collects the outputs of both sides (after commands).
    pub fn flush(&mut self) {
        self.drain(Side::Client);
        self.drain(Side::Server);
    }

    /// The next instant anything happens: a delivery, a deadline or a cut.
    pub fn next_event_time(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for link in &self.links {
            if let Some((at, _)) = link.in_flight.front() {
                consider(*at);
            }
        }
        for end in &self.ends {
            if let (None, Some(at)) = (&end.closed, end.conn.poll_timeout()) {
                consider(at);
            }
        }
        if let (Some(idle), false) = (self.middlebox_idle, self.cut) {
            consider(self.last_traffic + idle);
        }
        next
    }

    /// Runs until `deadline` (inclusive), processing everything due on the way.
    pub fn run_until(&mut self, deadline: Instant) {
        self.flush();
        // Bounded: each iteration advances time or consumes a packet or timer.
        for _ in 0..10_000_000u32 {
            match self.next_event_time() {
                Some(at) if at <= deadline => self.step_to(at),
                _ => break,
            }
        }
        if deadline > self.now {
            self.now = deadline;
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let deadline = self.now + d;
        self.run_until(deadline);
    }

    /// Runs until both sides emitted `Closed` or `limit` of virtual time passed.
    /// Returns whether both closed.
    pub fn run_until_closed(&mut self, limit: Duration) -> bool {
        let deadline = self.now + limit;
        self.flush();
        for _ in 0..10_000_000u32 {
            if self.ends.iter().all(|e| e.closed.is_some()) {
                return true;
            }
            match self.next_event_time() {
                Some(at) if at <= deadline => self.step_to(at),
                _ => break,
            }
        }
        self.ends.iter().all(|e| e.closed.is_some())
    }

    /// Advances the clock to `at` and handles what is due then.
    fn step_to(&mut self, at: Instant) {
        self.now = self.now.max(at);
        let now = self.now;
        // Deliveries first, in order, on both links.
        for from in [Side::Client, Side::Server] {
            let to = from.peer();
            while let Some((due, _)) = self.links[from.index()].in_flight.front() {
                if *due > now {
                    break;
                }
                let Some((_, packet)) = self.links[from.index()].in_flight.pop_front() else {
                    break;
                };
                let end = &mut self.ends[to.index()];
                match packet {
                    Packet::Data(bytes) => {
                        let link = &mut self.links[from.index()];
                        link.read_buf.extend_from_slice(&bytes);
                        end.conn.handle_read(now, &mut link.read_buf);
                    }
                    Packet::Fin => end.conn.handle_eof(now),
                }
                self.drain(to);
            }
        }
        // Timers.
        for side in [Side::Client, Side::Server] {
            let end = &mut self.ends[side.index()];
            if end.conn.poll_timeout().is_some_and(|t| t <= now) {
                end.conn.handle_timeout(now);
                self.drain(side);
            }
        }
        // The middlebox cut: both legs see a FIN, in-flight data is lost.
        if let (Some(idle), false) = (self.middlebox_idle, self.cut)
            && self.last_traffic + idle <= now
        {
            self.cut = true;
            for side in [Side::Client, Side::Server] {
                let link = &mut self.links[side.index()];
                link.in_flight.clear();
                link.held.clear();
                link.dead = true;
                self.ends[side.index()].conn.handle_eof(now);
                self.drain(side);
            }
        }
    }

    /// Polls one side until it waits, acting on each output.
    fn drain(&mut self, side: Side) {
        let now = self.now;
        for _ in 0..100_000_000u32 {
            let output = self.ends[side.index()].conn.poll_output();
            let end = &mut self.ends[side.index()];
            if end.closed.is_some() && !matches!(output, Output::Wait { .. }) {
                end.after_closed += 1;
            }
            match output {
                Output::Wait { .. } => return,
                Output::Transmit(mut t) => {
                    let mut bytes = BytesMut::with_capacity(t.remaining());
                    while t.has_remaining() {
                        let chunk = t.chunk();
                        bytes.extend_from_slice(chunk);
                        let n = chunk.len();
                        t.advance(n);
                    }
                    self.send(side, bytes.freeze());
                }
                Output::Shutdown => {
                    end.shutdown = true;
                    let link = &mut self.links[side.index()];
                    if !link.dead && !link.fin_sent {
                        link.fin_sent = true;
                        if link.blackhole {
                            link.held.push_back(Packet::Fin);
                        } else {
                            link.in_flight.push_back((now + self.latency, Packet::Fin));
                        }
                    }
                }
                Output::Event(Event::Closed(info)) => {
                    end.events.push((now, Event::Closed(info.clone())));
                    end.closed = Some(*info);
                }
                Output::Event(e) => end.events.push((now, e)),
            }
        }
    }

    /// Cuts `bytes` into seeded packets on `side`'s link.
    fn send(&mut self, side: Side, mut bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.last_traffic = self.now;
        let deliver_at = self.now + self.latency;
        if self.links[side.index()].dead || self.links[side.index()].fin_sent {
            return;
        }
        while !bytes.is_empty() {
            let n = self.next_chunk_len().min(bytes.len());
            let packet = Packet::Data(bytes.split_to(n));
            let link = &mut self.links[side.index()];
            if link.blackhole {
                link.held.push_back(packet);
            } else {
                link.in_flight.push_back((deliver_at, packet));
            }
        }
    }

    fn next_chunk_len(&mut self) -> usize {
        // SplitMix64: tiny, seeded, good enough to vary chunk sizes.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let max = self.max_chunk as u64;
        usize::try_from(z % max).unwrap_or(0) + 1
    }
}
