//! Oracles shared by the fuzz targets: an independent reference decoder for
//! what a connection transmits, and a checked `poll_output` drain.
//!
//! The reference decoder is written from RFC 6455 §5 without using the
//! crate's codec (no `FrameHeader`, no `Utf8Validator`, no `CloseCode`), so a
//! bug in the codec cannot hide itself.

use bytes::Buf;
use wsmachine::{CloseCause, CloseInfo, Connection, Event, Instant, Output, Role};

/// Most outputs one drain may produce before we call it a livelock.
pub const DRAIN_LIMIT: usize = 1 << 16;

/// One frame as the peer would see it (payload unmasked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// The close codes RFC 6455 §7.4 lets appear on the wire.
pub fn code_sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Parses exactly one frame from the front of `bytes` written by an endpoint
/// of role `sender`. Returns the frame and its length, `Ok(None)` when more
/// bytes are needed, or a description of the violation.
pub fn parse_frame(sender: Role, bytes: &[u8]) -> Result<Option<(RefFrame, usize)>, String> {
    if bytes.len() < 2 {
        return Ok(None);
    }
    let b0 = bytes[0];
    let b1 = bytes[1];
    let fin = b0 & 0x80 != 0;
    if b0 & 0x70 != 0 {
        return Err(format!("RSV bits set: {b0:#04x}"));
    }
    let opcode = b0 & 0x0F;
    if !matches!(opcode, 0x0 | 0x1 | 0x2 | 0x8 | 0x9 | 0xA) {
        return Err(format!("reserved opcode {opcode:#x}"));
    }
    let masked = b1 & 0x80 != 0;
    // RFC 6455 §5.1/§5.3: a client masks every frame, a server none.
    match (sender, masked) {
        (Role::Client, false) => return Err("client sent an unmasked frame".into()),
        (Role::Server, true) => return Err("server sent a masked frame".into()),
        _ => {}
    }
    let len7 = u64::from(b1 & 0x7F);
    let mut at = 2usize;
    let len = match len7 {
        126 => {
            if bytes.len() < 4 {
                return Ok(None);
            }
            let l = u64::from(u16::from_be_bytes([bytes[2], bytes[3]]));
            if l < 126 {
                return Err(format!("non-minimal 16-bit length {l}"));
            }
            at = 4;
            l
        }
        127 => {
            if bytes.len() < 10 {
                return Ok(None);
            }
            let mut be = [0u8; 8];
            be.copy_from_slice(&bytes[2..10]);
            let l = u64::from_be_bytes(be);
            if l >> 63 != 0 {
                return Err("64-bit length with the top bit set".into());
            }
            if l <= 0xFFFF {
                return Err(format!("non-minimal 64-bit length {l}"));
            }
            at = 10;
            l
        }
        n => n,
    };
    let key = if masked {
        if bytes.len() < at + 4 {
            return Ok(None);
        }
        let k = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        at += 4;
        Some(k)
    } else {
        None
    };
    if opcode >= 0x8 {
        if !fin {
            return Err(format!("fragmented control frame {opcode:#x}"));
        }
        if len > 125 {
            return Err(format!("control frame {opcode:#x} of {len} bytes"));
        }
    }
    let Ok(len) = usize::try_from(len) else {
        return Err("length does not fit".into());
    };
    if bytes.len() - at < len {
        return Ok(None);
    }
    let mut payload = bytes[at..at + len].to_vec();
    if let Some(k) = key {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }
    Ok(Some((
        RefFrame {
            fin,
            opcode,
            payload,
        },
        at + len,
    )))
}

/// The close frame content: `(code, reason)`; an empty payload is 1005.
pub fn parse_close_payload(payload: &[u8]) -> Result<(u16, String), String> {
    match payload.len() {
        0 => Ok((1005, String::new())),
        1 => Err("close payload of 1 byte".into()),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !code_sendable(code) {
                return Err(format!("close code {code} may not be sent"));
            }
            let reason = core::str::from_utf8(&payload[2..])
                .map_err(|e| format!("close reason not UTF-8: {e}"))?;
            Ok((code, reason.to_owned()))
        }
    }
}

/// What a peer checks of the frame stream one endpoint sends: each frame
/// valid on its own, fragmentation rules, UTF-8 of text messages, nothing
/// after the close frame.
#[derive(Debug)]
pub struct WireChecker {
    pub sender: Role,
    /// An open fragmented message: is it text, and its bytes so far (text only).
    open: Option<(bool, Vec<u8>)>,
    /// The close frame sent, if any: `(code, reason)`.
    pub close_sent: Option<(u16, String)>,
    pub frames: usize,
    /// Bytes of all frames checked.
    pub bytes: u64,
    /// The payload of the last ping sent (to answer it in the targets).
    pub last_ping: Option<Vec<u8>>,
    /// Complete data messages sent: (is_text, payload) — bounded by callers.
    pub messages: Vec<(bool, Vec<u8>)>,
    keep_messages: bool,
}

impl WireChecker {
    pub fn new(sender: Role, keep_messages: bool) -> Self {
        WireChecker {
            sender,
            open: None,
            close_sent: None,
            frames: 0,
            bytes: 0,
            last_ping: None,
            messages: Vec::new(),
            keep_messages,
        }
    }

    /// Checks one `Transmit`'s bytes: exactly one whole, valid frame.
    pub fn transmit(&mut self, bytes: &[u8]) {
        let (frame, n) = match parse_frame(self.sender, bytes) {
            Ok(Some(x)) => x,
            Ok(None) => panic!("transmit is not a whole frame: {:02x?}", trunc(bytes)),
            Err(e) => panic!("invalid frame transmitted: {e}: {:02x?}", trunc(bytes)),
        };
        assert_eq!(n, bytes.len(), "a transmit holds more than one frame");
        self.bytes += n as u64;
        self.frame(frame);
    }

    /// Frames written back to back (`poll_transmits_into`).
    pub fn transmit_many(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (frame, n) = match parse_frame(self.sender, bytes) {
                Ok(Some(x)) => x,
                Ok(None) => panic!("frames end inside a frame: {:02x?}", trunc(bytes)),
                Err(e) => panic!("invalid frame transmitted: {e}: {:02x?}", trunc(bytes)),
            };
            self.bytes += n as u64;
            self.frame(frame);
            bytes = &bytes[n..];
        }
    }

    fn frame(&mut self, f: RefFrame) {
        // RFC 6455 §5.5.1: no data frame, and no second close, after the
        // close frame. §5.5.2: a ping is answered "unless it already received
        // a Close frame", so a pong may follow our close frame.
        assert!(
            self.close_sent.is_none() || f.opcode == 0xA,
            "frame {:#x} transmitted after the close frame",
            f.opcode
        );
        self.frames += 1;
        match f.opcode {
            0x8 => {
                let close = parse_close_payload(&f.payload)
                    .unwrap_or_else(|e| panic!("invalid close frame transmitted: {e}"));
                self.close_sent = Some(close);
            }
            0x9 => self.last_ping = Some(f.payload),
            0xA => {}
            op => {
                let (text, mut buf) = match (op, self.open.take()) {
                    (0x0, Some((text, buf))) => (text, buf),
                    (0x0, None) => panic!("continuation transmitted with no message open"),
                    (_, Some(_)) => {
                        panic!("new data frame transmitted inside a fragmented message")
                    }
                    (op, None) => (op == 0x1, Vec::new()),
                };
                if text || self.keep_messages {
                    buf.extend_from_slice(&f.payload);
                }
                if f.fin {
                    if let (true, Err(e)) = (text, core::str::from_utf8(&buf)) {
                        panic!("text message transmitted that is not UTF-8: {e}");
                    }
                    if self.keep_messages {
                        self.messages.push((text, buf));
                    }
                } else {
                    self.open = Some((text, buf));
                }
            }
        }
    }
}

fn trunc(b: &[u8]) -> &[u8] {
    &b[..b.len().min(32)]
}

/// Reads a `Transmit` through its `Buf` implementation in uneven steps and
/// checks it agrees with `write_to`, `header()` and `payload()`.
pub fn transmit_bytes(mut t: wsmachine::Transmit, step: usize) -> Vec<u8> {
    let mut direct = Vec::new();
    t.write_to(&mut direct);
    assert_eq!(direct.len(), t.len());
    assert_eq!(t.header().len() + t.payload().len(), t.len());
    assert_eq!(t.is_empty(), direct.is_empty());
    let mut via_buf = Vec::with_capacity(direct.len());
    let mut step = step.max(1);
    while t.has_remaining() {
        let chunk = t.chunk();
        assert!(!chunk.is_empty(), "Buf::chunk empty while bytes remain");
        let n = chunk.len().min(step);
        via_buf.extend_from_slice(&chunk[..n]);
        t.advance(n);
        step = step % 7 + 1;
    }
    assert_eq!(via_buf, direct, "Buf reading differs from write_to");
    direct
}

/// Follows one connection's outputs and checks the output contract.
#[derive(Debug)]
pub struct Observer {
    pub role: Role,
    pub wire: WireChecker,
    pub closed: Option<CloseInfo>,
    pub shutdown: bool,
    pub events: Vec<Event>,
    keep_events: bool,
    step: usize,
    /// Outputs polled so far: every third poll first takes frames with
    /// `poll_transmits_into`, with a varying room, and the poll after it
    /// first takes messages with `poll_messages`, with a varying `max`.
    polls: usize,
    /// The chunked message being delivered: kind and (text) bytes so far.
    chunked: Option<(wsmachine::DataKind, Vec<u8>)>,
}

impl Observer {
    pub fn new(role: Role, keep_events: bool) -> Self {
        Observer {
            role,
            wire: WireChecker::new(role, false),
            closed: None,
            shutdown: false,
            events: Vec::new(),
            keep_events,
            step: 1,
            polls: 0,
            chunked: None,
        }
    }

    /// Polls until `Wait`, checking every output; returns the `Wait` deadline.
    /// `on_event` sees every event (including `Closed`).
    pub fn drain(
        &mut self,
        conn: &mut Connection,
        mut on_event: impl FnMut(&Event),
    ) -> Option<Instant> {
        for _ in 0..DRAIN_LIMIT {
            self.polls += 1;
            if self.polls % 3 == 0 {
                let room = [0, 7, 64, 200, usize::MAX][self.polls % 5];
                let mut buf = Vec::new();
                let n = conn.poll_transmits_into(&mut buf, room);
                assert_eq!(n, buf.len());
                assert!(n <= room, "poll_transmits_into passed its room");
                if n > 0 {
                    assert!(self.closed.is_none(), "frames after Closed");
                    assert!(!self.shutdown, "frames after Shutdown");
                    self.wire.transmit_many(&buf);
                }
            }
            if self.polls % 3 == 1 {
                let max = [0, 1, 2, usize::MAX][self.polls % 4];
                let mut lent = 0;
                let n = conn.poll_messages(max, |m| {
                    lent += 1;
                    assert!(self.closed.is_none(), "message after Closed");
                    assert!(!self.shutdown, "message after Shutdown");
                    let e = Event::Message(m.to_message());
                    self.check_event(&e);
                    on_event(&e);
                    if self.keep_events {
                        self.events.push(e);
                    }
                });
                assert_eq!(n, lent);
                assert!(n <= max, "poll_messages passed its max");
            }
            let output = conn.poll_output();
            if self.closed.is_some() {
                match output {
                    Output::Wait { until: None } => return None,
                    other => panic!("output after Closed: {other:?}"),
                }
            }
            match output {
                Output::Wait { until } => {
                    assert_eq!(
                        until,
                        conn.poll_timeout(),
                        "Wait.until differs from poll_timeout()"
                    );
                    assert!(!conn.is_closed());
                    assert_eq!(conn.buffered_amount(), 0, "bytes still buffered at Wait");
                    return until;
                }
                Output::Transmit(t) => {
                    assert!(!self.shutdown, "Transmit after Shutdown");
                    self.step = self.step % 13 + 1;
                    let bytes = transmit_bytes(t, self.step);
                    self.wire.transmit(&bytes);
                }
                Output::Shutdown => {
                    assert!(!self.shutdown, "second Shutdown");
                    self.shutdown = true;
                }
                Output::Event(e) => {
                    self.check_event(&e);
                    on_event(&e);
                    if let Event::Closed(info) = &e {
                        assert!(self.shutdown, "Closed without a Shutdown before it");
                        assert!(conn.is_closed(), "is_closed() false after Closed");
                        assert!(!conn.is_open());
                        self.check_close_info(info);
                        self.closed = Some((**info).clone());
                    } else if self.shutdown {
                        panic!("event after Shutdown that is not Closed: {e:?}");
                    }
                    if self.keep_events {
                        self.events.push(e);
                    }
                }
            }
        }
        panic!("poll_output did not reach Wait within {DRAIN_LIMIT} outputs");
    }

    /// Event rules that hold for any input: a chunked message keeps its
    /// kind, and chunked text never carries an invalid UTF-8 sequence (it is
    /// validated as it streams) and is complete at `fin`.
    fn check_event(&mut self, e: &Event) {
        match e {
            Event::Chunk { kind, data, fin } => {
                let (open_kind, buf) = self.chunked.get_or_insert_with(|| (*kind, Vec::new()));
                assert_eq!(open_kind, kind, "chunk kind changed inside a message");
                if *kind == wsmachine::DataKind::Text {
                    buf.extend_from_slice(data);
                    if let Err(err) = core::str::from_utf8(buf) {
                        assert!(
                            err.error_len().is_none(),
                            "a text chunk with invalid UTF-8 was delivered"
                        );
                        assert!(!fin, "a text message ends inside a UTF-8 sequence");
                    }
                }
                if *fin {
                    self.chunked = None;
                }
            }
            Event::Message(_) => assert!(
                self.chunked.is_none(),
                "a whole message inside a chunked one"
            ),
            Event::Ping(p) => assert!(p.len() <= 125),
            Event::Pong { payload, .. } => assert!(payload.len() <= 125),
            _ => {}
        }
    }

    fn check_close_info(&self, info: &CloseInfo) {
        // What CloseInfo says we sent is what went on the wire.
        let sent = info.sent.as_ref().map(|f| (f.code.0, f.reason.to_string()));
        assert_eq!(
            sent, self.wire.close_sent,
            "CloseInfo.sent differs from the close frame transmitted ({info:?})"
        );
        if info.clean {
            assert!(
                info.sent.is_some() && info.received.is_some(),
                "clean without both close frames: {info:?}"
            );
        }
        if let Some(r) = &info.received {
            assert!(
                r.code.0 == 1005 || code_sendable(r.code.0),
                "received code not sendable: {info:?}"
            );
            assert!(r.reason.len() <= 123);
        }
        if let CloseCause::Protocol(e) = &info.cause {
            assert!(!info.clean, "protocol failure reported clean: {info:?}");
            if info.initiator == wsmachine::Initiator::Library {
                // The failure happened while open: its close frame carries the
                // error's code.
                let code = info.sent.as_ref().map(|f| f.code);
                assert_eq!(code, Some(e.close_code()), "close code for {e:?}: {info:?}");
            }
        }
        // `info.code()` follows the browser's rule.
        match &info.received {
            Some(f) => assert_eq!(info.code(), f.code),
            None => assert_eq!(info.code().0, 1006),
        }
        let _ = info.hint();
        let _ = format!("{info}");
    }
}

/// Splits a raw input `[nsplit, split_len * (nsplit % 8), rest...]` into the
/// piece lengths (cycled by the caller; 0 = an empty read) and the rest.
/// With no split lengths, or only zeros, the rest is fed in one piece.
pub fn pieces(data: &[u8]) -> Option<(Vec<usize>, &[u8])> {
    let (&nsplit, rest) = data.split_first()?;
    let nsplit = usize::from(nsplit % 8);
    if rest.len() < nsplit {
        return None;
    }
    let (splits, rest) = rest.split_at(nsplit);
    let pieces = if splits.iter().all(|&s| s == 0) {
        vec![rest.len()]
    } else {
        splits.iter().map(|&s| usize::from(s)).collect()
    };
    Some((pieces, rest))
}

/// Feeds `wire` in `pieces` (cycled) to `read`, which gets the piece's bytes
/// and whether it is the last one; stops early when `read` returns false.
pub fn feed(pieces: &[usize], wire: &[u8], mut read: impl FnMut(&[u8], usize) -> bool) {
    let mut at = 0;
    let mut i = 0;
    loop {
        let n = pieces[i % pieces.len()].min(wire.len() - at);
        i += 1;
        let piece = &wire[at..at + n];
        at += n;
        if !read(piece, at) || at == wire.len() {
            return;
        }
    }
}

/// Events with chunked messages reassembled: `Chunk`s become one `Message`
/// at `fin`; the chunks of a message never finished are dropped.
pub fn reassembled(events: &[Event]) -> Vec<Event> {
    let mut out = Vec::new();
    let mut open: Option<(wsmachine::DataKind, Vec<u8>)> = None;
    for e in events {
        match e {
            Event::Chunk { kind, data, fin } => {
                let (_, buf) = open.get_or_insert_with(|| (*kind, Vec::new()));
                buf.extend_from_slice(data);
                if *fin {
                    let (kind, buf) = open.take().expect("open");
                    out.push(Event::Message(match kind {
                        wsmachine::DataKind::Text => {
                            wsmachine::Message::text(String::from_utf8(buf).expect("checked"))
                        }
                        wsmachine::DataKind::Binary => wsmachine::Message::binary(buf),
                    }));
                }
            }
            other => out.push(other.clone()),
        }
    }
    out
}
