//! Commands (send, ping, close) and outputs (`poll_output`, [`Transmit`]).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::fmt;

use bytes::{Buf, Bytes, BytesMut};

use super::{CloseInfo, Connection, Event, Initiator, Output, State};
use crate::frame::{
    FrameHeader, MAX_HEADER_LEN, OpCode, SHORT_PAYLOAD, apply_mask, encode_short, mask_into,
};
use crate::message::{DataKind, Message, MessageRef, Utf8Bytes};
use crate::{CloseCode, CloseFrame, Duration, Instant, SendError};

/// RSV1 (RFC 6455 §5.2), the "per-message compressed" bit of RFC 7692.
#[cfg(feature = "deflate")]
pub(super) const RSV1: u8 = 0b100;

/// Bytes kept inline in a frame: the header and, for a client, a short
/// masked payload (so small client messages need no allocation).
const INLINE: usize = 32;

/// A frame ready to go: encoded header plus payload (masked for a client).
#[derive(Clone)]
pub(crate) struct OutFrame {
    /// The header, then `inline_len` bytes of payload when the payload is inline.
    head: [u8; INLINE],
    head_len: u8,
    inline_len: u8,
    /// The payload when it is not inline.
    payload: Bytes,
}

impl OutFrame {
    const EMPTY: OutFrame = OutFrame {
        head: [0; INLINE],
        head_len: 0,
        inline_len: 0,
        payload: Bytes::new(),
    };

    pub(super) fn len(&self) -> usize {
        self.front_len() + self.payload.len()
    }

    /// Appends the whole frame to `out`.
    fn write_to(&self, out: &mut alloc::vec::Vec<u8>) {
        out.extend_from_slice(&self.head[..self.front_len()]);
        out.extend_from_slice(&self.payload);
    }

    /// Header plus inline payload.
    fn front_len(&self) -> usize {
        usize::from(self.head_len) + usize::from(self.inline_len)
    }
}

/// An entry of the connection's queue: a frame to send, an event to report,
/// or a transition to apply in order (peer close, failure, end of stream).
///
/// It mirrors [`Event`] rather than holding one because `Event::Closed`
/// carries a 144-byte `CloseInfo` that is never queued (it is built when the
/// end is polled); keeping it out keeps every queue entry small.
pub(crate) enum Queued {
    Frame(OutFrame),
    Message(Message),
    Chunk {
        kind: DataKind,
        data: Bytes,
        fin: bool,
    },
    Ping(Bytes),
    Pong {
        payload: Bytes,
        rtt: Option<Duration>,
    },
    /// Our pong for a ping (counted in `pongs_queued`).
    PongFrame(OutFrame),
    /// The peer's close frame: applied when polled, after the events before it.
    PeerClose(CloseFrame),
    /// A protocol error: applied when polled, after the events before it.
    Fail(crate::ProtocolError),
    /// The transport ended after a pending close or error: applied in order.
    Eof,
}

/// Short frames (at most `INLINE` bytes each: header and payload) that come
/// after everything in the queue, encoded back to back. A send-then-poll
/// loop of short messages then writes a few bytes here and copies them out,
/// where a queue entry of its own is an 80-byte move in and one out. When
/// anything else is queued behind them, they move into the queue first.
#[derive(Debug, Default)]
pub(super) struct SmallFrames {
    pub(super) bytes: alloc::vec::Vec<u8>,
    /// How many bytes at the front were handed out already.
    read: usize,
    /// How many frames are waiting.
    frames: usize,
}

impl SmallFrames {
    /// The length of the frame at the front (its header tells).
    fn front_len(&self) -> usize {
        let b1 = self.bytes[self.read + 1];
        2 + if b1 & 0x80 != 0 { 4 } else { 0 } + usize::from(b1 & 0x7F)
    }

    /// Takes the frame at the front.
    fn take(&mut self) -> OutFrame {
        let mut frame = OutFrame::EMPTY;
        (frame.head_len, frame.inline_len) = self.take_into(&mut frame.head);
        frame
    }

    /// Copies the frame at the front into `head` and takes it; returns its
    /// header and payload lengths.
    #[inline(always)]
    fn take_into(&mut self, head: &mut [u8; INLINE]) -> (u8, u8) {
        let len = self.front_len();
        let payload_len = usize::from(self.bytes[self.read + 1] & 0x7F);
        head[..len].copy_from_slice(&self.bytes[self.read..self.read + len]);
        self.consume(1, len);
        // len <= INLINE
        (
            u8::try_from(len - payload_len).unwrap_or(0),
            u8::try_from(payload_len).unwrap_or(0),
        )
    }

    /// Marks `frames` frames of `len` bytes handed out; once all are, the
    /// buffer starts over.
    fn consume(&mut self, frames: usize, len: usize) {
        self.read += len;
        self.frames -= frames;
        if self.frames == 0 {
            self.bytes.clear();
            self.read = 0;
        }
    }
}

/// Most storage the short-frame buffer keeps once it is empty (a
/// connection with out-of-line state only).
const SPARE_SMALL_MAX: usize = 512;

/// A payload to frame: shared bytes (sent as they are by a server) or a
/// borrowed slice (copied; by a client, masked while copying).
pub(super) enum Body<'a> {
    Shared(Bytes),
    Borrowed(&'a [u8]),
}

impl Body<'_> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Body::Shared(bytes) => bytes,
            Body::Borrowed(slice) => slice,
        }
    }
}

/// Bytes to write to the transport: one frame's header and payload.
///
/// Implements [`bytes::Buf`], with the header and the payload as two chunks
/// (`chunks_vectored` gives both for one `writev`); the payload is not copied
/// on the server side. Write it all, in order, before the next output.
#[derive(Clone)]
pub struct Transmit {
    frame: OutFrame,
    /// Bytes of the inline part (header + inline payload) already written.
    pos: u8,
}

impl Transmit {
    /// The encoded frame header still to write.
    pub fn header(&self) -> &[u8] {
        let start = usize::from(self.pos.min(self.frame.head_len));
        &self.frame.head[start..usize::from(self.frame.head_len)]
    }

    /// The payload still to write (masked already for a client).
    pub fn payload(&self) -> &[u8] {
        if self.frame.inline_len > 0 {
            let start = usize::from(self.pos.max(self.frame.head_len));
            &self.frame.head[start..self.frame.front_len()]
        } else {
            &self.frame.payload
        }
    }

    /// Total bytes still to write.
    pub fn len(&self) -> usize {
        self.remaining()
    }

    /// Whether nothing is left to write.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Appends all remaining bytes to `out` (for drivers that batch writes).
    pub fn write_to(&self, out: &mut alloc::vec::Vec<u8>) {
        out.extend_from_slice(self.front());
        out.extend_from_slice(&self.frame.payload);
    }

    /// Header and inline payload still to write: one contiguous chunk.
    fn front(&self) -> &[u8] {
        &self.frame.head[usize::from(self.pos)..self.frame.front_len()]
    }
}

impl Buf for Transmit {
    fn remaining(&self) -> usize {
        self.front().len() + self.frame.payload.len()
    }

    fn chunk(&self) -> &[u8] {
        let front = self.front();
        if front.is_empty() {
            &self.frame.payload
        } else {
            front
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        let from_front = cnt.min(self.front().len());
        // from_front <= INLINE
        self.pos += u8::try_from(from_front).unwrap_or(0);
        cnt -= from_front;
        self.frame
            .payload
            .advance(cnt.min(self.frame.payload.len()));
    }

    #[cfg(feature = "std")]
    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        for part in [self.front(), &self.frame.payload[..]] {
            if !part.is_empty() && n < dst.len() {
                dst[n] = std::io::IoSlice::new(part);
                n += 1;
            }
        }
        n
    }
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Transmit(header={}, payload={})",
            self.header().len(),
            self.payload().len()
        )
    }
}

/// Commands.
impl Connection {
    /// Queues a whole message as one frame.
    ///
    /// Fails if a close frame was sent, a fragmented message is open, or the
    /// output queue would pass `max_buffered_output`. Nothing is dropped
    /// silently: a failed send leaves the connection unchanged.
    ///
    /// The payload is not copied on the server side; a client masks it in
    /// place when it holds the only reference, and otherwise masks while
    /// copying (one pass).
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        let opcode = match message.kind() {
            DataKind::Text => OpCode::Text,
            DataKind::Binary => OpCode::Binary,
        };
        self.send_body(opcode, Body::Shared(message.into_bytes()))
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), SendError> {
        self.send(Message::Text(text.into()))
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.send(Message::Binary(data.into()))
    }

    /// Queues a text message copied from a borrowed `str`, as
    /// [`send_binary_copy`](Connection::send_binary_copy) does for binary data.
    pub fn send_text_copy(&mut self, text: &str) -> Result<(), SendError> {
        self.send_body(OpCode::Text, Body::Borrowed(text.as_bytes()))
    }

    /// Queues a binary message copied from a borrowed slice: for data the
    /// caller does not hold as [`Bytes`].
    ///
    /// A client must rewrite the payload anyway (masking, RFC 6455 §5.3), so
    /// here the copy is the masking pass, and a payload of up to 26 bytes is
    /// stored in the frame itself (no allocation). A server copies the slice
    /// once; with data already in `Bytes`, [`send_binary`](Connection::send_binary)
    /// sends it without copying.
    #[inline]
    pub fn send_binary_copy(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_body(OpCode::Binary, Body::Borrowed(data))
    }

    /// Sends a binary message copied from a borrowed slice and appends the
    /// frames due next to `out`, a driver's write buffer; returns how many
    /// bytes it appended. The same as
    /// [`send_binary_copy`](Connection::send_binary_copy) followed by
    /// [`poll_transmits_into(out, usize::MAX)`](Connection::poll_transmits_into),
    /// outputs and counters included.
    ///
    /// When nothing else is due (the usual case), the frame is encoded
    /// straight into `out`: no queue entry, no copy in between, and for a
    /// client the masking pass is the copy. Otherwise the message is queued
    /// behind what is due, and what can go out is appended. As with
    /// `poll_transmits_into`, keep calling `poll_output` until
    /// [`Output::Wait`] for events and deadlines.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, Instant};
    ///
    /// let mut conn = Connection::server(Config::default(), Instant::ZERO);
    /// let mut wbuf = Vec::new();
    /// assert_eq!(conn.send_binary_into(b"abc", &mut wbuf).unwrap(), 5);
    /// assert_eq!(conn.send_text_into("hi", &mut wbuf).unwrap(), 4);
    /// assert_eq!(wbuf, b"\x82\x03abc\x81\x02hi");
    /// ```
    #[inline]
    pub fn send_binary_into(
        &mut self,
        data: &[u8],
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, SendError> {
        self.send_into(OpCode::Binary, data, out)
    }

    /// Sends a text message copied from a borrowed `str` and appends the
    /// frames due next to `out`, as
    /// [`send_binary_into`](Connection::send_binary_into) does for binary
    /// data.
    #[inline]
    pub fn send_text_into(
        &mut self,
        text: &str,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, SendError> {
        self.send_into(OpCode::Text, text.as_bytes(), out)
    }

    #[inline]
    fn send_into(
        &mut self,
        opcode: OpCode,
        data: &[u8],
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, SendError> {
        if !self.nothing_due() || self.compression() {
            self.send_body(opcode, Body::Borrowed(data))?;
            return Ok(self.poll_transmits_into(out, usize::MAX));
        }
        // The checks of `send_body`, so the outcome is the same.
        self.check_can_send()?;
        if self.tx_fragment.is_some() {
            return Err(SendError::FragmentInProgress);
        }
        self.check_room(data.len())?;
        let start = out.len();
        let mask = self.next_mask();
        if data.len() <= SHORT_PAYLOAD {
            encode_short(out, 0x80 | opcode.as_u8(), mask, data);
        } else {
            let header = FrameHeader {
                fin: true,
                rsv: 0,
                opcode,
                mask,
                payload_len: data.len() as u64,
            };
            let mut head = [0u8; MAX_HEADER_LEN];
            let n = header.encode(&mut head);
            out.reserve(n + data.len());
            out.extend_from_slice(&head[..n]);
            match mask {
                Some(key) => mask_into(out, data, key),
                None => out.extend_from_slice(data),
            }
        }
        let len = out.len() - start;
        self.stats.frames_out += 1;
        self.stats.bytes_out += len as u64;
        Ok(len)
    }

    /// No output is due: nothing queued or waiting to be sent, no message
    /// split off and not yet handed out.
    fn nothing_due(&self) -> bool {
        self.queue.is_empty()
            && !self.keepalive_pending
            && self.rx_ready.is_empty()
            && self
                .ext
                .as_ref()
                .is_none_or(|e| e.small.frames == 0 && e.pending_pong.is_none())
    }

    #[inline]
    fn send_body(&mut self, opcode: OpCode, body: Body<'_>) -> Result<(), SendError> {
        self.check_can_send()?;
        if self.tx_fragment.is_some() {
            return Err(SendError::FragmentInProgress);
        }
        self.check_room(body.len())?;
        #[cfg(feature = "deflate")]
        if let Some(deflate) = self.ext.as_mut().and_then(|e| e.deflate.as_mut())
            && deflate.should_compress(body.len())
        {
            // RFC 7692 §6.1: RSV1 on the (first) frame of a compressed message.
            let compressed = Bytes::from(deflate.compress(body.as_slice()));
            self.queue_rsv(opcode, true, RSV1, Body::Shared(compressed));
            return Ok(());
        }
        self.queue_rsv(opcode, true, 0, body);
        Ok(())
    }

    /// Queues one fragment of a message (RFC 6455 §5.4).
    ///
    /// The first call opens a message of `kind`; later calls with the same
    /// `kind` continue it; `fin = true` ends it. Text fragments may split UTF-8
    /// sequences, but together they must be valid UTF-8: this is checked as
    /// they come, and a fragment that breaks it is refused.
    pub fn send_fragment(
        &mut self,
        kind: DataKind,
        data: impl Into<Bytes>,
        fin: bool,
    ) -> Result<(), SendError> {
        self.check_can_send()?;
        let payload = data.into();
        let (opcode, mut utf8) = match self.tx_fragment {
            None => (
                if kind == DataKind::Text {
                    OpCode::Text
                } else {
                    OpCode::Binary
                },
                Default::default(),
            ),
            Some((open, utf8)) if open == kind => (OpCode::Continuation, utf8),
            Some(_) => return Err(SendError::FragmentKindMismatch),
        };
        if kind == DataKind::Text && (utf8.feed(&payload).is_err() || (fin && !utf8.is_complete()))
        {
            return Err(SendError::InvalidUtf8);
        }
        self.check_room(payload.len())?;
        self.queue(opcode, fin, payload);
        self.tx_fragment = if fin { None } else { Some((kind, utf8)) };
        Ok(())
    }

    /// Queues a ping with `payload` (at most 125 bytes).
    pub fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload.into())?;
        self.stats.pings_sent += 1;
        Ok(())
    }

    /// Queues an unsolicited pong with `payload` (at most 125 bytes): a
    /// one-way heartbeat the peer does not answer (RFC 6455 §5.5.3).
    ///
    /// Pings are answered without this (see
    /// [`Config::auto_pong`](crate::Config::auto_pong)); with `auto_pong`
    /// off, this is also how a test answers them by hand.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, Instant, Output};
    ///
    /// let mut conn = Connection::server(Config::default(), Instant::ZERO);
    /// conn.pong(&b"hb"[..]).unwrap();
    /// let Output::Transmit(t) = conn.poll_output() else { panic!() };
    /// assert_eq!((t.header(), t.payload()), (&[0x8A, 2][..], &b"hb"[..]));
    /// ```
    pub fn pong(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload.into())
    }

    /// Queues a ping or a pong (RFC 6455 §5.5: at most 125 bytes).
    fn send_control(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), SendError> {
        self.check_can_send()?;
        if payload.len() > 125 {
            return Err(SendError::ControlTooLong(payload.len()));
        }
        self.check_room(payload.len())?;
        self.queue(opcode, true, payload);
        Ok(())
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes).
    ///
    /// The close frame goes out after the data already queued. The connection
    /// then waits up to `close_timeout` for the peer's close frame; see
    /// [`Event::Closed`] for the outcome.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.advance_clock(now);
        self.settle_ready();
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if !code.is_sendable() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        if reason.len() > CloseFrame::MAX_REASON {
            return Err(SendError::ReasonTooLong(reason.len()));
        }
        self.queue_close(Initiator::Local, Some(code), reason);
        self.state = State::CloseSent;
        // The close timer now covers liveness: no keepalive after our close.
        self.keepalive_pending = false;
        self.timers.stop_all();
        self.timers
            .set_close(self.now + super::from_millis(self.limits.close_timeout));
        Ok(())
    }

    fn check_can_send(&self) -> Result<(), SendError> {
        // RFC 6455 §5.5.1: no data frames after a Close frame.
        if self.state == State::Open {
            Ok(())
        } else {
            Err(SendError::Closed)
        }
    }

    fn check_room(&self, payload_len: usize) -> Result<(), SendError> {
        let needed = payload_len.saturating_add(MAX_HEADER_LEN);
        let limit = self.limits.max_buffered;
        if self.tx_bytes.saturating_add(needed) > limit {
            return Err(SendError::Backpressure {
                buffered: self.tx_bytes,
                needed,
                limit,
            });
        }
        Ok(())
    }

    /// Queues a close frame (no limit check: a close always goes out) and
    /// records it as the one we sent, creating the close bookkeeping with
    /// `initiator` if this is the first step of the end. `None` sends an empty
    /// close payload.
    pub(super) fn queue_close(
        &mut self,
        initiator: Initiator,
        code: Option<CloseCode>,
        reason: &str,
    ) {
        let payload = match code {
            None => Bytes::new(),
            Some(code) => {
                let mut p = BytesMut::with_capacity(2 + reason.len());
                p.extend_from_slice(&code.0.to_be_bytes());
                p.extend_from_slice(reason.as_bytes());
                p.freeze()
            }
        };
        self.queue(OpCode::Close, true, payload);
        let sent = CloseFrame {
            code: code.unwrap_or(CloseCode::NO_STATUS),
            reason: Utf8Bytes::from(reason),
        };
        self.closing_mut(initiator).sent = Some(sent);
    }

    fn queue(&mut self, opcode: OpCode, fin: bool, payload: Bytes) {
        self.queue_rsv(opcode, fin, 0, Body::Shared(payload));
    }

    #[inline(always)]
    fn queue_rsv(&mut self, opcode: OpCode, fin: bool, rsv: u8, body: Body<'_>) {
        // A short frame a client masks, or whose payload is copied anyway.
        if body.len() <= SHORT_PAYLOAD
            && (self.role == super::Role::Client || matches!(body, Body::Borrowed(_)))
        {
            self.queue_small(opcode, fin, rsv, body.as_slice());
            return;
        }
        self.queue_frame(opcode, fin, rsv, body);
    }

    /// Encodes and queues a frame that is not short.
    #[inline(never)]
    fn queue_frame(&mut self, opcode: OpCode, fin: bool, rsv: u8, body: Body<'_>) {
        let frame = self.encode_rsv(opcode, fin, rsv, body);
        self.tx_bytes += frame.len();
        self.enqueue(Queued::Frame(frame));
    }

    /// Appends to the queue (behind any short frames waiting).
    pub(super) fn enqueue(&mut self, item: Queued) {
        if self.has_small_frames() {
            self.small_frames_to_queue();
        }
        self.queue.push_back(item);
    }

    /// Short frames are waiting after the queue.
    #[inline]
    pub(super) fn has_small_frames(&self) -> bool {
        self.ext.as_ref().is_some_and(|e| e.small.frames > 0)
    }

    /// Encodes a short frame after everything queued.
    #[inline(always)]
    fn queue_small(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) {
        let mask = self.next_mask();
        let first = (u8::from(fin) << 7) | ((rsv & 0x07) << 4) | opcode.as_u8();
        let small = &mut self.ext_mut().small;
        let start = small.bytes.len();
        encode_short(&mut small.bytes, first, mask, payload);
        let len = small.bytes.len() - start;
        small.frames += 1;
        self.tx_bytes += len;
    }

    /// Moves the waiting short frames into the queue, in order, as
    /// something else is queued behind them.
    #[cold]
    fn small_frames_to_queue(&mut self) {
        while let Some(frame) = self
            .ext
            .as_mut()
            .and_then(|e| (e.small.frames > 0).then(|| e.small.take()))
        {
            self.queue.push_back(Queued::Frame(frame));
        }
        self.release_small();
    }

    /// Takes the short frame at the front (there is one).
    fn take_small(&mut self) -> OutFrame {
        let frame = match self.ext.as_mut() {
            Some(ext) => ext.small.take(),
            None => OutFrame::EMPTY,
        };
        self.tx_bytes -= frame.len();
        self.release_small();
        frame
    }

    /// Once no short frame waits, the buffer follows the queue's rule.
    #[inline]
    fn release_small(&mut self) {
        let keeps_state = self.keeps_state();
        if let Some(ext) = self.ext.as_mut()
            && ext.small.frames == 0
            && ext.small.bytes.capacity() > if keeps_state { SPARE_SMALL_MAX } else { 0 }
        {
            ext.small = SmallFrames::default();
            self.trim_ext();
        }
    }

    /// The queue is empty: give its storage back, so an idle connection holds
    /// no heap. A connection that already keeps state out of line (a client's
    /// mask generator, a deflate context) keeps small storage instead, so a
    /// send-then-poll loop does not allocate per message.
    fn release_queue(&mut self) {
        if !self.keeps_state() || self.queue.capacity() > SPARE_QUEUE_MAX {
            self.queue = VecDeque::new();
        }
    }

    /// The connection keeps state out of line anyway (a client's mask
    /// generator, a deflate context).
    fn keeps_state(&self) -> bool {
        self.ext.as_ref().is_some_and(|e| {
            #[cfg(feature = "deflate")]
            let deflate = e.deflate.is_some();
            #[cfg(not(feature = "deflate"))]
            let deflate = false;
            e.mask.is_some() || deflate
        })
    }

    /// Encodes a frame; a client masks the payload (in place when it owns it).
    pub(super) fn encode(&mut self, opcode: OpCode, fin: bool, payload: Bytes) -> OutFrame {
        self.encode_rsv(opcode, fin, 0, Body::Shared(payload))
    }

    /// The masking key for the next frame: a client's, or none.
    #[inline]
    fn next_mask(&mut self) -> Option<[u8; 4]> {
        self.ext
            .as_mut()
            .and_then(|e| e.mask.as_mut())
            .map(|keys| keys.next_key())
    }

    fn encode_rsv(&mut self, opcode: OpCode, fin: bool, rsv: u8, body: Body<'_>) -> OutFrame {
        let mask = self.next_mask();
        let len = body.len();
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: len as u64,
        };
        let mut head = [0u8; INLINE];
        let n = match <&mut [u8; MAX_HEADER_LEN]>::try_from(&mut head[..MAX_HEADER_LEN]) {
            Ok(at) => header.encode(at),
            Err(_) => 0, // INLINE >= MAX_HEADER_LEN
        };
        let head_len = u8::try_from(n).unwrap_or(0);
        let mut inline_len = 0;
        let payload = match (mask, body) {
            (None, Body::Shared(bytes)) => bytes,
            (None, Body::Borrowed(slice)) => Bytes::copy_from_slice(slice),
            // A short payload a client must mask anyway: copy it next to the
            // header (no allocation, one chunk to write).
            (Some(key), body) if n + len <= INLINE => {
                let inline = &mut head[n..n + len];
                inline.copy_from_slice(body.as_slice());
                apply_mask(inline, key, 0);
                inline_len = u8::try_from(len).unwrap_or(0);
                Bytes::new()
            }
            (Some(key), Body::Shared(bytes)) => match bytes.try_into_mut() {
                Ok(mut owned) => {
                    apply_mask(&mut owned, key, 0);
                    owned.freeze()
                }
                Err(shared) => masked_copy(&shared, key),
            },
            (Some(key), Body::Borrowed(slice)) => masked_copy(slice, key),
        };
        OutFrame {
            head,
            head_len,
            inline_len,
            payload,
        }
    }
}

/// `payload` masked with `key`, in a new buffer written once.
fn masked_copy(payload: &[u8], key: [u8; 4]) -> Bytes {
    let mut out = alloc::vec::Vec::with_capacity(payload.len());
    mask_into(&mut out, payload, key);
    Bytes::from(out)
}

/// Largest control frame on the wire: a 2-byte header, a masking key and
/// 125 bytes of payload (RFC 6455 §5.5).
const MAX_CONTROL_FRAME: usize = 2 + 4 + 125;

/// Largest queue storage (in entries) a connection with out-of-line state
/// keeps while its queue is empty.
const SPARE_QUEUE_MAX: usize = 8;

/// Outputs.
impl Connection {
    /// The next thing to do. Call it after every input or command until it
    /// returns [`Output::Wait`].
    ///
    /// Order: a due keepalive ping, then queued frames (pongs included) and
    /// events in the order they arose, then the answer to the latest ping of a
    /// flood, then (once the end is decided)
    /// [`Output::Shutdown`] and finally [`Event::Closed`], exactly once.
    #[inline]
    pub fn poll_output(&mut self) -> Output {
        // The usual cases, small enough to inline into the driver's loop:
        // with nothing queued, no message split off, no ping due and no end
        // to report, the next output is a short frame, or `Wait` unless a
        // pong is owed. Everything else takes the full order below.
        if !self.keepalive_pending
            && self.rx_ready.is_empty()
            && self.queue.is_empty()
            && self.state != State::Finishing
        {
            if self.has_small_frames() {
                return self.small_transmit();
            }
            if self.ext.as_ref().is_none_or(|e| e.pending_pong.is_none()) {
                return Output::Wait {
                    until: self.next_deadline(),
                };
            }
        }
        self.poll_output_in_order()
    }

    /// [`poll_output`](Self::poll_output) in full.
    #[inline(never)]
    fn poll_output_in_order(&mut self) -> Output {
        if self.keepalive_pending {
            let frame = self.keepalive_ping();
            return self.transmit(frame);
        }
        // Messages split off by `handle_read` came before anything queued.
        if let Some(next) = self.next_ready() {
            return match next {
                Ok(message) => Output::Event(Event::Message(message)),
                Err(e) => {
                    self.reading = false;
                    self.apply_fail(e);
                    self.poll_output()
                }
            };
        }
        if let Some(next) = self.queue.pop_front() {
            if self.queue.is_empty() {
                self.release_queue();
            }
            let event = match next {
                Queued::Frame(frame) => {
                    self.tx_bytes -= frame.len();
                    return self.transmit(frame);
                }
                Queued::PongFrame(frame) => {
                    self.pongs_queued -= 1;
                    self.tx_bytes -= frame.len();
                    return self.transmit(frame);
                }
                Queued::PeerClose(frame) => {
                    self.on_close_frame(frame);
                    return self.poll_output();
                }
                Queued::Fail(error) => {
                    self.apply_fail(error);
                    return self.poll_output();
                }
                Queued::Eof => {
                    self.apply_eof();
                    return self.poll_output();
                }
                Queued::Message(message) => Event::Message(message),
                Queued::Chunk { kind, data, fin } => Event::Chunk { kind, data, fin },
                Queued::Ping(payload) => Event::Ping(payload),
                Queued::Pong { payload, rtt } => Event::Pong { payload, rtt },
            };
            return Output::Event(event);
        }
        if self.has_small_frames() {
            return self.small_transmit();
        }
        if let Some(frame) = self.owed_pong() {
            return self.transmit(frame);
        }
        if self.state == State::Finishing {
            if let Some(closing) = self.ext.as_mut().and_then(|e| e.closing.as_mut())
                && closing.shutdown_pending
            {
                closing.shutdown_pending = false;
                return Output::Shutdown;
            }
            self.state = State::Closed;
            let info = self.close_info();
            if let Some(ext) = self.ext.as_mut() {
                ext.closing = None;
            }
            self.trim_ext();
            return Output::Event(Event::Closed(Box::new(info)));
        }
        Output::Wait {
            until: self.next_deadline(),
        }
    }

    /// Appends the frames that `poll_output` would hand out next as
    /// [`Output::Transmit`], back to back, to `out`, as long as they fit in
    /// `max` bytes; returns how many bytes it added. It stops at the first
    /// output that is not a frame (an event, [`Output::Shutdown`], or
    /// [`Output::Wait`]) or at a frame that does not fit, so the order of
    /// everything is the same as with `poll_output` alone; call
    /// `poll_output` next (it hands out a frame that did not fit as a
    /// `Transmit`).
    ///
    /// For drivers that keep a write buffer: many small frames become one
    /// write, with no [`Output`] per frame. Payloads are copied, so with
    /// `max` at the buffer's room a large payload is not copied but comes
    /// from `poll_output` as a zero-copy `Transmit` instead.
    pub fn poll_transmits_into(&mut self, out: &mut alloc::vec::Vec<u8>, max: usize) -> usize {
        let start = out.len();
        loop {
            let room = max.saturating_sub(out.len() - start);
            // Nothing goes before the queue: no keepalive ping is due and
            // no split-off message waits.
            let queue_next = !self.keepalive_pending && self.rx_ready.is_empty();
            // The common case, written straight from the queue's slot.
            if queue_next && let Some(Queued::Frame(frame)) = self.queue.front() {
                let len = frame.len();
                if len > room {
                    break;
                }
                frame.write_to(out);
                self.stats.frames_out += 1;
                self.stats.bytes_out += len as u64;
                self.tx_bytes -= len;
                self.queue.pop_front();
                if self.queue.is_empty() {
                    self.release_queue();
                }
                continue;
            }
            // The short frames after the queue: all of them when they fit.
            if queue_next
                && self.queue.is_empty()
                && let Some(ext) = self.ext.as_mut()
                && ext.small.frames > 0
            {
                let small = &mut ext.small;
                let len = small.bytes.len() - small.read;
                if len <= room {
                    out.extend_from_slice(&small.bytes[small.read..]);
                    self.stats.frames_out += small.frames as u64;
                    self.stats.bytes_out += len as u64;
                    small.consume(small.frames, len);
                    self.tx_bytes -= len;
                    self.release_small();
                    // Only an owed pong can be the next frame now.
                    if self.ext.as_ref().is_some_and(|e| e.pending_pong.is_some()) {
                        continue;
                    }
                    break;
                }
            }
            // One frame: a ping, a pong (queued or owed), or a short frame.
            let fits = match self.queue.front() {
                Some(Queued::PongFrame(frame)) if queue_next => frame.len() <= room,
                None if queue_next && self.has_small_frames() => self
                    .ext
                    .as_ref()
                    .is_some_and(|e| e.small.front_len() <= room),
                _ => room >= MAX_CONTROL_FRAME,
            };
            if !fits {
                break;
            }
            let Some(frame) = self.next_frame() else {
                break;
            };
            self.stats.frames_out += 1;
            self.stats.bytes_out += frame.len() as u64;
            frame.write_to(out);
        }
        out.len() - start
    }

    /// Hands the messages that `poll_output` would return next as
    /// [`Event::Message`] to `f`, borrowed, in order, at most `max` of them;
    /// returns how many. It stops at the first output that is not a whole
    /// message (a frame to send, another event, [`Output::Wait`]), so the
    /// order of everything is the same as with `poll_output` alone; call
    /// `poll_output` next.
    ///
    /// For consumers that read each message where it lies: a message split
    /// off by [`handle_read`](Connection::handle_read) is unmasked in place
    /// and validated, with no [`Message`] built, no allocation and no shared
    /// count per message (a queued `Message` is lent and then dropped). A
    /// text that is not UTF-8 is left for `poll_output`, which fails the
    /// connection with 1007 as usual.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use wsmachine::{Config, Connection, Instant, MessageRef, Output};
    ///
    /// let mut conn = Connection::server(Config::default(), Instant::ZERO);
    /// // Two masked text frames ("hi", "yo") with an all-zero key.
    /// let mut buf = BytesMut::from(&b"\x81\x82\0\0\0\0hi\x81\x82\0\0\0\0yo"[..]);
    /// conn.handle_read(Instant::ZERO, &mut buf);
    /// let mut got = Vec::new();
    /// let n = conn.poll_messages(usize::MAX, |m| {
    ///     if let MessageRef::Text(t) = m {
    ///         got.push(t.to_owned());
    ///     }
    /// });
    /// assert_eq!((n, got), (2, vec!["hi".to_owned(), "yo".to_owned()]));
    /// assert!(matches!(conn.poll_output(), Output::Wait { .. }));
    /// ```
    pub fn poll_messages(&mut self, max: usize, mut f: impl FnMut(MessageRef<'_>)) -> usize {
        let mut count = 0;
        // A due keepalive ping comes first.
        while count < max && !self.keepalive_pending {
            if !self.rx_ready.is_empty() {
                count += self.ready_messages(max - count, &mut f);
                if !self.rx_ready.is_empty() {
                    // `max` reached, or a text that is not UTF-8 is next.
                    break;
                }
                continue;
            }
            if !matches!(self.queue.front(), Some(Queued::Message(_))) {
                break;
            }
            let Some(Queued::Message(message)) = self.queue.pop_front() else {
                break; // the front was checked above
            };
            if self.queue.is_empty() {
                self.release_queue();
            }
            f(MessageRef::from(&message));
            count += 1;
        }
        count
    }

    /// Takes the frame to send next, if the next output is a frame: a
    /// keepalive ping, a queued frame with no event ahead of it, or an owed
    /// pong once the queue is empty.
    #[inline(always)]
    fn next_frame(&mut self) -> Option<OutFrame> {
        if self.keepalive_pending {
            return Some(self.keepalive_ping());
        }
        // Messages split off by `handle_read` come before anything queued.
        if !self.rx_ready.is_empty() {
            return None;
        }
        let frame = match self.queue.front() {
            Some(Queued::Frame(_) | Queued::PongFrame(_)) => match self.queue.pop_front() {
                Some(Queued::Frame(frame)) => frame,
                Some(Queued::PongFrame(frame)) => {
                    self.pongs_queued -= 1;
                    frame
                }
                _ => return None, // the front was checked above
            },
            Some(_) => return None,
            None if self.has_small_frames() => return Some(self.take_small()),
            None => return self.owed_pong(),
        };
        if self.queue.is_empty() {
            self.release_queue();
        }
        self.tx_bytes -= frame.len();
        Some(frame)
    }

    /// The keepalive ping that is due.
    #[cold]
    #[inline(never)]
    fn keepalive_ping(&mut self) -> OutFrame {
        self.keepalive_pending = false;
        self.ping_sent_at = self.now;
        self.stats.pings_sent += 1;
        // RFC 6455 §5.5.2: a ping may carry application data; ours is a
        // sequence number, so the matching pong gives the round-trip time.
        self.timers
            .set_pong(self.now + super::from_millis(self.limits.pong_timeout));
        let payload = Bytes::copy_from_slice(&self.keepalive_payload());
        self.encode(OpCode::Ping, true, payload)
    }

    /// The pong owed to the most recent ping of a flood, if any.
    #[inline(always)]
    fn owed_pong(&mut self) -> Option<OutFrame> {
        let payload = self.ext.as_mut().and_then(|e| e.pending_pong.take())?;
        Some(self.owed_pong_frame(*payload))
    }

    /// Encodes the owed pong (the rare path, kept out of `poll_output`).
    #[cold]
    #[inline(never)]
    fn owed_pong_frame(&mut self, payload: Bytes) -> OutFrame {
        self.trim_ext();
        self.encode(OpCode::Pong, true, payload)
    }

    /// `self.transmit(self.take_small())`, with the frame built where the
    /// output is returned (no moves of the frame in between).
    #[inline(always)]
    fn small_transmit(&mut self) -> Output {
        let mut head = [0u8; INLINE];
        let (head_len, inline_len) = match self.ext.as_mut() {
            Some(ext) => ext.small.take_into(&mut head),
            None => (0, 0),
        };
        let len = usize::from(head_len) + usize::from(inline_len);
        self.tx_bytes -= len;
        self.release_small();
        self.stats.frames_out += 1;
        self.stats.bytes_out += len as u64;
        Output::Transmit(Transmit {
            frame: OutFrame {
                head,
                head_len,
                inline_len,
                payload: Bytes::new(),
            },
            pos: 0,
        })
    }

    fn transmit(&mut self, frame: OutFrame) -> Output {
        self.stats.frames_out += 1;
        self.stats.bytes_out += frame.len() as u64;
        Output::Transmit(Transmit { frame, pos: 0 })
    }

    /// The keepalive ping payload: a tag and the sequence number.
    pub(super) fn keepalive_payload(&self) -> [u8; 8] {
        let mut p = *b"wsm\0\0\0\0\0";
        p[4..].copy_from_slice(&u32::from(self.ping_seq).to_be_bytes());
        p
    }

    fn close_info(&self) -> CloseInfo {
        let (sent, received, initiator, (cause, clean)) =
            match self.ext.as_ref().and_then(|e| e.closing.as_deref()) {
                Some(c) => (
                    c.sent.clone(),
                    c.received.clone(),
                    c.initiator,
                    c.outcome.clone().unwrap_or((super::CloseCause::Eof, false)),
                ),
                None => (
                    None,
                    None,
                    Initiator::Library,
                    (super::CloseCause::Eof, false),
                ),
            };
        CloseInfo {
            sent,
            received,
            initiator,
            clean,
            cause,
            since_last_received: self.now - self.last_received,
            last_rtt: self.last_rtt(),
        }
    }
}
