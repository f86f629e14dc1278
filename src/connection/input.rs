//! Inputs: bytes, end of stream and timer ticks, and every state transition
//! they cause (frame rules, message assembly, the close handshake, timers).

use alloc::boxed::Box;
use alloc::string::ToString;

use bytes::{Buf, Bytes, BytesMut};

use super::output::Queued;
use super::timers::Timer;
use super::{
    Assembly, CloseCause, Closing, Connection, Delivery, Initiator, Role, RxFrame, RxMessage, State,
};
use crate::frame::{FrameHeader, OpCode, apply_mask, key_word, load_short};
use crate::message::{DataKind, Message, MessageRef, Utf8Bytes};
use crate::{CloseCode, CloseFrame, Instant, ProtocolError};

/// What one decoding step achieved.
enum Step {
    /// A frame (or part of one) was processed; try the next.
    Continue,
    /// The buffer holds no more complete input.
    NeedMore,
    /// Input is no longer read (close received or connection failed).
    Stop,
}

/// Inputs.
impl Connection {
    /// Bytes read from the transport, appended to `buf` by the caller.
    ///
    /// Whole frames are split off the front of `buf` (payloads are unmasked in
    /// place and handed out as `Bytes` without copying); an incomplete frame
    /// stays in `buf` for the next call, so append to the same buffer and do
    /// not remove what the connection leaves there. After the peer's close
    /// frame, or once the connection has failed, input is discarded.
    pub fn handle_read(&mut self, now: Instant, buf: &mut BytesMut) {
        let now = self.advance_clock(now);
        self.settle_ready();
        if !self.reading || !matches!(self.state, State::Open | State::CloseSent) {
            // RFC 6455 §5.5.1: after the peer's Close the peer sends no more
            // data; anything that still arrives is discarded.
            buf.clear();
            return;
        }
        if buf.len() > self.rx_seen as usize {
            self.on_receive(now);
        }
        let start = buf.len();
        if self.defer_whole_messages(buf) {
            self.stats.bytes_in += (start - buf.len()) as u64;
            self.rx_seen = u32::try_from(buf.len()).unwrap_or(u32::MAX);
            return;
        }
        if self.queue.is_empty() && self.rx.is_none() && buf.len() >= 256 {
            // Many small frames in one read: size the queue once instead of
            // growing it by doubling (a cheap walk over the headers).
            let frames = count_whole_frames(buf, 4096);
            if frames > 4 {
                self.queue.reserve_exact(frames);
            }
        }
        loop {
            match self.step(buf) {
                Step::Continue => {}
                Step::NeedMore => break,
                Step::Stop => {
                    self.stats.bytes_in += (start - buf.len()) as u64;
                    buf.clear();
                    self.rx_seen = 0;
                    return;
                }
            }
        }
        self.stats.bytes_in += (start - buf.len()) as u64;
        self.rx_seen = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    }

    /// The transport's read side ended (the peer closed TCP or half-closed).
    ///
    /// Without a prior close frame this ends the connection with 1006 and
    /// cause [`CloseCause::Eof`]; a client that already exchanged close frames
    /// ends cleanly here (RFC 6455 §7.1.1: the server closes TCP first).
    pub fn handle_eof(&mut self, now: Instant) {
        self.advance_clock(now);
        self.settle_ready();
        if !self.reading && matches!(self.state, State::Open | State::CloseSent) {
            // A close frame or an error read before the FIN is still waiting
            // behind earlier events: the FIN takes effect after it.
            self.enqueue(Queued::Eof);
            return;
        }
        self.apply_eof();
    }

    /// The transport ended (in order with what was read before it).
    pub(super) fn apply_eof(&mut self) {
        match self.state {
            State::Open => {
                self.closing_mut(Initiator::Remote);
                self.finish(CloseCause::Eof, false);
            }
            State::CloseSent => self.finish(CloseCause::Eof, false),
            State::AwaitingEof => self.finish(CloseCause::Handshake, true),
            State::Finishing | State::Closed => {}
        }
    }

    /// A deadline from [`poll_timeout`](Connection::poll_timeout) may have
    /// passed. Handles every timer due at `now`, in a fixed order; calls with
    /// nothing due change nothing. A `now` earlier than one seen before is
    /// clamped to it.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance_clock(now);
        self.settle_ready();
        for timer in Timer::ALL {
            if self.deadline(timer).is_none_or(|at| at > now) {
                continue;
            }
            self.timers.stop(timer);
            match timer {
                Timer::Close => match self.state {
                    State::CloseSent => self.finish(CloseCause::CloseTimeout, false),
                    State::AwaitingEof => self.finish(CloseCause::CloseTimeout, true),
                    _ => {}
                },
                Timer::Pong => self.fail_local(
                    CloseCode::INTERNAL_ERROR,
                    "keepalive timeout",
                    CloseCause::PingTimeout,
                ),
                Timer::Idle => self.fail_local(
                    CloseCode::GOING_AWAY,
                    "idle timeout",
                    CloseCause::IdleTimeout,
                ),
                Timer::Ping => {
                    if self.state == State::Open {
                        // The pong deadline is armed when the ping leaves
                        // (poll_output), not here.
                        self.ping_seq = self.ping_seq.wrapping_add(1);
                        self.keepalive_pending = true;
                    }
                }
            }
        }
    }
}

/// Transitions.
impl Connection {
    /// Keeps `now` monotonic: an earlier value is clamped to the latest seen.
    pub(super) fn advance_clock(&mut self, now: Instant) -> Instant {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    /// New bytes arrived: the peer is alive.
    fn on_receive(&mut self, now: Instant) {
        // Any byte proves the peer alive: the keepalive and idle deadlines
        // move (they derive from `last_received`) and a pong is no longer awaited.
        self.last_received = now;
        self.timers.stop(Timer::Pong);
    }

    /// Decodes one header or processes the available payload of one frame.
    fn step(&mut self, buf: &mut BytesMut) -> Step {
        let frame = match self.rx {
            Some(frame) => frame,
            None if self.small_message_ahead(buf) => {
                // The 2-byte-header form of the fast path below: one look at
                // the first two bytes replaces the general header decoding.
                let masked = buf[1] & 0x80 != 0;
                let (kind, key, head_len) = match (buf[0] & 0x0F, masked) {
                    (0x1, false) => (DataKind::Text, None, 2),
                    (_, false) => (DataKind::Binary, None, 2),
                    (0x1, true) => (DataKind::Text, Some([buf[2], buf[3], buf[4], buf[5]]), 6),
                    (_, true) => (DataKind::Binary, Some([buf[2], buf[3], buf[4], buf[5]]), 6),
                };
                let len = usize::from(buf[1] & 0x7F);
                return self.take_whole_message(kind, key, head_len, len, buf);
            }
            None => match FrameHeader::decode(buf) {
                Ok(None) => return Step::NeedMore,
                Err(e) => return self.fail(e),
                Ok(Some((header, len))) => {
                    if let Err(e) = self.check_frame(&header) {
                        return self.fail(e);
                    }
                    if let Some(step) = self.whole_message_fast_path(&header, len, buf) {
                        return step;
                    }
                    if let Err(e) = self.open_message(&header) {
                        return self.fail(e);
                    }
                    buf.advance(len);
                    self.stats.frames_in += 1;
                    let frame = RxFrame {
                        opcode: header.opcode,
                        fin: header.fin,
                        mask: header.mask,
                        remaining: header.payload_len,
                        taken: 0,
                    };
                    self.rx = Some(frame);
                    frame
                }
            },
        };
        if frame.opcode.is_control() {
            // At most 125 bytes (checked with the header): wait for all of it.
            let len = small(frame.remaining);
            if buf.len() < len {
                return Step::NeedMore;
            }
            let mut payload = buf.split_to(len);
            if let Some(key) = frame.mask {
                apply_mask(&mut payload, key, 0);
            }
            self.rx = None;
            return self.on_control(frame.opcode, payload.freeze());
        }
        self.on_data(frame, buf)
    }

    /// Whether `buf` starts with a whole short data message that needs no
    /// header rule beyond this check: FIN, no RSV bit, Text or Binary, a 7-bit
    /// length within the limits, masked exactly when the peer is a client,
    /// delivered whole, with no message open.
    #[inline]
    fn small_message_ahead(&self, buf: &[u8]) -> bool {
        let [b0, b1, ..] = *buf else { return false };
        let masked = b1 & 0x80 != 0;
        let len = u64::from(b1 & 0x7F);
        let head_len = if masked { 6 } else { 2 };
        matches!(b0, 0x81 | 0x82)
            && masked == (self.role == Role::Server)
            && len <= 125
            && len <= self.limits.max_frame
            && len <= self.limits.max_message
            && buf.len() >= head_len + usize::from(b1 & 0x7F)
            && self.delivery == Delivery::Messages
            && self.rx_msg.is_none()
    }

    /// The common case, taken without touching the reassembly state: a whole
    /// single-frame message is in the buffer. `None` when it does not apply.
    fn whole_message_fast_path(
        &mut self,
        h: &FrameHeader,
        head_len: usize,
        buf: &mut BytesMut,
    ) -> Option<Step> {
        let kind = match h.opcode {
            OpCode::Text => DataKind::Text,
            OpCode::Binary => DataKind::Binary,
            _ => return None,
        };
        let len = usize::try_from(h.payload_len).ok()?;
        if !h.fin
            || h.rsv != 0
            || self.delivery != Delivery::Messages
            || self.rx_msg.is_some()
            || h.payload_len > self.limits.max_message
            || buf.len() - head_len < len
        {
            return None;
        }
        Some(self.take_whole_message(kind, h.mask, head_len, len, buf))
    }

    /// Takes a whole single-frame message (header already checked) off the
    /// front of `buf` and queues it.
    fn take_whole_message(
        &mut self,
        kind: DataKind,
        mask: Option<[u8; 4]>,
        head_len: usize,
        len: usize,
        buf: &mut BytesMut,
    ) -> Step {
        self.stats.frames_in += 1;
        match whole_message(kind, mask, head_len, len, buf) {
            Ok(message) => {
                self.enqueue(Queued::Message(message));
                Step::Continue
            }
            Err(e) => self.fail(e),
        }
    }

    /// Splits the whole messages at the front of `buf` off into `rx_ready`,
    /// to be decoded one per `poll_output` instead of queued here, when that
    /// changes nothing an observer can see. It applies when:
    /// - nothing is queued (short frames waiting included) or in progress
    ///   (they would come before);
    /// - the frames are whole single-frame data messages that pass every
    ///   header rule, so all that is left is unmasking and, for text,
    ///   validation: a failure there is reported in order either way;
    /// - what follows them has no effect yet: nothing, a header still
    ///   incomplete and not yet invalid, or the start of another such
    ///   message: binary, or text whose first bytes (at most
    ///   `MAX_PARTIAL_CHECK` of them) are valid so far. It
    ///   stays in `buf` for the next read, which handles it as usual (at
    ///   end of stream it is an unfinished frame: 1006 either way).
    ///
    /// Any other input (`handle_read`, `handle_eof`, `handle_timeout`,
    /// `close`) first moves what is left of `rx_ready` to the queue.
    fn defer_whole_messages(&mut self, buf: &mut BytesMut) -> bool {
        if !self.queue.is_empty()
            || self.has_small_frames()
            || self.rx.is_some()
            || self.rx_msg.is_some()
            || self.delivery != Delivery::Messages
            || !self.rx_ready.is_empty()
        {
            return false;
        }
        let mut at = 0;
        let mut frames = 0;
        let mut rest_ok = false;
        let masked = self.role == Role::Server;
        let limit = self.limits.max_frame.min(self.limits.max_message);
        let small_limit = limit.min(125);
        let key_len = if masked { 4 } else { 0 };
        while at < buf.len() {
            let rest = &buf[at..];
            // The common forms, checked from their first bytes: a final
            // text or binary frame, no RSV bit, masked as the role requires,
            // within both limits, with a 7-bit or a 16-bit length.
            if let [0x81 | 0x82, b1, ..] = *rest
                && (b1 & 0x80 != 0) == masked
            {
                let len7 = b1 & 0x7F;
                let form = if u64::from(len7) <= small_limit {
                    Some((2, usize::from(len7)))
                } else if let [_, _, hi, lo, ..] = *rest
                    && len7 == 126
                    && (126..=limit).contains(&u64::from(u16::from_be_bytes([hi, lo])))
                {
                    Some((4, usize::from(u16::from_be_bytes([hi, lo]))))
                } else {
                    None
                };
                if let Some((head_len, len)) = form {
                    let whole = head_len + key_len + len;
                    if rest.len() >= whole {
                        at += whole;
                        frames += 1;
                        continue;
                    }
                }
            }
            let (header, head_len) = match FrameHeader::decode(rest) {
                Ok(Some(decoded)) => decoded,
                // An incomplete header with nothing wrong so far.
                Ok(None) => {
                    rest_ok = true;
                    break;
                }
                Err(_) => break,
            };
            if !self.is_plain_message(&header) {
                break;
            }
            let len = small(header.payload_len);
            if rest.len() - head_len >= len {
                at += head_len + len;
                frames += 1;
                continue;
            }
            // A message still arriving: fine if nothing in it fails yet
            // (its text so far is valid). The next read handles it from
            // its start, so only a modest part of a text is checked here.
            // (Not checked when no whole message comes before it: nothing
            // is deferred then, and the next step checks it as it goes.)
            let part = &rest[head_len..];
            rest_ok = frames > 0
                && (header.opcode != OpCode::Text
                    || (part.len() <= MAX_PARTIAL_CHECK && text_so_far_valid(part, header.mask)));
            break;
        }
        if at == buf.len() {
            rest_ok = true;
        }
        if frames == 0 || !rest_ok {
            return false;
        }
        self.stats.frames_in += frames;
        self.rx_ready = buf.split_to(at);
        true
    }

    /// A whole-message data frame with nothing for the header rules to
    /// refuse: FIN, no RSV bit, Text or Binary, masked as the role requires,
    /// within both limits.
    fn is_plain_message(&self, h: &FrameHeader) -> bool {
        h.fin
            && h.rsv == 0
            && matches!(h.opcode, OpCode::Text | OpCode::Binary)
            && h.payload_len <= self.limits.max_message
            && self.check_frame(h).is_ok()
    }

    /// The next message of `rx_ready`, if any: `Some(Err)` when its text is
    /// not UTF-8 (the messages after it are dropped).
    #[inline(always)]
    pub(super) fn next_ready(&mut self) -> Option<Result<Message, ProtocolError>> {
        if self.rx_ready.is_empty() {
            return None;
        }
        let h = ReadyHeader::parse(&self.rx_ready);
        let result = whole_message(h.kind, h.mask, h.head_len, h.len, &mut self.rx_ready);
        if result.is_err() || self.rx_ready.is_empty() {
            // Give the read buffer's allocation back.
            self.rx_ready = BytesMut::new();
        }
        Some(result)
    }

    /// Hands the messages at the front of `rx_ready` to `f`, borrowed, up
    /// to `max`: unmasked in place (short texts in a padded copy, a run of
    /// them validated together) and validated, with no `Message` built.
    /// Stops before a text that is not UTF-8, leaving it as it was for
    /// `next_ready` to report. Returns how many it handed out.
    pub(super) fn ready_messages(
        &mut self,
        max: usize,
        f: &mut impl FnMut(MessageRef<'_>),
    ) -> usize {
        let buf = &mut self.rx_ready[..];
        let mut at = 0;
        let mut count = 0;
        // Messages to take one at a time before trying a run again.
        let mut singles = 0;
        while count < max && at < buf.len() {
            let h = ReadyHeader::parse(&buf[at..]);
            if singles > 0 {
                singles -= 1;
            } else if h.kind == DataKind::Text && h.len <= Utf8Bytes::INLINE {
                match lend_short_texts(&buf[at..], max - count, f) {
                    Run::Lent { messages, bytes } => {
                        count += messages;
                        at += bytes;
                        continue;
                    }
                    // This one now, the rest of the run after it.
                    Run::NotValid { messages } => singles = messages - 1,
                    Run::TooShort => {}
                }
            }
            let payload = &mut buf[at + h.head_len..at + h.head_len + h.len];
            let ok = match h.kind {
                DataKind::Binary => {
                    if let Some(key) = h.mask {
                        apply_mask(payload, key, 0);
                    }
                    f(MessageRef::Binary(payload));
                    true
                }
                DataKind::Text if h.len <= Utf8Bytes::INLINE => {
                    let mut padded = ShortBuf([0; 32]);
                    let from = &buf[at + h.head_len..];
                    match short_str(&mut padded, from, h.len, h.mask) {
                        Some(text) => {
                            f(MessageRef::Text(text));
                            true
                        }
                        None => false,
                    }
                }
                DataKind::Text => {
                    if let Some(key) = h.mask {
                        apply_mask(payload, key, 0);
                    }
                    match crate::utf8::validate(payload) {
                        Some(text) => {
                            f(MessageRef::Text(text));
                            true
                        }
                        None => {
                            // Masking twice restores the bytes as received.
                            if let Some(key) = h.mask {
                                apply_mask(payload, key, 0);
                            }
                            false
                        }
                    }
                }
            };
            if !ok {
                break;
            }
            at += h.head_len + h.len;
            count += 1;
        }
        self.rx_ready.advance(at);
        if self.rx_ready.is_empty() {
            // Give the read buffer's allocation back.
            self.rx_ready = BytesMut::new();
        }
        count
    }

    /// Moves what is left of `rx_ready` to the queue, in order, before any
    /// other input is handled.
    pub(super) fn settle_ready(&mut self) {
        while let Some(next) = self.next_ready() {
            match next {
                Ok(message) => self.enqueue(Queued::Message(message)),
                Err(e) => {
                    self.fail(e);
                    break;
                }
            }
        }
    }

    /// The header rules that depend on the role and the frame limit.
    fn check_frame(&self, h: &FrameHeader) -> Result<(), ProtocolError> {
        // RFC 6455 §5.2: RSV1-3 MUST be 0 unless an extension defines them.
        // RFC 7692 §6.1: permessage-deflate defines RSV1, on the first frame of
        // a data message only (not on continuations or control frames).
        let rsv1_allowed = self.compression() && matches!(h.opcode, OpCode::Text | OpCode::Binary);
        if h.rsv & 0b011 != 0 || (h.rsv & 0b100 != 0 && !rsv1_allowed) {
            return Err(ProtocolError::ReservedBits);
        }
        // RFC 6455 §5.1: a server MUST close on an unmasked frame; a client
        // MUST close on a masked one.
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        // Limits are checked from the header, before any payload is buffered.
        if h.payload_len > self.limits.max_frame {
            return Err(ProtocolError::FrameTooLarge {
                size: h.payload_len,
                limit: self.limits.max_frame,
            });
        }
        Ok(())
    }

    /// The message rules of a data frame header (fragmentation, message
    /// limit); opens the message for a first frame.
    fn open_message(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
        let kind = match h.opcode {
            OpCode::Continuation => None,
            OpCode::Text => Some(DataKind::Text),
            OpCode::Binary => Some(DataKind::Binary),
            OpCode::Close | OpCode::Ping | OpCode::Pong => return Ok(()),
        };
        let compressed = match (kind, &self.rx_msg) {
            (Some(_), _) => h.rsv & 0b100 != 0,
            (None, Some(msg)) => msg.compressed,
            (None, None) => false,
        };
        // RFC 6455 §5.4: fragments of one message are not interleaved with
        // another data message, and a continuation needs an open message.
        let size = match (kind, &self.rx_msg) {
            (None, None) => return Err(ProtocolError::UnexpectedContinuation),
            (Some(_), Some(_)) => return Err(ProtocolError::MessageInProgress),
            // A compressed message counts inflated bytes, checked as they
            // are inflated; its wire size says nothing about the limit.
            _ if compressed => self.rx_msg.as_ref().map_or(0, |m| m.size),
            (None, Some(msg)) => msg.size.saturating_add(h.payload_len),
            (Some(_), None) => h.payload_len,
        };
        if size > self.limits.max_message {
            return Err(ProtocolError::MessageTooLarge {
                size,
                limit: self.limits.max_message,
            });
        }
        match (kind, &mut self.rx_msg) {
            (Some(kind), _) => {
                self.rx_msg = Some(Box::new(RxMessage {
                    kind,
                    compressed,
                    saw_payload: false,
                    size,
                    utf8: Default::default(),
                    buf: None,
                }));
            }
            (None, Some(msg)) => msg.size = size,
            (None, None) => {}
        }
        Ok(())
    }

    /// Processes whatever payload of a data frame is in `buf`.
    fn on_data(&mut self, mut frame: RxFrame, buf: &mut BytesMut) -> Step {
        let Some(msg) = self.rx_msg.as_mut() else {
            return Step::Stop;
        };
        let text = msg.kind == DataKind::Text;
        let remaining = small(frame.remaining);
        let avail = buf.len().min(remaining);
        // A binary message in one frame is assembled in the caller's buffer;
        // text across reads is validated and copied piece by piece instead
        // (below), so each byte is checked once.
        let single = self.delivery == Delivery::Messages
            && frame.fin
            && frame.opcode != OpCode::Continuation
            && !msg.compressed
            && !text;

        if single {
            // Zero copy: the payload stays in the caller's buffer until whole.
            let done = small(frame.taken);
            if avail > done {
                if let Some(key) = frame.mask {
                    apply_mask(&mut buf[done..avail], key, done);
                }
                frame.taken = avail as u64;
            }
            if avail < remaining {
                // Room for the rest of the frame now (bounded by max_frame_size,
                // already checked): one allocation instead of repeated growth
                // while it arrives. Not while earlier messages (which share
                // the buffer) are queued: the buffer could not be reused then.
                if self.queue.is_empty() {
                    buf.reserve(remaining - avail);
                }
                self.rx = Some(frame);
                return Step::NeedMore;
            }
            let payload = buf.split_to(remaining).freeze();
            self.rx = None;
            self.rx_msg = None;
            return self.deliver(DataKind::Binary, payload);
        }

        if avail == 0 && remaining > 0 {
            return Step::NeedMore;
        }
        let mut part = buf.split_to(avail);
        if let Some(key) = frame.mask {
            apply_mask(&mut part, key, small(frame.taken));
        }
        frame.taken += avail as u64;
        frame.remaining -= avail as u64;
        let frame_done = frame.remaining == 0;
        let last = frame_done && frame.fin;
        #[cfg(feature = "deflate")]
        if msg.compressed {
            // RFC 7692 §7.2.2: inflate as it arrives, bounded by the message
            // limit (a bomb stops one byte past it), the tail added at the end.
            let limit = small(self.limits.max_message.saturating_sub(msg.size));
            let Some(deflate) = self.ext.as_mut().and_then(|e| e.deflate.as_mut()) else {
                return self.fail(ProtocolError::ReservedBits);
            };
            let mut out = alloc::vec::Vec::new();
            msg.saw_payload |= !part.is_empty();
            // A compressed message with no payload at all (RFC 7692 §7.2.1
            // says a sender emits at least an empty block): read it as an
            // empty message rather than inflating the bare tail, which would
            // desynchronise the inflater.
            let empty = last && !msg.saw_payload;
            let result = if empty {
                Ok(())
            } else {
                deflate.decompress(&part, last, &mut out, limit)
            };
            if let Err(error) = result {
                // The outcome must not depend on read boundaries: an invalid
                // UTF-8 byte inflated before the point of failure (within the
                // limit) is the earlier error, as a piecewise read would see.
                let within = out.len().min(limit);
                if text && msg.utf8.feed(&out[..within]).is_err() {
                    return self.fail(ProtocolError::InvalidUtf8);
                }
                // Output past the limit (even before a corruption) is 1009.
                return if out.len() > limit || error == crate::deflate::InflateError::TooLarge {
                    let size = msg.size.saturating_add(out.len() as u64);
                    let limit = self.limits.max_message;
                    self.fail(ProtocolError::MessageTooLarge { size, limit })
                } else {
                    self.fail(ProtocolError::BadCompressedData)
                };
            }
            msg.size += out.len() as u64;
            part = BytesMut::from(Bytes::from(out));
        }
        // The whole message in this one piece (a compressed single frame, or a
        // continuation-free message whose earlier pieces were empty): handed
        // out without a reassembly copy, and text validated once, on delivery.
        let whole = last && self.delivery == Delivery::Messages && msg.buf.is_none();
        if text && !whole {
            // Fail fast: each piece is checked as it arrives (RFC 6455 §8.1).
            let fed = match (self.delivery, &mut msg.buf) {
                (Delivery::Chunks, _) => msg.utf8.feed(&part),
                (Delivery::Messages, store) => {
                    let store = store.get_or_insert_with(|| {
                        // Room for this frame (bounded by max_frame_size).
                        let room = part.len() + small(frame.remaining);
                        Box::new(Assembly::Text(alloc::string::String::with_capacity(room)))
                    });
                    match &mut **store {
                        Assembly::Text(store) => msg.utf8.feed_into(&part, store),
                        Assembly::Binary(_) => Ok(()), // unreachable: text
                    }
                }
            };
            if fed.is_err() || (last && !msg.utf8.is_complete()) {
                return self.fail(ProtocolError::InvalidUtf8);
            }
        }
        self.rx = if frame_done { None } else { Some(frame) };

        if self.delivery == Delivery::Chunks {
            let kind = msg.kind;
            if last {
                self.rx_msg = None;
            }
            if !part.is_empty() || last {
                self.enqueue(Queued::Chunk {
                    kind,
                    data: part.freeze(),
                    fin: last,
                });
            }
        } else {
            let kind = msg.kind;
            if whole {
                self.rx_msg = None;
                return self.deliver(kind, part.freeze());
            }
            if !text {
                let store = msg
                    .buf
                    .get_or_insert_with(|| Box::new(Assembly::Binary(BytesMut::new())));
                if let Assembly::Binary(store) = &mut **store {
                    if store.is_empty() {
                        // The first piece: reserve what the header announced
                        // (bounded by max_frame_size), not more.
                        store.reserve(part.len() + small(frame.remaining));
                    }
                    store.extend_from_slice(&part);
                }
            }
            if last {
                let message = match msg.buf.take().map(|b| *b) {
                    // Validated piece by piece as it was assembled.
                    Some(Assembly::Text(text)) => Message::Text(Utf8Bytes::from(text)),
                    Some(Assembly::Binary(bytes)) => Message::Binary(bytes.freeze()),
                    None if text => Message::Text(Utf8Bytes::new()),
                    None => Message::Binary(Bytes::new()),
                };
                self.rx_msg = None;
                self.enqueue(Queued::Message(message));
                return Step::Continue;
            }
        }
        if frame_done {
            Step::Continue
        } else {
            Step::NeedMore
        }
    }

    /// Queues a complete message (text is validated here, once).
    fn deliver(&mut self, kind: DataKind, payload: Bytes) -> Step {
        let message = match kind {
            DataKind::Binary => Message::Binary(payload),
            DataKind::Text => match Utf8Bytes::try_from(payload) {
                Ok(text) => Message::Text(text),
                Err(_) => return self.fail(ProtocolError::InvalidUtf8),
            },
        };
        self.enqueue(Queued::Message(message));
        Step::Continue
    }

    /// Ping, Pong and Close.
    fn on_control(&mut self, opcode: OpCode, payload: Bytes) -> Step {
        match opcode {
            OpCode::Ping => {
                // RFC 6455 §5.5.2: answer with a Pong carrying the same data,
                // in order. Past MAX_QUEUED_PONGS unsent pongs, only the most
                // recent ping is answered (§5.5.3 allows it), so a ping flood
                // cannot grow memory.
                // §5.5.2: "unless it already received a Close frame": after
                // sending ours, pings are still answered.
                if self.auto_pong && matches!(self.state, State::Open | State::CloseSent) {
                    if self.pongs_queued < MAX_QUEUED_PONGS {
                        self.pongs_queued += 1;
                        let frame = self.encode(OpCode::Pong, true, payload.clone());
                        self.tx_bytes += frame.len();
                        self.enqueue(Queued::PongFrame(frame));
                    } else {
                        self.ext_mut().pending_pong = Some(Box::new(payload.clone()));
                    }
                }
                self.enqueue(Queued::Ping(payload));
                Step::Continue
            }
            OpCode::Pong => {
                self.stats.pongs_received += 1;
                let mut rtt = None;
                if self.ping_sent_at != Instant::MAX && payload[..] == self.keepalive_payload() {
                    let measured = self.now - self.ping_sent_at;
                    let micros = u32::try_from(measured.as_micros()).unwrap_or(u32::MAX);
                    self.last_rtt = micros.max(1);
                    self.ping_sent_at = Instant::MAX;
                    rtt = Some(measured);
                }
                self.enqueue(Queued::Pong { payload, rtt });
                Step::Continue
            }
            _ => match parse_close(payload) {
                Ok(frame) => {
                    // Events before the close reach the application first, and
                    // what it sends in answer goes out before our reply.
                    self.reading = false;
                    self.enqueue(Queued::PeerClose(frame));
                    Step::Stop
                }
                Err(e) => self.fail(e),
            },
        }
    }

    /// The peer's close frame (valid), once the events before it were polled.
    pub(super) fn on_close_frame(&mut self, frame: CloseFrame) {
        if !matches!(self.state, State::Open | State::CloseSent) {
            return;
        }
        // §5.5.3 lets a flood go unanswered but for the most recent ping:
        // answer it before the close reply.
        if let Some(payload) = self.ext.as_mut().and_then(|e| e.pending_pong.take()) {
            self.trim_ext();
            let frame = self.encode(OpCode::Pong, true, *payload);
            self.tx_bytes += frame.len();
            self.enqueue(Queued::Frame(frame));
        }
        if self.state == State::Open {
            // RFC 6455 §5.5.1: reply with a Close, typically echoing the code.
            let reply = if frame.code == CloseCode::NO_STATUS {
                None
            } else {
                Some(frame.code)
            };
            self.queue_close(Initiator::Remote, reply, "");
            self.closing_mut(Initiator::Remote).received = Some(frame);
        } else {
            self.closing_mut(Initiator::Local).received = Some(frame);
        }
        match self.role {
            // RFC 6455 §7.1.1: the server closes the TCP connection first.
            Role::Server => self.finish(CloseCause::Handshake, true),
            Role::Client => {
                self.state = State::AwaitingEof;
                self.timers.stop_all();
                self.timers
                    .set_close(self.now + super::from_millis(self.limits.close_timeout));
                self.rx = None;
                self.rx_msg = None;
            }
        }
    }

    /// The peer broke the protocol: stop reading, and fail the connection
    /// once the events before the error were polled (so the application's
    /// answers to them still go out first, as Autobahn's strict cases expect).
    fn fail(&mut self, error: ProtocolError) -> Step {
        self.reading = false;
        self.rx = None;
        self.rx_msg = None;
        self.enqueue(Queued::Fail(error));
        Step::Stop
    }

    /// _Fail the WebSocket Connection_ (RFC 6455 §7.1.7) with the error's
    /// close code.
    pub(super) fn apply_fail(&mut self, error: ProtocolError) {
        if !matches!(self.state, State::Open | State::CloseSent) {
            return;
        }
        if self.state == State::Open {
            let mut reason = error.to_string();
            reason.truncate(CloseFrame::MAX_REASON);
            self.queue_close(Initiator::Library, Some(error.close_code()), &reason);
        }
        self.finish(CloseCause::Protocol(error), false);
    }

    /// A local timer ended the connection: send `code` (if still open) and
    /// shut down at once, without waiting for the peer.
    fn fail_local(&mut self, code: CloseCode, reason: &str, cause: CloseCause) {
        if !matches!(self.state, State::Open | State::CloseSent) {
            return;
        }
        if self.state == State::Open {
            self.queue_close(Initiator::Library, Some(code), reason);
        }
        self.finish(cause, false);
    }

    /// The out-of-line state, allocated on first need.
    pub(super) fn ext_mut(&mut self) -> &mut super::Extensions {
        self.ext.get_or_insert_with(Default::default)
    }

    /// Frees the out-of-line state once nothing is left in it, so an idle
    /// or closed connection holds no heap.
    pub(super) fn trim_ext(&mut self) {
        if self.ext.as_deref().is_some_and(super::Extensions::is_empty) {
            self.ext = None;
        }
    }

    /// The close bookkeeping, created with `initiator` if it does not exist.
    pub(super) fn closing_mut(&mut self, initiator: Initiator) -> &mut Closing {
        self.ext_mut().closing.get_or_insert_with(|| {
            Box::new(Closing {
                sent: None,
                received: None,
                initiator,
                outcome: None,
                shutdown_pending: false,
            })
        })
    }

    /// The end is decided: drain what is queued, then `Shutdown`, then `Closed`.
    pub(super) fn finish(&mut self, cause: CloseCause, clean: bool) {
        let closing = self.closing_mut(Initiator::Library);
        closing.outcome = Some((cause, clean));
        closing.shutdown_pending = true;
        self.state = State::Finishing;
        self.timers.stop_all();
        self.rx = None;
        self.rx_msg = None;
        if let Some(ext) = self.ext.as_mut() {
            ext.pending_pong = None;
        }
        self.trim_ext();
        self.keepalive_pending = false;
        self.tx_fragment = None;
    }
}

impl Connection {
    /// Whether permessage-deflate was negotiated.
    pub(super) fn compression(&self) -> bool {
        #[cfg(feature = "deflate")]
        {
            self.ext.as_ref().is_some_and(|e| e.deflate.is_some())
        }
        #[cfg(not(feature = "deflate"))]
        {
            false
        }
    }
}

/// Takes a whole single-frame message (header already checked) off the
/// front of `buf`: unmasked in place, text validated once.
#[inline(always)]
fn whole_message(
    kind: DataKind,
    mask: Option<[u8; 4]>,
    head_len: usize,
    len: usize,
    buf: &mut BytesMut,
) -> Result<Message, ProtocolError> {
    if kind == DataKind::Text && len <= Utf8Bytes::INLINE {
        // A short text is copied into the string itself: no reference to
        // the read buffer, so no shared-count traffic per message.
        let text = short_text(&buf[head_len..], len, mask);
        buf.advance(head_len + len);
        return text.map(Message::Text).ok_or(ProtocolError::InvalidUtf8);
    }
    buf.advance(head_len);
    let mut payload = buf.split_to(len);
    if let Some(key) = mask {
        apply_mask(&mut payload, key, 0);
    }
    let payload = payload.freeze();
    match kind {
        DataKind::Binary => Ok(Message::Binary(payload)),
        DataKind::Text => Utf8Bytes::try_from(payload)
            .map(Message::Text)
            .map_err(|_| ProtocolError::InvalidUtf8),
    }
}

/// Two 16-byte blocks, aligned: `core::str::from_utf8` checks ASCII a
/// block at a time only where the bytes are word-aligned.
#[repr(C, align(16))]
struct ShortBuf([u8; 32]);

/// A short text (at most 30 bytes), unmasked into an aligned, zero-padded
/// buffer and validated there: the padding is ASCII, and a sequence cut at
/// the end of the payload meets a zero and fails, so the padded buffer is
/// valid exactly when the payload is. About half the instructions of
/// validating the payload where it lies (byte by byte when unaligned).
/// `from` is the payload and whatever follows it in the buffer.
#[inline(always)]
fn short_text(from: &[u8], len: usize, mask: Option<[u8; 4]>) -> Option<Utf8Bytes> {
    short_str(&mut ShortBuf([0; 32]), from, len, mask).map(Utf8Bytes::inline)
}

/// 32 bytes of 0xFF, then 32 of zero: `LEN_MASK[32 - n..64 - n]` keeps the
/// first `n` bytes of a 32-byte block and clears the rest.
static LEN_MASK: [u8; 64] = {
    let mut m = [0u8; 64];
    let mut i = 0;
    while i < 32 {
        m[i] = 0xFF;
        i += 1;
    }
    m
};

/// The validated text of [`short_text`], in `padded`.
#[inline(always)]
fn short_str<'a>(
    padded: &'a mut ShortBuf,
    from: &[u8],
    len: usize,
    mask: Option<[u8; 4]>,
) -> Option<&'a str> {
    padded.0 = unmask_short(from, len, mask)?;
    let all = core::str::from_utf8(&padded.0).ok()?;
    all.get(..len)
}

/// The first `len` (at most 32) bytes of `from`, unmasked, then zeros.
/// When 32 bytes can be read from `from` (the payload and what follows
/// it), the copy, the unmasking and the padding are one fixed-size pass the
/// compiler turns into a few vector instructions (no call to `memcpy` for a
/// few bytes); else a few fixed-size copies come first.
#[inline(always)]
fn unmask_short(from: &[u8], len: usize, mask: Option<[u8; 4]>) -> Option<[u8; 32]> {
    let keep: &[u8; 32] = LEN_MASK
        .get(32usize.checked_sub(len)?..64 - len)?
        .try_into()
        .ok()?;
    let k64 = key_word(mask.unwrap_or([0; 4]));
    let block = match from.first_chunk::<32>() {
        Some(block) => *block,
        None => load_short(from.get(..len)?),
    };
    // Four u64 words: unmask, then clear what lies past the payload.
    let mut out = [0u8; 32];
    for ((out, word), keep) in out
        .chunks_exact_mut(8)
        .zip(block.chunks_exact(8))
        .zip(keep.chunks_exact(8))
    {
        let word = u64::from_ne_bytes(word.try_into().ok()?);
        let keep = u64::from_ne_bytes(keep.try_into().ok()?);
        out.copy_from_slice(&((word ^ k64) & keep).to_ne_bytes());
    }
    Some(out)
}

/// What [`lend_short_texts`] did.
enum Run {
    /// Lent this many messages, taking this many bytes.
    Lent { messages: usize, bytes: usize },
    /// This many short texts, together not valid: take them one at a time.
    NotValid { messages: usize },
    /// Fewer than two short texts come next.
    TooShort,
}

/// Most short texts [`lend_short_texts`] validates together.
const RUN_MAX: usize = 16;

/// Lends a run of short texts (at most 30 bytes each) at the front of
/// `buf` (whole frames checked by `defer_whole_messages`), at most `max`,
/// validated together: each is unmasked into one stack buffer, followed by
/// a zero byte, and the buffer is checked once. A zero is ASCII and
/// continues no sequence, so the buffer is valid exactly when every text
/// is, and each text is a `str` of its own slice. One check of 16 texts
/// costs about what a check of one did (the fixed cost of `from_utf8`
/// dominates a short text).
fn lend_short_texts(buf: &[u8], max: usize, f: &mut impl FnMut(MessageRef<'_>)) -> Run {
    const ROOM: usize = RUN_MAX * (Utf8Bytes::INLINE + 1);
    // Not a run unless the first two messages are short texts: checked
    // before the buffers below are zeroed (about 900 bytes, which would
    // cost a long message as much as its own header work).
    // (`buf` holds whole frames, so a header starts wherever bytes are left.)
    let short_text = |at: usize| {
        let h = ReadyHeader::parse(buf.get(at..).filter(|rest| !rest.is_empty())?);
        (h.kind == DataKind::Text && h.len <= Utf8Bytes::INLINE).then_some(at + h.head_len + h.len)
    };
    if max < 2 || short_text(0).and_then(short_text).is_none() {
        return Run::TooShort;
    }
    let mut text = [0u8; ROOM + 32];
    // (where the text starts in `text`, its length, where its frame ends)
    let mut spans = [(0usize, 0usize, 0usize); RUN_MAX];
    let mut n = 0;
    let mut at = 0;
    let mut end = 0;
    while n < max.min(RUN_MAX) && at < buf.len() {
        let h = ReadyHeader::parse(&buf[at..]);
        if h.kind != DataKind::Text || h.len > Utf8Bytes::INLINE {
            break;
        }
        let Some(block) = unmask_short(&buf[at + h.head_len..], h.len, h.mask) else {
            break;
        };
        // The zeros past the text end it; the next text starts after one.
        text[end..end + 32].copy_from_slice(&block);
        at += h.head_len + h.len;
        spans[n] = (end, h.len, at);
        n += 1;
        end += h.len + 1;
    }
    if n < 2 {
        return Run::TooShort;
    }
    let Ok(all) = core::str::from_utf8(&text[..end]) else {
        return Run::NotValid { messages: n };
    };
    let mut lent = 0;
    let mut taken = 0;
    for &(start, len, frame_end) in &spans[..n] {
        // Each text starts after a zero and ends before one: on a char
        // boundary, so `get` finds it.
        let Some(one) = all.get(start..start + len) else {
            break; // cannot happen: see above
        };
        f(MessageRef::Text(one));
        lent += 1;
        taken = frame_end;
    }
    if lent == 0 {
        return Run::NotValid { messages: n };
    }
    Run::Lent {
        messages: lent,
        bytes: taken,
    }
}

/// Most bytes of a text still arriving that `defer_whole_messages` checks
/// (its text so far) to defer the whole messages before it.
const MAX_PARTIAL_CHECK: usize = 16 * 1024;

/// Whether the start of a text payload, masked with `mask`, has nothing
/// that is not UTF-8 yet (a sequence cut at the end is fine); unmasked in
/// 256-byte pieces on the stack.
fn text_so_far_valid(part: &[u8], mask: Option<[u8; 4]>) -> bool {
    let mut validator = crate::utf8::Utf8Validator::new();
    let mut block = [0u8; 256];
    // Pieces are a multiple of 4 long, so each starts at the key's start.
    part.chunks(block.len()).all(|piece| {
        let text = &mut block[..piece.len()];
        text.copy_from_slice(piece);
        if let Some(key) = mask {
            apply_mask(text, key, 0);
        }
        validator.feed(text).is_ok()
    })
}

/// The header of a message in `rx_ready`, checked when it was split off.
struct ReadyHeader {
    kind: DataKind,
    mask: Option<[u8; 4]>,
    head_len: usize,
    len: usize,
}

impl ReadyHeader {
    #[inline(always)]
    fn parse(buf: &[u8]) -> Self {
        let b1 = buf[1];
        let (len, mut head_len) = match b1 & 0x7F {
            126 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
            127 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&buf[2..10]);
                (small(u64::from_be_bytes(be)), 10)
            }
            n => (usize::from(n), 2),
        };
        let mask = if b1 & 0x80 != 0 {
            let key: Option<[u8; 4]> = buf[head_len..head_len + 4].try_into().ok();
            head_len += 4;
            key
        } else {
            None
        };
        let kind = if buf[0] & 0x0F == 0x1 {
            DataKind::Text
        } else {
            DataKind::Binary
        };
        ReadyHeader {
            kind,
            mask,
            head_len,
            len,
        }
    }
}

/// Counts the complete frames at the front of `buf`, up to `max`.
fn count_whole_frames(buf: &[u8], max: usize) -> usize {
    let mut at = 0;
    let mut count = 0;
    while count < max {
        let Ok(Some((header, len))) = FrameHeader::decode(&buf[at..]) else {
            break;
        };
        let Some(end) = usize::try_from(header.payload_len)
            .ok()
            .and_then(|p| (at + len).checked_add(p))
        else {
            break;
        };
        if end > buf.len() {
            break;
        }
        at = end;
        count += 1;
    }
    count
}

/// Pongs that may wait in the queue before only the latest ping is answered.
const MAX_QUEUED_PONGS: u8 = 16;

/// A length known to fit in memory: frame lengths are bounded by
/// `max_frame_size` (a `usize`) before any payload is processed.
fn small(len: u64) -> usize {
    usize::try_from(len).unwrap_or(usize::MAX)
}

/// Parses a close payload (RFC 6455 §5.5.1, §7.4).
fn parse_close(payload: Bytes) -> Result<CloseFrame, ProtocolError> {
    match payload.len() {
        0 => Ok(CloseFrame {
            code: CloseCode::NO_STATUS,
            reason: Utf8Bytes::new(),
        }),
        1 => Err(ProtocolError::CloseFrameTooShort),
        _ => {
            let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
            // RFC 6455 §7.4: 1005, 1006, 1015 and unassigned codes never
            // appear on the wire.
            if !code.is_sendable() {
                return Err(ProtocolError::InvalidCloseCode(code.0));
            }
            let reason =
                Utf8Bytes::try_from(payload.slice(2..)).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(CloseFrame { code, reason })
        }
    }
}
