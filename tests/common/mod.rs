//! Shared helpers for the integration tests: raw frame builders (valid and
//! invalid), a comparable mirror of `Output`, an independent wire decoder and
//! a tiny two-endpoint pump. Public API only.

#![allow(dead_code, unreachable_pub)]

use bytes::{BufMut, BytesMut};
use wsmachine::{CloseCause, CloseInfo, Config, Connection, Event, Initiator, Instant, Output};

/// The masking key of RFC 6455 §5.7.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Opcodes as raw wire values.
pub const CONT: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// A fixed client seed for byte-exact transcripts.
pub const SEED: [u8; 32] = [7; 32];

pub const T0: Instant = Instant::ZERO;

pub fn server() -> Connection {
    Connection::server(Config::default(), T0)
}

pub fn client() -> Connection {
    Connection::client(Config::default(), T0, SEED)
}

pub fn server_with(config: Config) -> Connection {
    Connection::server(config, T0)
}

pub fn client_with(config: Config) -> Connection {
    Connection::client(config, T0, SEED)
}

/// Which end wrote a frame: decides whether it must be masked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Client to server: every frame masked.
    Client,
    /// Server to client: no frame masked.
    Server,
}

impl Origin {
    /// The other end.
    pub fn other(self) -> Origin {
        match self {
            Origin::Client => Origin::Server,
            Origin::Server => Origin::Client,
        }
    }
}

/// Encodes a frame header by hand with the minimal length encoding.
///
/// `first` is the whole first byte (FIN, RSV and opcode), so invalid headers
/// are easy to craft.
pub fn header(first: u8, len: u64, key: Option<[u8; 4]>) -> Vec<u8> {
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    let mut out = vec![first];
    if len < 126 {
        out.push(mask_bit | u8::try_from(len).unwrap());
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(key) = key {
        out.extend_from_slice(&key);
    }
    out
}

/// The first header byte for `fin` and a raw 4-bit `opcode` (no RSV bits).
pub fn first_byte(fin: bool, opcode: u8) -> u8 {
    (u8::from(fin) << 7) | (opcode & 0x0F)
}

/// XOR with `key`, byte by byte (the RFC's definition, independent of the crate).
pub fn mask_bytes(data: &[u8], key: [u8; 4]) -> Vec<u8> {
    data.iter()
        .enumerate()
        .map(|(i, b)| b ^ key[i % 4])
        .collect()
}

/// A frame with a raw first byte, masked with `key` when given.
pub fn raw_frame(first: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = header(first, payload.len() as u64, key);
    match key {
        Some(key) => out.extend_from_slice(&mask_bytes(payload, key)),
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked frame (as a client sends).
pub fn masked_frame(fin: bool, opcode: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    raw_frame(first_byte(fin, opcode), payload, Some(key))
}

/// An unmasked frame (as a server sends).
pub fn unmasked_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(first_byte(fin, opcode), payload, None)
}

/// A frame as `from` would send it (masked with [`KEY`] from a client).
pub fn frame(from: Origin, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    match from {
        Origin::Client => masked_frame(fin, opcode, payload, KEY),
        Origin::Server => unmasked_frame(fin, opcode, payload),
    }
}

/// A close payload: code and reason.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// A close frame as `from` would send it.
pub fn close_frame(from: Origin, code: u16, reason: &[u8]) -> Vec<u8> {
    frame(from, true, CLOSE, &close_payload(code, reason))
}

/// A comparable mirror of [`Output`].
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Transmit(Vec<u8>),
    Shutdown,
    Event(Event),
    Wait(Option<Instant>),
}

impl Out {
    pub fn is_transmit(&self) -> bool {
        matches!(self, Out::Transmit(_))
    }
}

/// One output, mirrored. The transmit is collected through its `Buf` impl.
pub fn poll(conn: &mut Connection) -> Out {
    match conn.poll_output() {
        Output::Transmit(t) => {
            let mut bytes = Vec::new();
            bytes.put(t);
            Out::Transmit(bytes)
        }
        Output::Shutdown => Out::Shutdown,
        Output::Event(e) => Out::Event(e),
        Output::Wait { until } => Out::Wait(until),
    }
}

/// Polls until `Wait`; returns everything before it and the deadline.
pub fn drain_with_wait(conn: &mut Connection) -> (Vec<Out>, Option<Instant>) {
    let mut outs = Vec::new();
    for _ in 0..10_000_000 {
        match poll(conn) {
            Out::Wait(until) => return (outs, until),
            other => outs.push(other),
        }
    }
    panic!("poll_output never returned Wait");
}

/// Polls until `Wait`; returns everything before it.
pub fn drain(conn: &mut Connection) -> Vec<Out> {
    drain_with_wait(conn).0
}

/// Feeds `bytes` in one read (through a fresh buffer), asserts nothing is
/// left over, then drains.
pub fn feed(conn: &mut Connection, now: Instant, bytes: &[u8]) -> Vec<Out> {
    let mut buf = BytesMut::from(bytes);
    conn.handle_read(now, &mut buf);
    assert!(
        buf.is_empty(),
        "{} bytes left in the read buffer",
        buf.len()
    );
    drain(conn)
}

/// Appends `bytes` to `buf`, feeds the connection, then drains.
pub fn feed_into(
    conn: &mut Connection,
    now: Instant,
    buf: &mut BytesMut,
    bytes: &[u8],
) -> Vec<Out> {
    buf.extend_from_slice(bytes);
    conn.handle_read(now, buf);
    drain(conn)
}

/// The bytes of every transmit, concatenated.
pub fn wire(outs: &[Out]) -> Vec<u8> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Transmit(b) => Some(&b[..]),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

/// The transmits, one entry per `Output::Transmit`.
pub fn transmits(outs: &[Out]) -> Vec<Vec<u8>> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Transmit(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

/// The events, in order.
pub fn events(outs: &[Out]) -> Vec<Event> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The events other than `Closed`.
pub fn app_events(outs: &[Out]) -> Vec<Event> {
    events(outs)
        .into_iter()
        .filter(|e| !matches!(e, Event::Closed(_)))
        .collect()
}

/// The one `Closed` event, which must be the last output; panics otherwise.
pub fn closed(outs: &[Out]) -> CloseInfo {
    let count = outs
        .iter()
        .filter(|o| matches!(o, Out::Event(Event::Closed(_))))
        .count();
    assert_eq!(count, 1, "expected exactly one Closed in {outs:#?}");
    match outs.last() {
        Some(Out::Event(Event::Closed(info))) => (**info).clone(),
        _ => panic!("Closed is not the last output: {outs:#?}"),
    }
}

/// Whether any output is `Closed`.
pub fn has_closed(outs: &[Out]) -> bool {
    outs.iter()
        .any(|o| matches!(o, Out::Event(Event::Closed(_))))
}

/// Whether any output is `Shutdown`.
pub fn has_shutdown(outs: &[Out]) -> bool {
    outs.contains(&Out::Shutdown)
}

/// A frame decoded from the wire by the tests' own decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub key: Option<[u8; 4]>,
    /// The header bytes as they were on the wire.
    pub header: Vec<u8>,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

impl WireFrame {
    /// The close code of a close frame (`None` for an empty payload).
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, CLOSE, "not a close frame: {self:?}");
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    /// The close reason of a close frame.
    pub fn close_reason(&self) -> &str {
        assert_eq!(self.opcode, CLOSE, "not a close frame: {self:?}");
        std::str::from_utf8(self.payload.get(2..).unwrap_or(&[])).expect("close reason is UTF-8")
    }
}

/// Decodes every frame in `bytes`, which must hold whole frames only.
/// Frames from a client must be masked, frames from a server must not.
pub fn decode_frames(bytes: &[u8], from: Origin) -> Vec<WireFrame> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let b0 = bytes[at];
        let b1 = bytes[at + 1];
        at += 2;
        let len = match b1 & 0x7F {
            126 => {
                let l = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
                at += 2;
                u64::from(l)
            }
            127 => {
                let mut be = [0; 8];
                be.copy_from_slice(&bytes[at..at + 8]);
                at += 8;
                u64::from_be_bytes(be)
            }
            n => u64::from(n),
        };
        let masked = b1 & 0x80 != 0;
        assert_eq!(
            masked,
            from == Origin::Client,
            "mask bit of a frame from {from:?}"
        );
        let key = masked.then(|| {
            let k = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
            at += 4;
            k
        });
        let header = bytes[start..at].to_vec();
        let len = usize::try_from(len).unwrap();
        let raw = &bytes[at..at + len];
        at += len;
        let payload = match key {
            Some(k) => mask_bytes(raw, k),
            None => raw.to_vec(),
        };
        frames.push(WireFrame {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: b0 & 0x0F,
            key,
            header,
            payload,
        });
    }
    frames
}

/// The frames transmitted in `outs`.
pub fn sent_frames(outs: &[Out], from: Origin) -> Vec<WireFrame> {
    decode_frames(&wire(outs), from)
}

/// Asserts the connection has nothing more to say, ever: `Wait { until: None }`
/// (checked a few times).
pub fn assert_silent_forever(conn: &mut Connection) {
    for _ in 0..3 {
        assert_eq!(poll(conn), Out::Wait(None));
    }
    assert!(conn.is_closed());
}

/// The outputs after `Closed` must all be nothing, whatever comes in.
pub fn assert_inert(conn: &mut Connection, from: Origin) {
    assert_silent_forever(conn);
    let later = Instant::from_secs(1_000);
    let mut buf = BytesMut::from(&frame(from, true, TEXT, b"late")[..]);
    conn.handle_read(later, &mut buf);
    conn.handle_timeout(later);
    conn.handle_eof(later);
    assert_silent_forever(conn);
}

/// Asserts that `outs` ends the way a failed connection does: the close frame
/// with `err.close_code()` and the error text as reason, then `Shutdown`,
/// then `Closed` with cause `Protocol(err)`, initiator `Library`, not clean.
/// Returns the outputs before the close frame.
pub fn assert_protocol_failure(
    outs: &[Out],
    from: Origin,
    err: &wsmachine::ProtocolError,
) -> Vec<Out> {
    let n = outs.len();
    assert!(n >= 3, "too few outputs: {outs:#?}");
    let Out::Transmit(close) = &outs[n - 3] else {
        panic!("no close frame before Shutdown: {outs:#?}")
    };
    let frames = decode_frames(close, from);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].opcode, CLOSE, "{outs:#?}");
    assert_eq!(
        frames[0].close_code(),
        Some(err.close_code().as_u16()),
        "{outs:#?}"
    );
    let text = err.to_string();
    let expected_reason = &text[..text.len().min(123)];
    assert_eq!(frames[0].close_reason(), expected_reason);
    assert_eq!(outs[n - 2], Out::Shutdown, "{outs:#?}");
    let info = closed(outs);
    assert_eq!(info.cause, CloseCause::Protocol(err.clone()));
    assert_eq!(info.initiator, Initiator::Library);
    assert!(!info.clean);
    assert_eq!(info.received, None);
    let sent = info.sent.expect("the close frame sent is recorded");
    assert_eq!(sent.code, err.close_code());
    assert_eq!(&*sent.reason, expected_reason);
    outs[..n - 3].to_vec()
}

/// Drains `from`, appends its transmitted bytes to `to_buf` and feeds them to
/// `to`. Returns `from`'s outputs.
pub fn pump(
    now: Instant,
    from: &mut Connection,
    to: &mut Connection,
    to_buf: &mut BytesMut,
) -> Vec<Out> {
    let outs = drain(from);
    to_buf.extend_from_slice(&wire(&outs));
    to.handle_read(now, to_buf);
    outs
}
