//! The connection: one state machine for both roles, composing the frame
//! codec, message assembly, the close handshake and the timers.
//!
//! Method groups, in the order a driver uses them:
//! - constructors: [`Connection::server`], [`Connection::client`];
//! - inputs (`handle_*`): bytes, end of stream, timer ticks;
//! - commands (verbs): [`send`](Connection::send), [`send_fragment`](Connection::send_fragment),
//!   [`ping`](Connection::ping), [`close`](Connection::close);
//! - outputs (`poll_*`): [`poll_output`](Connection::poll_output) until it
//!   returns [`Output::Wait`], and [`poll_timeout`](Connection::poll_timeout);
//!   in bulk, [`poll_transmits_into`](Connection::poll_transmits_into) (frames
//!   into a write buffer) and [`poll_messages`](Connection::poll_messages)
//!   (messages lent where they lie);
//! - getters (`&self`).

mod input;
mod output;
mod timers;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::fmt;

use bytes::Bytes;

pub use output::Transmit;

use crate::frame::MaskGen;
use crate::message::{DataKind, Message};
use crate::utf8::Utf8Validator;
use crate::{CloseCode, CloseFrame, Duration, Instant, ProtocolError};
use output::Queued;
use timers::TimerTable;

/// Which end of the connection this is. Client and server differ only where
/// RFC 6455 says: the client masks what it sends (§5.3), and after the close
/// handshake the server closes TCP first (§7.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that sent the HTTP upgrade request.
    Client,
    /// The end that accepted it.
    Server,
}

/// How received data reaches the application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Delivery {
    /// Whole messages ([`Event::Message`]). Fragmented messages are reassembled
    /// (bounded by `max_message_size`); single-frame messages are handed out
    /// without copying.
    #[default]
    Messages,
    /// Payload pieces as they arrive ([`Event::Chunk`]), for messages too large
    /// to hold. Nothing is reassembled; text is still validated as it streams.
    Chunks,
}

/// Connection settings. `Default` gives safe limits and no keepalive; set
/// fields with the chained setters:
///
/// ```
/// use wsmachine::{Config, Duration};
/// let config = Config::default()
///     .max_message_size(1 << 20)
///     .ping_interval(Some(Duration::from_secs(25)))
///     .pong_timeout(Duration::from_secs(10));
/// assert_eq!(config.max_message_size, 1 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest frame payload accepted, checked from the header before any
    /// payload is buffered (close 1009). Default 16 MiB.
    pub max_frame_size: usize,
    /// Largest message accepted, all fragments together, checked from each
    /// frame header (close 1009). Default 64 MiB.
    pub max_message_size: usize,
    /// Whole messages or streamed chunks. Default [`Delivery::Messages`].
    pub delivery: Delivery,
    /// Answer pings with pongs automatically (RFC 6455 §5.5.2 says MUST; turn
    /// off only to test a peer). Default `true`.
    pub auto_pong: bool,
    /// Most bytes that may wait in the output queue; a send past it fails with
    /// [`SendError::Backpressure`](crate::SendError::Backpressure). Default 128 MiB.
    pub max_buffered_output: usize,
    /// How long to wait for the peer's close frame after ours, and (client)
    /// for the server's TCP close after the handshake. Default 10 s.
    pub close_timeout: Duration,
    /// Send a keepalive ping after this long with nothing received. Default
    /// `None`. Set it below your proxies' idle timeouts (often 60 s).
    pub ping_interval: Option<Duration>,
    /// Fail the connection (close 1011, cause `PingTimeout`) when nothing
    /// arrives this long after a keepalive ping. Default 20 s.
    pub pong_timeout: Duration,
    /// Close the connection (close 1001, cause `IdleTimeout`) after this long
    /// with nothing received. Default `None`.
    pub idle_timeout: Option<Duration>,
    /// permessage-deflate parameters negotiated in the handshake (RFC 7692),
    /// see [`crate::deflate`]. Default `None`: RSV1 is a protocol error.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::deflate::DeflateParams>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            delivery: Delivery::Messages,
            auto_pong: true,
            max_buffered_output: 128 << 20,
            close_timeout: Duration::from_secs(10),
            ping_interval: None,
            pong_timeout: Duration::from_secs(20),
            idle_timeout: None,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }
}

#[cfg(feature = "deflate")]
impl Config {
    /// Sets [`Config::deflate`].
    #[must_use]
    pub fn deflate(mut self, value: Option<crate::deflate::DeflateParams>) -> Self {
        self.deflate = value;
        self
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        impl Config {
            $($(#[$doc])* #[must_use] pub fn $name(mut self, value: $ty) -> Self {
                self.$name = value;
                self
            })*
        }
    };
}

setters! {
    /// Sets [`Config::max_frame_size`].
    max_frame_size: usize;
    /// Sets [`Config::max_message_size`].
    max_message_size: usize;
    /// Sets [`Config::delivery`].
    delivery: Delivery;
    /// Sets [`Config::auto_pong`].
    auto_pong: bool;
    /// Sets [`Config::max_buffered_output`].
    max_buffered_output: usize;
    /// Sets [`Config::close_timeout`].
    close_timeout: Duration;
    /// Sets [`Config::ping_interval`].
    ping_interval: Option<Duration>;
    /// Sets [`Config::pong_timeout`].
    pong_timeout: Duration;
    /// Sets [`Config::idle_timeout`].
    idle_timeout: Option<Duration>;
}

/// What the driver should do next; returned by [`Connection::poll_output`].
#[derive(Debug)]
#[must_use = "every output must be acted on"]
pub enum Output {
    /// Write these bytes to the transport, all of them, in order.
    Transmit(Transmit),
    /// Close the transport's write side (the close handshake is over or the
    /// connection failed). The connection sends nothing after this.
    Shutdown,
    /// Something for the application.
    Event(Event),
    /// Nothing more until new input, a command, or `until` (call
    /// [`Connection::handle_timeout`] then). `None`: no timer is armed.
    Wait {
        /// The next deadline, if any.
        until: Option<Instant>,
    },
}

/// Something that happened on the connection.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A complete message ([`Delivery::Messages`]).
    Message(Message),
    /// A piece of a message ([`Delivery::Chunks`]). The pieces of one message
    /// concatenate to the message; `fin` marks the last. Text pieces may split
    /// a UTF-8 sequence; the whole is validated as it streams.
    Chunk {
        /// Text or binary.
        kind: DataKind,
        /// The bytes of this piece.
        data: Bytes,
        /// This is the last piece of the message.
        fin: bool,
    },
    /// The peer sent a ping (already answered when `auto_pong` is on).
    Ping(Bytes),
    /// The peer sent a pong. `rtt` is set when it answers our keepalive ping.
    Pong {
        /// The pong's payload.
        payload: Bytes,
        /// Round-trip time of the keepalive ping this pong answers.
        rtt: Option<Duration>,
    },
    /// The connection is over. Always the last output, exactly once.
    /// (Boxed: it is rare and large, and every other output stays small.)
    Closed(Box<CloseInfo>),
}

/// Who started the end of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initiator {
    /// This application called [`Connection::close`].
    Local,
    /// The peer sent a close frame or closed TCP.
    Remote,
    /// The connection itself: a protocol error, a limit, or a timeout.
    Library,
}

/// Why the connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCause {
    /// The close handshake completed (see `initiator` for who began it).
    Handshake,
    /// The peer broke RFC 6455 or a configured limit.
    Protocol(ProtocolError),
    /// The transport ended without a close handshake (seen as 1006).
    Eof,
    /// No close frame (or, for a client after the handshake, no TCP close)
    /// arrived within `close_timeout`.
    CloseTimeout,
    /// Nothing arrived within `pong_timeout` after a keepalive ping.
    PingTimeout,
    /// Nothing arrived within `idle_timeout`.
    IdleTimeout,
}

/// Why and how a connection ended: everything needed to diagnose a
/// disconnect without a debugger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close frame we sent, if any.
    pub sent: Option<CloseFrame>,
    /// The close frame we received, if any.
    pub received: Option<CloseFrame>,
    /// Who started the end.
    pub initiator: Initiator,
    /// Both close frames were exchanged (RFC 6455 §7.1.4 "cleanly").
    pub clean: bool,
    /// What ended it.
    pub cause: CloseCause,
    /// Time from the last byte received to the end.
    pub since_last_received: Duration,
    /// The last keepalive round-trip time measured, if any.
    pub last_rtt: Option<Duration>,
}

impl CloseInfo {
    /// The code that describes the end, as a browser's `CloseEvent.code` would:
    /// the received code, 1005 for a close frame without one, 1006 when no
    /// close frame arrived.
    pub fn code(&self) -> CloseCode {
        match &self.received {
            Some(frame) => frame.code,
            None => CloseCode::ABNORMAL,
        }
    }

    /// A one-line human explanation of the likely reason.
    pub fn hint(&self) -> &'static str {
        match &self.cause {
            CloseCause::Handshake => match self.code().0 {
                1000 => "normal closure",
                1001 => "the peer is going away (shutdown, navigation or its idle timeout)",
                1008 => "the peer closed on a policy violation",
                1011 => "the peer hit an internal error (or its keepalive timed out)",
                1012 => "the peer is restarting: reconnect soon",
                1013 => "the peer is overloaded: try again later, with backoff",
                _ => "closed by the close handshake",
            },
            CloseCause::Protocol(e) => match e.close_code().0 {
                1009 => {
                    "a frame or message exceeded a configured limit (max_frame_size / max_message_size)"
                }
                1007 => "the peer sent invalid UTF-8 in a text message or close reason",
                _ => "the peer broke the WebSocket protocol (RFC 6455)",
            },
            CloseCause::Eof => {
                let silent = self.since_last_received;
                if silent >= Duration::from_secs(55) && silent <= Duration::from_secs(125) {
                    "closed without a close frame after a long silence: typical of a proxy or load \
                     balancer idle timeout (nginx proxy_read_timeout and AWS ALB: 60 s, \
                     Cloudflare: 100 s); set ping_interval below it"
                } else {
                    "closed without a close frame: network drop, peer crash or proxy timeout"
                }
            }
            CloseCause::CloseTimeout => "the peer did not finish the close handshake in time",
            CloseCause::PingTimeout => {
                "no answer to a keepalive ping: the peer or the path is gone (half-open connection)"
            }
            CloseCause::IdleTimeout => "nothing received for idle_timeout",
        }
    }
}

impl fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "code {} by {:?}, ", self.code(), self.initiator)?;
        match &self.cause {
            CloseCause::Protocol(e) => write!(f, "protocol error: {e}")?,
            other => write!(f, "{other:?}")?,
        }
        write!(
            f,
            ", {}, last byte {} ms before",
            if self.clean { "clean" } else { "not clean" },
            self.since_last_received.as_millis()
        )?;
        if let Some(rtt) = self.last_rtt {
            write!(f, ", rtt {} us", rtt.as_micros())?;
        }
        write!(f, ": {}", self.hint())
    }
}

/// Cheap counters, for metrics and diagnosis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames received.
    pub frames_in: u64,
    /// Frames handed out for sending.
    pub frames_out: u64,
    /// Bytes received (passed to `handle_read`, consumed).
    pub bytes_in: u64,
    /// Bytes handed out for sending.
    pub bytes_out: u64,
    /// Pings sent (keepalive and application).
    pub pings_sent: u32,
    /// Pongs received.
    pub pongs_received: u32,
}

/// Settings kept in the connection, in compact form.
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_frame: u64,
    max_message: u64,
    max_buffered: usize,
    /// Timer durations in milliseconds (rounded up); 0 means off for the
    /// optional ones. Millisecond resolution keeps the connection small.
    close_timeout: u32,
    ping_interval: u32,
    pong_timeout: u32,
    idle_timeout: u32,
}

/// A duration in whole milliseconds, rounded up and saturating.
fn millis(d: Duration) -> u32 {
    let ms = d.as_micros().div_ceil(1000);
    u32::try_from(ms).unwrap_or(u32::MAX)
}

/// The `Duration` of a millisecond setting.
fn from_millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Data flows both ways.
    Open,
    /// We sent (queued) a close frame and wait for the peer's.
    CloseSent,
    /// Both close frames were exchanged; the client waits for the server to
    /// close TCP (RFC 6455 §7.1.1).
    AwaitingEof,
    /// Shutdown and `Closed` are queued: the connection is over once drained.
    Finishing,
    /// `Closed` was emitted.
    Closed,
}

/// The frame being received: its header and how much of it was processed.
#[derive(Clone, Copy, Debug)]
struct RxFrame {
    opcode: crate::frame::OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes not yet taken out of the read buffer.
    remaining: u64,
    /// Payload bytes already processed: the masking offset. For a
    /// single-frame message these stay, unmasked and validated, at the front
    /// of the caller's buffer until the frame is whole (zero copy); otherwise
    /// they were taken out.
    taken: u64,
}

/// The data message being received.
#[derive(Debug)]
struct RxMessage {
    kind: DataKind,
    /// RSV1 on the first frame: the payload is deflated (RFC 7692 §6).
    compressed: bool,
    /// Some compressed payload byte arrived (an empty one is read as empty).
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    saw_payload: bool,
    size: u64,
    utf8: Utf8Validator,
    /// Reassembly storage, only while a message arriving in pieces is open.
    buf: Option<Box<Assembly>>,
}

/// A message being put together from pieces.
#[derive(Debug)]
enum Assembly {
    Binary(bytes::BytesMut),
    /// Text, validated piece by piece as it was appended.
    Text(alloc::string::String),
}

/// Per-connection state only some connections need, kept out of line and
/// allocated on first need: a client's mask generator, a deflate context,
/// a ping flood's owed pong, the close handshake, short frames waiting.
#[derive(Debug, Default)]
struct Extensions {
    mask: Option<MaskGen>,
    #[cfg(feature = "deflate")]
    deflate: Option<Box<crate::deflate::DeflateState>>,
    /// The pong owed for the latest ping once `MAX_QUEUED_PONGS` pongs are
    /// already queued (a ping flood keeps only this one more).
    pending_pong: Option<Box<Bytes>>,
    closing: Option<Box<Closing>>,
    /// Short frames queued after everything in the queue, back to back.
    small: output::SmallFrames,
}

impl Extensions {
    /// Nothing is kept: the box can go.
    fn is_empty(&self) -> bool {
        #[cfg(feature = "deflate")]
        let deflate = self.deflate.is_some();
        #[cfg(not(feature = "deflate"))]
        let deflate = false;
        self.mask.is_none()
            && !deflate
            && self.pending_pong.is_none()
            && self.closing.is_none()
            && self.small.bytes.capacity() == 0
    }
}

/// Close handshake bookkeeping, allocated when the close begins.
#[derive(Debug)]
struct Closing {
    sent: Option<CloseFrame>,
    received: Option<CloseFrame>,
    initiator: Initiator,
    /// Set when the end is decided: the cause and clean flag for `Closed`.
    outcome: Option<(CloseCause, bool)>,
    shutdown_pending: bool,
}

/// A WebSocket connection, client or server, as a pure state machine.
///
/// Feed it input with the `handle_*` methods, give it commands with the verbs,
/// then call [`poll_output`](Connection::poll_output) until it returns
/// [`Output::Wait`] and act on each output. It never reads a clock, never does
/// IO and never allocates beyond its limits; every bad input becomes a close
/// frame with the right code and one [`Event::Closed`].
pub struct Connection {
    limits: Limits,
    role: Role,
    delivery: Delivery,
    auto_pong: bool,
    state: State,
    /// The latest `now` seen; earlier values are clamped to it.
    now: Instant,
    last_received: Instant,
    timers: TimerTable,
    /// Keepalive: the sequence number carried by the last ping.
    ping_seq: u16,
    /// When the unanswered keepalive ping left; `Instant::MAX` when none is.
    ping_sent_at: Instant,
    /// Microseconds, saturating; 0 = none measured.
    last_rtt: u32,
    /// A keepalive ping is due to go out.
    keepalive_pending: bool,
    /// Input is still processed (false after the peer's close or an error).
    reading: bool,
    /// Pong frames waiting in `queue`.
    pongs_queued: u8,
    rx: Option<RxFrame>,
    /// Bytes left in the caller's buffer by the last `handle_read`.
    rx_seen: u32,
    /// The data message being received, when it spans reads or frames.
    rx_msg: Option<Box<RxMessage>>,
    /// Whole short-path data frames split off the caller's buffer by
    /// `handle_read`, still masked: decoded one per `poll_output`, or lent
    /// by `poll_messages` (see `defer_whole_messages`).
    rx_ready: bytes::BytesMut,
    /// Frames to send and events to report, in the order they arose.
    queue: VecDeque<Queued>,
    /// Bytes of the frames in `queue`.
    tx_bytes: usize,
    /// The fragmented message being sent, with its UTF-8 state for text.
    tx_fragment: Option<(DataKind, Utf8Validator)>,
    /// State only some connections need (see `Extensions`).
    ext: Option<Box<Extensions>>,
    stats: Stats,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("now", &self.now)
            .field("buffered_amount", &self.tx_bytes)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Constructors.
impl Connection {
    /// A server-side connection (after the upgrade handshake), at time `now`.
    pub fn server(config: Config, now: Instant) -> Self {
        Self::new(Role::Server, config, now, None)
    }

    /// A client-side connection at time `now`. `mask_seed` keys the generator
    /// of masking keys (RFC 6455 §5.3): pass 32 bytes from a real entropy
    /// source in production, a constant in tests for byte-exact transcripts.
    pub fn client(config: Config, now: Instant, mask_seed: [u8; 32]) -> Self {
        Self::new(
            Role::Client,
            config,
            now,
            Some(Box::new(MaskGen::new(mask_seed))),
        )
    }

    fn new(role: Role, config: Config, now: Instant, mask: Option<Box<MaskGen>>) -> Self {
        #[cfg(feature = "deflate")]
        let deflate = config.deflate.map(|params| {
            Box::new(crate::deflate::DeflateState::new(
                params,
                role == Role::Server,
            ))
        });
        #[cfg(feature = "deflate")]
        let ext = (mask.is_some() || deflate.is_some()).then(|| {
            Box::new(Extensions {
                mask: mask.map(|m| *m),
                deflate,
                ..Extensions::default()
            })
        });
        #[cfg(not(feature = "deflate"))]
        let ext = mask.map(|m| {
            Box::new(Extensions {
                mask: Some(*m),
                ..Extensions::default()
            })
        });
        let optional = |d: Option<Duration>| d.map_or(0, |d| millis(d).max(1));
        let limits = Limits {
            max_frame: config.max_frame_size as u64,
            max_message: config.max_message_size as u64,
            max_buffered: config.max_buffered_output,
            close_timeout: millis(config.close_timeout),
            ping_interval: optional(config.ping_interval),
            pong_timeout: millis(config.pong_timeout),
            idle_timeout: optional(config.idle_timeout),
        };
        Connection {
            limits,
            role,
            delivery: config.delivery,
            auto_pong: config.auto_pong,
            state: State::Open,
            now,
            last_received: now,
            timers: TimerTable::default(),
            ping_seq: 0,
            ping_sent_at: Instant::MAX,
            last_rtt: 0,
            keepalive_pending: false,
            reading: true,
            pongs_queued: 0,
            rx: None,
            rx_seen: 0,
            rx_msg: None,
            rx_ready: bytes::BytesMut::new(),
            queue: VecDeque::new(),
            tx_bytes: 0,
            tx_fragment: None,
            ext,
            stats: Stats::default(),
        }
    }
}

/// Getters.
impl Connection {
    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether data may still be sent (no close frame sent, not failed).
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether [`Event::Closed`] has been emitted.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Bytes queued for sending and not yet handed out by `poll_output`
    /// (like the browser's `WebSocket.bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.tx_bytes
    }

    /// The last keepalive round-trip time measured.
    pub fn last_rtt(&self) -> Option<Duration> {
        (self.last_rtt > 0).then(|| Duration::from_micros(u64::from(self.last_rtt)))
    }

    /// When the last byte was received (or the connection was created).
    pub fn last_received(&self) -> Instant {
        self.last_received
    }

    /// Counters of frames, bytes, pings and pongs.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Payload bytes of the frame being received that have not arrived yet,
    /// once its header is in; `None` between frames, before a header is
    /// whole, and once input is no longer read.
    ///
    /// A driver that reads into a `BytesMut` can ask the transport for at
    /// most this many bytes while a large frame is partly buffered: the frame
    /// then ends where the read ends, and is split off without the buffered
    /// part being moved to make room for a read that runs past it.
    pub fn frame_remaining(&self) -> Option<u64> {
        if !self.reading {
            return None;
        }
        // What is left of the frame in the caller's buffer (`rx_seen`) is the
        // start of its payload: a partly arrived frame is processed up to
        // the end of the buffer.
        self.rx
            .map(|frame| frame.remaining.saturating_sub(u64::from(self.rx_seen)))
    }

    /// The next deadline at which [`handle_timeout`](Connection::handle_timeout)
    /// must be called, if any. Never earlier than the last `now` given,
    /// except for a deadline that is due now.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline()
    }
}
