//! Errors: what a peer did wrong ([`ProtocolError`], mapped to a close code in
//! one place) and what the caller did wrong ([`SendError`]).
//!
//! Peer misbehaviour is never returned as an `Err`: the connection queues the
//! close frame with [`ProtocolError::close_code`] and reports the error as the
//! cause in [`Event::Closed`](crate::Event::Closed). `Err` is only for caller misuse.

use crate::CloseCode;

/// A violation of RFC 6455 (or of a configured limit) by the peer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RFC 6455 §5.2: an RSV bit was set but no extension defines it.
    #[error("reserved bits set without a negotiated extension")]
    ReservedBits,
    /// RFC 6455 §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// RFC 6455 §5.3: a client MUST mask every frame it sends.
    #[error("unmasked frame from a client")]
    UnmaskedFrame,
    /// RFC 6455 §5.1: a server MUST NOT mask any frame it sends.
    #[error("masked frame from a server")]
    MaskedFrame,
    /// RFC 6455 §5.5: control frames MUST NOT be fragmented.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// RFC 6455 §5.5: control frames carry at most 125 bytes of payload.
    #[error("control frame payload of {0} bytes (max 125)")]
    ControlTooLong(u64),
    /// RFC 6455 §5.2: the most significant bit of a 64-bit length MUST be 0.
    #[error("64-bit payload length with the most significant bit set")]
    LengthTopBit,
    /// RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the
    /// length"; this one (the payload length) came in a longer form.
    #[error("payload length {0} not in its shortest encoding")]
    NonMinimalLength(u64),
    /// RFC 6455 §5.4: a continuation frame with no message in progress.
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// RFC 6455 §5.4: a new data frame while a fragmented message is still open.
    #[error("new data frame while a fragmented message is in progress")]
    MessageInProgress,
    /// A frame larger than `Config::max_frame_size`, seen from its header.
    #[error("frame of {size} bytes exceeds max_frame_size {limit}")]
    FrameTooLarge {
        /// The payload length the header declared.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A message larger than `Config::max_message_size`, seen from a header.
    #[error("message of at least {size} bytes exceeds max_message_size {limit}")]
    MessageTooLarge {
        /// The message size so far, including the frame that crossed the limit.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// RFC 6455 §8.1: a text message (or close reason) that is not UTF-8.
    #[error("invalid UTF-8 in a text message or close reason")]
    InvalidUtf8,
    /// RFC 6455 §5.5.1: a close payload of exactly one byte.
    #[error("close frame payload of 1 byte")]
    CloseFrameTooShort,
    /// RFC 7692 §7.2.2: a compressed message that does not inflate.
    #[error("compressed data that does not inflate")]
    BadCompressedData,
    /// RFC 6455 §7.4: a close code that may not appear on the wire.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
}

impl ProtocolError {
    /// The close code sent to the peer for this error (RFC 6455 §7.4.1).
    ///
    /// The one place errors map to wire codes; exhaustive on purpose.
    pub const fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::ReservedBits
            | ProtocolError::ReservedOpcode(_)
            | ProtocolError::UnmaskedFrame
            | ProtocolError::MaskedFrame
            | ProtocolError::FragmentedControl
            | ProtocolError::ControlTooLong(_)
            | ProtocolError::LengthTopBit
            | ProtocolError::NonMinimalLength(_)
            | ProtocolError::UnexpectedContinuation
            | ProtocolError::MessageInProgress
            | ProtocolError::CloseFrameTooShort
            | ProtocolError::InvalidCloseCode(_) => CloseCode::PROTOCOL_ERROR,
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            ProtocolError::InvalidUtf8 | ProtocolError::BadCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
        }
    }
}

/// A command the connection cannot carry out: caller misuse, never peer input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// A close frame was already sent (or the connection is closed): RFC 6455
    /// §5.5.1 forbids data frames after Close.
    #[error("the connection is closing or closed")]
    Closed,
    /// A whole message was sent while a fragmented message is open.
    #[error("a fragmented message is in progress; finish it first")]
    FragmentInProgress,
    /// A fragment of another data kind than the open fragmented message.
    #[error("the open fragmented message is of the other kind (text or binary)")]
    FragmentKindMismatch,
    /// A ping payload over 125 bytes (RFC 6455 §5.5).
    #[error("control frame payload of {0} bytes (max 125)")]
    ControlTooLong(usize),
    /// A close reason over 123 bytes (RFC 6455 §5.5.1).
    #[error("close reason of {0} bytes (max 123)")]
    ReasonTooLong(usize),
    /// A close code that may not be sent (RFC 6455 §7.4: 1005, 1006, 1015,
    /// unassigned ranges).
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// Text fragments that are not valid UTF-8 (checked across fragments).
    #[error("text fragments are not valid UTF-8")]
    InvalidUtf8,
    /// The frame would push the queued output past `Config::max_buffered_output`.
    #[error("output buffer full: {buffered} bytes queued, {needed} more, limit {limit}")]
    Backpressure {
        /// Bytes already queued.
        buffered: usize,
        /// Bytes this frame needs.
        needed: usize,
        /// The configured limit.
        limit: usize,
    },
}
