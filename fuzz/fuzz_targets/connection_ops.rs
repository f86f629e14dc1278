//! A script of operations on one connection, all timers on (small, in ms),
//! in a fuzzer-chosen role.
//!
//! Oracles: no panic; the output contract (`wsmachine_fuzz::Observer`: at
//! most one `Closed`, last, after one `Shutdown`, nothing after it, `Wait`
//! agrees with `poll_timeout`, every transmit one valid frame at an
//! independent reference decoder, `CloseInfo.sent` is what went on the wire);
//! timers: `handle_timeout(now)` handles every deadline `<= now` and fires
//! nothing early, `poll_timeout()` is never before the latest `now` once
//! timers were handled; commands fail after close; stats match the wire; the
//! connection always ends with exactly one `Closed`.

#![no_main]

use arbitrary::Arbitrary;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use wsmachine::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};
use wsmachine::{
    CloseCode, Config, Connection, DataKind, Delivery, Duration, Event, Instant, Message, Role,
};
use wsmachine_fuzz::Observer;

#[derive(Arbitrary, Debug)]
struct Script {
    client: bool,
    seed: u8,
    /// Milliseconds (0 is raised to 1 by the connection).
    ping_ms: Option<u8>,
    pong_ms: u8,
    idle_ms: Option<u16>,
    close_ms: u8,
    auto_pong: bool,
    chunks: bool,
    max_buffered: Option<u16>,
    max_frame: Option<u16>,
    max_message: Option<u16>,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
struct Step {
    op: Op,
    /// Leave the outputs queued for now (drained after a later step).
    hold: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Opc {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opc {
    fn op(self) -> OpCode {
        match self {
            Opc::Continuation => OpCode::Continuation,
            Opc::Text => OpCode::Text,
            Opc::Binary => OpCode::Binary,
            Opc::Close => OpCode::Close,
            Opc::Ping => OpCode::Ping,
            Opc::Pong => OpCode::Pong,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Raw bytes from the peer.
    ReadBytes(Vec<u8>),
    /// A well-formed frame from the peer (masked as the peer's role says).
    ReadValidFrame {
        opcode: Opc,
        payload: Vec<u8>,
        fin: bool,
        key: [u8; 4],
    },
    /// A close frame from the peer with this code and reason.
    ReadClose {
        code: u16,
        reason: String,
        key: [u8; 4],
    },
    /// A pong answering the last ping we sent (keepalive RTT path).
    ReadPongForLastPing {
        key: [u8; 4],
    },
    Eof,
    /// A correct driver: time passes and every deadline is handled on time.
    Advance(u16),
    /// The clock jumps without handling deadlines (a late or suspended driver).
    Jump(u16),
    HandleTimeout,
    /// `handle_timeout` with a time before the latest one (clock going back).
    HandleTimeoutAt(u16),
    SendText(String),
    SendBinary(Vec<u8>),
    SendFragment {
        text: bool,
        bytes: Vec<u8>,
        fin: bool,
    },
    Ping(Vec<u8>),
    Close(u16, String),
    /// `send_text_into` / `send_binary_into`: the frames due are appended
    /// to a write buffer.
    SendInto {
        text: Option<String>,
        bytes: Vec<u8>,
    },
    /// An unsolicited pong.
    Pong(Vec<u8>),
}

struct Harness {
    conn: Connection,
    obs: Observer,
    buf: BytesMut,
    now: Instant,
    /// The latest `now` given to the connection.
    given: Instant,
    /// Deadlines may be overdue: the clock jumped since timers were handled.
    late: bool,
    /// Outputs were left queued by a `hold` step.
    pending: bool,
    fed: u64,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Harness {
    /// Drains the outputs; returns how many there were (frames, Shutdown,
    /// events).
    fn drain(&mut self) -> usize {
        let frames = self.obs.wire.frames;
        let shutdown = self.obs.shutdown;
        let mut n = 0;
        self.obs.drain(&mut self.conn, |e| {
            n += 1;
            if let Event::Pong {
                payload,
                rtt: Some(_),
            } = e
            {
                assert!(
                    payload.starts_with(b"wsm"),
                    "rtt for a pong that is not ours"
                );
            }
        });
        self.pending = false;
        n + (self.obs.wire.frames - frames) + usize::from(self.obs.shutdown != shutdown)
    }

    fn peer_frame(&mut self, opcode: OpCode, payload: &[u8], fin: bool, key: [u8; 4]) {
        let mask = (self.conn.role() == Role::Server).then_some(key);
        let header = FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut head = [0; MAX_HEADER_LEN];
        let n = header.encode(&mut head);
        let mut body = payload.to_vec();
        if let Some(key) = mask {
            apply_mask(&mut body, key, 0);
        }
        self.buf.extend_from_slice(&head[..n]);
        self.buf.extend_from_slice(&body);
        self.fed += (n + body.len()) as u64;
        self.read();
    }

    /// The clock as given to the connection.
    fn at(&mut self) -> Instant {
        self.given = self.given.max(self.now);
        self.now
    }

    fn read(&mut self) {
        let now = self.at();
        self.conn.handle_read(now, &mut self.buf);
    }

    /// `handle_timeout(at)` (clamped to the latest `now`) with the timer oracles.
    fn timeout(&mut self, at: Instant) {
        let before = self.conn.poll_timeout();
        self.given = self.given.max(at);
        self.conn.handle_timeout(at);
        // Earlier times are clamped to the latest one given.
        let now = self.given;
        // Every deadline at or before `now` was handled.
        if let Some(d) = self.conn.poll_timeout() {
            assert!(
                d > now,
                "deadline {d:?} still armed after handle_timeout({now:?})"
            );
        }
        if !self.pending {
            let fired = self.drain();
            if before.is_none_or(|d| d > now) {
                assert_eq!(
                    fired, 0,
                    "a timer fired early at {now:?} (deadline {before:?})"
                );
            }
        }
        // Deadlines up to the harness clock are handled only if `at` reached it.
        if at >= self.now {
            self.late = false;
        }
    }

    fn check_deadline(&self) {
        if self.late {
            return;
        }
        if let Some(d) = self.conn.poll_timeout() {
            assert!(
                d >= self.given,
                "deadline {d:?} before the latest now given {:?}",
                self.given
            );
        }
    }

    fn after_command(&self, ok: bool, what: &str) {
        if self.obs.closed.is_some() || self.obs.shutdown {
            assert!(!ok, "{what} accepted after the end");
        }
    }
}

fuzz_target!(|script: Script| {
    let t0 = Instant::from_secs(1);
    let mut config = Config::default()
        .ping_interval(script.ping_ms.map(|m| ms(m.into())))
        .pong_timeout(ms(script.pong_ms.into()))
        .idle_timeout(script.idle_ms.map(|m| ms(m.into())))
        .close_timeout(ms(script.close_ms.into()))
        .auto_pong(script.auto_pong)
        .delivery(if script.chunks {
            Delivery::Chunks
        } else {
            Delivery::Messages
        });
    if let Some(b) = script.max_buffered {
        config = config.max_buffered_output(b.into());
    }
    if let Some(f) = script.max_frame {
        config = config.max_frame_size(f.into());
    }
    if let Some(m) = script.max_message {
        config = config.max_message_size(m.into());
    }
    let (conn, role) = if script.client {
        (
            Connection::client(config, t0, [script.seed; 32]),
            Role::Client,
        )
    } else {
        (Connection::server(config, t0), Role::Server)
    };
    let mut h = Harness {
        conn,
        obs: Observer::new(role, false),
        buf: BytesMut::new(),
        now: t0,
        given: t0,
        late: false,
        pending: false,
        fed: 0,
    };

    for step in script.steps {
        let mut handled_timers = false;
        match step.op {
            Op::ReadBytes(bytes) => {
                h.buf.extend_from_slice(&bytes);
                h.fed += bytes.len() as u64;
                h.read();
            }
            Op::ReadValidFrame {
                opcode,
                mut payload,
                mut fin,
                key,
            } => {
                let opcode = opcode.op();
                if opcode.is_control() {
                    payload.truncate(125);
                    fin = true;
                }
                h.peer_frame(opcode, &payload, fin, key);
            }
            Op::ReadClose { code, reason, key } => {
                let mut payload = code.to_be_bytes().to_vec();
                let mut end = reason.len().min(123);
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                payload.extend_from_slice(&reason.as_bytes()[..end]);
                h.peer_frame(OpCode::Close, &payload, true, key);
            }
            Op::ReadPongForLastPing { key } => {
                let payload = h.obs.wire.last_ping.clone().unwrap_or_default();
                h.peer_frame(OpCode::Pong, &payload, true, key);
            }
            Op::Eof => {
                let now = h.at();
                h.conn.handle_eof(now);
            }
            Op::Advance(n) => {
                let target = h.now + ms(n.into());
                // A correct driver polls before it sleeps.
                h.drain();
                // Bounded: each deadline handled either sends a keepalive ping
                // (arming the pong deadline) or ends the connection.
                let mut rounds = 0;
                while let Some(d) = h.conn.poll_timeout().filter(|d| *d <= target) {
                    rounds += 1;
                    assert!(
                        rounds <= 16,
                        "timer livelock: deadline {d:?} keeps coming back"
                    );
                    h.now = h.now.max(d);
                    let now = h.now;
                    h.timeout(now);
                    h.drain();
                }
                h.now = target;
                handled_timers = true;
            }
            Op::Jump(n) => {
                h.now = h.now + ms(n.into());
                h.late = true;
            }
            Op::HandleTimeout => {
                let now = h.now;
                h.timeout(now);
                handled_timers = true;
            }
            Op::HandleTimeoutAt(back) => {
                let at = h.now - ms(back.into());
                h.timeout(at);
                handled_timers = true;
            }
            Op::SendText(s) => {
                let ok = h.conn.send(Message::text(s)).is_ok();
                h.after_command(ok, "send_text");
            }
            Op::SendBinary(b) => {
                let ok = h.conn.send_binary(b).is_ok();
                h.after_command(ok, "send_binary");
            }
            Op::SendInto { text, bytes } => {
                let mut out = vec![0xEE];
                let sent = match &text {
                    Some(t) => h.conn.send_text_into(t, &mut out),
                    None => h.conn.send_binary_into(&bytes, &mut out),
                };
                assert_eq!(out[0], 0xEE, "send_*_into overwrote the buffer");
                assert_eq!(sent.as_ref().map_or(0, |n| *n), out.len() - 1);
                if out.len() > 1 {
                    assert!(h.obs.closed.is_none(), "frames after Closed");
                    assert!(!h.obs.shutdown, "frames after Shutdown");
                    h.obs.wire.transmit_many(&out[1..]);
                }
                h.after_command(sent.is_ok(), "send_into");
            }
            Op::SendFragment { text, bytes, fin } => {
                let kind = if text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                let ok = h.conn.send_fragment(kind, bytes, fin).is_ok();
                h.after_command(ok, "send_fragment");
            }
            Op::Ping(p) => {
                let long = p.len() > 125;
                let ok = h.conn.ping(p).is_ok();
                assert!(!(ok && long), "ping of more than 125 bytes accepted");
                h.after_command(ok, "ping");
            }
            Op::Pong(p) => {
                let long = p.len() > 125;
                let ok = h.conn.pong(p).is_ok();
                assert!(!(ok && long), "pong of more than 125 bytes accepted");
                h.after_command(ok, "pong");
            }
            Op::Close(code, reason) => {
                let was_open = h.conn.is_open();
                let now = h.at();
                let ok = h.conn.close(now, CloseCode(code), &reason).is_ok();
                if ok {
                    assert!(was_open);
                    assert!(reason.len() <= 123);
                    assert!(wsmachine_fuzz::code_sendable(code));
                    assert!(!h.conn.is_open());
                }
                h.after_command(ok, "close");
            }
        }
        if step.hold {
            h.pending = true;
        } else {
            h.drain();
        }
        if handled_timers || !h.late {
            h.check_deadline();
        }
    }

    // Drive to the end: EOF, then every deadline.
    h.drain();
    for _ in 0..4 {
        h.conn.handle_eof(h.now);
        h.drain();
        if let Some(d) = h.conn.poll_timeout() {
            h.now = h.now.max(d);
            let now = h.now;
            h.conn.handle_timeout(now);
            h.drain();
        }
    }
    assert!(h.obs.closed.is_some(), "the connection did not end");
    assert!(h.conn.is_closed());
    assert_eq!(h.conn.poll_timeout(), None);
    // Stats match what went on the wire.
    let stats = h.conn.stats();
    assert_eq!(stats.frames_out, h.obs.wire.frames as u64, "frames_out");
    assert_eq!(stats.bytes_out, h.obs.wire.bytes, "bytes_out");
    assert!(
        stats.bytes_in <= h.fed,
        "bytes_in {} > fed {}",
        stats.bytes_in,
        h.fed
    );
    // Commands after the end fail; inputs change nothing.
    assert!(h.conn.send_text("late").is_err());
    assert!(h.conn.ping(&b"x"[..]).is_err());
    assert!(h.conn.close(h.now, CloseCode::NORMAL, "").is_err());
    h.buf.extend_from_slice(&[0x81, 0x00]);
    h.read();
    h.conn.handle_eof(h.now);
    h.conn.handle_timeout(Instant::MAX);
    h.drain();
});
