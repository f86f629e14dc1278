//! permessage-deflate (RFC 7692), feature `deflate`: negotiation for both
//! handshake roles, and the compressor and decompressor the connection uses.
//!
//! Negotiation works on the raw `Sec-WebSocket-Extensions` offers the
//! handshake exposes ([`Request::extensions`](crate::handshake::Request::extensions),
//! [`Response::extensions`](crate::handshake::Response::extensions)) and
//! produces [`DeflateParams`], which go into
//! [`Config::deflate`](crate::Config::deflate):
//!
//! ```
//! use wsmachine::deflate::{DeflateConfig, negotiate_server, offer, accept_response};
//!
//! // Client offer → server answer → client check.
//! let config = DeflateConfig::default();
//! let offered = offer(&config);
//! let (server_params, answer) = negotiate_server(&[offered], &config).expect("accepted");
//! let client_params = accept_response(&answer, &config).expect("valid answer");
//! assert_eq!(server_params, client_params);
//! ```
//!
//! Decompression is bounded: output stops one byte past `max_message_size`
//! and the connection fails with 1009, so a small bomb never inflates to more
//! than the limit.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The extension's registered name.
pub const NAME: &str = "permessage-deflate";

/// What this endpoint wants from permessage-deflate, for either role.
///
/// Window bits are 8 to 15 (RFC 7692 §7.1.2). A compressor window of 8 is
/// honoured by sending messages uncompressed (zlib cannot compress with a
/// 256-byte window), which the extension allows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Server: the largest window its compressor may use (caps what a client
    /// asks for; lower it to save memory). Client: the window it asks the
    /// server to use (offered when below 15). Default 15.
    pub server_max_window_bits: u8,
    /// Server: the window it asks the client to use (only when the client
    /// offered the parameter). Client: the largest window its compressor uses.
    /// Default 15.
    pub client_max_window_bits: u8,
    /// Server: always reset its compressor after each message. Client: ask the
    /// server to. Default false.
    pub server_no_context_takeover: bool,
    /// Server: ask the client to reset after each message. Client: reset
    /// after each message. Default false.
    pub client_no_context_takeover: bool,
    /// Compression level, 0-9. Default 6.
    pub level: u32,
    /// Messages smaller than this are sent uncompressed (compression does not
    /// pay for them). Default 64 bytes.
    pub min_compress_size: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            level: 6,
            min_compress_size: 64,
        }
    }
}

macro_rules! deflate_setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        impl DeflateConfig {
            $($(#[$doc])* #[must_use] pub fn $name(mut self, value: $ty) -> Self {
                self.$name = value;
                self
            })*
        }
    };
}

deflate_setters! {
    /// Sets [`DeflateConfig::server_max_window_bits`] (clamped to 8..=15).
    server_max_window_bits: u8;
    /// Sets [`DeflateConfig::client_max_window_bits`] (clamped to 8..=15).
    client_max_window_bits: u8;
    /// Sets [`DeflateConfig::server_no_context_takeover`].
    server_no_context_takeover: bool;
    /// Sets [`DeflateConfig::client_no_context_takeover`].
    client_no_context_takeover: bool;
    /// Sets [`DeflateConfig::level`].
    level: u32;
    /// Sets [`DeflateConfig::min_compress_size`].
    min_compress_size: usize;
}

/// The negotiated parameters (RFC 7692 §7.1), the same on both ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server compresses with at most this window (8-15).
    pub server_max_window_bits: u8,
    /// The client compresses with at most this window (8-15).
    pub client_max_window_bits: u8,
    /// Local setting: compression level (not negotiated).
    pub level: u32,
    /// Local setting: smallest message compressed (not negotiated).
    pub min_compress_size: usize,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value a server answers with.
    pub fn response_header(&self) -> String {
        let mut out = String::from(NAME);
        if self.server_no_context_takeover {
            out.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            out.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            out.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.client_max_window_bits < 15 {
            out.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        out
    }
}

/// One offer or response, parsed: which parameters appeared, with values.
#[derive(Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (offers only).
    client_max_window_bits: Option<Option<u8>>,
}

/// Parses one extension element (`name; param; param=value`), `None` if it is
/// not permessage-deflate or is malformed: an unknown or repeated parameter,
/// or a bad value (RFC 7692 §7.1: such an offer is declined, such a response
/// fails the connection).
fn parse(element: &str) -> Option<Parsed> {
    let mut parts = element.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case(NAME) {
        return None;
    }
    let mut p = Parsed::default();
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(unquote(v.trim())?)),
            None => (param, None),
        };
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() && !p.server_no_context_takeover => {
                p.server_no_context_takeover = true;
            }
            "client_no_context_takeover" if value.is_none() && !p.client_no_context_takeover => {
                p.client_no_context_takeover = true;
            }
            "server_max_window_bits" if p.server_max_window_bits.is_none() => {
                p.server_max_window_bits = Some(window_bits(value?)?);
            }
            "client_max_window_bits" if p.client_max_window_bits.is_none() => {
                p.client_max_window_bits = Some(match value {
                    Some(v) => Some(window_bits(v)?),
                    None => None,
                });
            }
            _ => return None,
        }
    }
    Some(p)
}

/// A parameter value, with the quotes of a quoted-string removed.
fn unquote(v: &str) -> Option<&str> {
    match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"'),
        None => Some(v),
    }
}

/// RFC 7692 §7.1.2: a decimal integer 8-15, no leading zeros.
fn window_bits(v: &str) -> Option<u8> {
    if v.is_empty() || v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bits: u8 = v.parse().ok()?;
    (8..=15).contains(&bits).then_some(bits)
}

/// Server: picks the first acceptable permessage-deflate offer among the
/// client's raw extension elements; returns the parameters and the response
/// header value, or `None` to decline (answer without the extension).
pub fn negotiate_server(
    offers: &[String],
    config: &DeflateConfig,
) -> Option<(DeflateParams, String)> {
    let cap_server = config.server_max_window_bits.clamp(8, 15);
    let cap_client = config.client_max_window_bits.clamp(8, 15);
    for element in offers {
        let Some(offer) = parse(element) else {
            continue;
        };
        // §7.1.2.1: answer server_max_window_bits with a value no larger than
        // the one offered; a server may also limit its window unasked.
        let server_bits = offer.server_max_window_bits.unwrap_or(15).min(cap_server);
        // §7.1.2.2: client_max_window_bits only if the client offered it.
        let client_bits = match offer.client_max_window_bits {
            Some(offered) => offered.unwrap_or(15).min(cap_client),
            None => 15,
        };
        let params = DeflateParams {
            // §7.1.1.1: an offered server_no_context_takeover MUST be honoured.
            server_no_context_takeover: offer.server_no_context_takeover
                || config.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || config.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
            level: config.level,
            min_compress_size: config.min_compress_size,
        };
        return Some((params, params.response_header()));
    }
    None
}

/// Client: the offer to put in `Sec-WebSocket-Extensions`.
///
/// Always offers `client_max_window_bits` (so a server may limit the
/// client's window), with a value when the config caps it.
pub fn offer(config: &DeflateConfig) -> String {
    let mut out = String::from(NAME);
    if config.server_no_context_takeover {
        out.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        out.push_str("; client_no_context_takeover");
    }
    let server_bits = config.server_max_window_bits.clamp(8, 15);
    if server_bits < 15 {
        out.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    let client_bits = config.client_max_window_bits.clamp(8, 15);
    if client_bits < 15 {
        out.push_str(&format!("; client_max_window_bits={client_bits}"));
    } else {
        out.push_str("; client_max_window_bits");
    }
    out
}

/// Client: validates the server's answer to [`offer`] (RFC 7692 §7.1); an
/// error means the client must fail the connection.
pub fn accept_response(
    response: &str,
    config: &DeflateConfig,
) -> Result<DeflateParams, DeflateError> {
    let p = parse(response).ok_or(DeflateError::MalformedResponse)?;
    let offered_server = config.server_max_window_bits.clamp(8, 15);
    let offered_client = config.client_max_window_bits.clamp(8, 15);
    // §7.1.2.1: the server's window may not exceed what was offered.
    let server_bits = p.server_max_window_bits.unwrap_or(15);
    if offered_server < 15 && server_bits > offered_server {
        return Err(DeflateError::WindowTooLarge);
    }
    // §7.1.2.2: client_max_window_bits in a response needs a value, no larger
    // than the offered one.
    let client_bits = match p.client_max_window_bits {
        None => offered_client,
        Some(None) => return Err(DeflateError::MalformedResponse),
        Some(Some(bits)) if bits > offered_client => return Err(DeflateError::WindowTooLarge),
        Some(Some(bits)) => bits,
    };
    if config.server_no_context_takeover && !p.server_no_context_takeover {
        return Err(DeflateError::MissingNoContextTakeover);
    }
    Ok(DeflateParams {
        server_no_context_takeover: p.server_no_context_takeover,
        client_no_context_takeover: p.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        level: config.level,
        min_compress_size: config.min_compress_size,
    })
}

/// Why a client refuses a server's permessage-deflate answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeflateError {
    /// Not permessage-deflate, an unknown or repeated parameter, or a bad value.
    #[error("malformed permessage-deflate response")]
    MalformedResponse,
    /// A window larger than the client allowed.
    #[error("permessage-deflate response with a window larger than offered")]
    WindowTooLarge,
    /// The client asked for server_no_context_takeover and the server ignored it.
    #[error("permessage-deflate response without the requested server_no_context_takeover")]
    MissingNoContextTakeover,
}

/// The tail a sender removes after a sync flush and a receiver appends back
/// (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Inflating would pass the limit, or the data is not valid deflate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    TooLarge,
    Corrupt,
}

/// One endpoint's compression state; compressor and decompressor are created
/// when first needed, so an idle connection that never compressed holds none.
pub(crate) struct DeflateState {
    params: DeflateParams,
    /// Our compressor window and reset rule, and the peer's.
    send_bits: u8,
    send_reset: bool,
    recv_bits: u8,
    recv_reset: bool,
    compress: Option<Compress>,
    decompress: Option<Decompress>,
    /// The peer's stream ended with a final block within this message.
    stream_ended: bool,
}

impl core::fmt::Debug for DeflateState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeflateState")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl DeflateState {
    pub(crate) fn new(params: DeflateParams, server: bool) -> Self {
        let (send_bits, send_reset, recv_bits, recv_reset) = if server {
            (
                params.server_max_window_bits,
                params.server_no_context_takeover,
                params.client_max_window_bits,
                params.client_no_context_takeover,
            )
        } else {
            (
                params.client_max_window_bits,
                params.client_no_context_takeover,
                params.server_max_window_bits,
                params.server_no_context_takeover,
            )
        };
        DeflateState {
            params,
            send_bits,
            send_reset,
            recv_bits,
            recv_reset,
            compress: None,
            decompress: None,
            stream_ended: false,
        }
    }

    /// Whether a message of `len` bytes should be compressed.
    pub(crate) fn should_compress(&self, len: usize) -> bool {
        // zlib cannot compress within a 256-byte window: send uncompressed.
        self.send_bits >= 9 && len >= self.params.min_compress_size
    }

    /// Compresses one whole message: deflate, sync flush, tail removed.
    pub(crate) fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let level = Compression::new(self.params.level.min(9));
        let bits = self.send_bits.clamp(9, 15);
        let c = self
            .compress
            .get_or_insert_with(|| Compress::new_with_window_bits(level, false, bits));
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let mut input = data;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before = c.total_in();
            let status = c.compress_vec(input, &mut out, FlushCompress::Sync);
            let used = usize::try_from(c.total_in() - before).unwrap_or(input.len());
            input = &input[used.min(input.len())..];
            // Done when all input is in and the flush fit in the buffer.
            if input.is_empty() && out.len() < out.capacity() && status.is_ok() {
                break;
            }
            if status.is_err() {
                break;
            }
        }
        // RFC 7692 §7.2.1: the output must end with an empty stored block,
        // whose last 4 bytes are then removed. zlib emits none for a flush
        // with nothing new (an empty message): append one, i.e. the byte 0x00
        // that remains of `00 00 00 ff ff`.
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        } else {
            out.push(0x00);
        }
        if self.send_reset {
            c.reset();
        }
        out
    }

    /// Inflates `input` (a piece of a compressed message) into `out`; with
    /// `last`, the message ends and the tail is appended. Never lets `out`
    /// grow past `limit + 1` bytes.
    pub(crate) fn decompress(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        // A larger window always decodes a smaller one; 9 is zlib's minimum.
        let bits = self.recv_bits.clamp(9, 15);
        let d = self
            .decompress
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        inflate_bounded(d, input, out, limit, &mut self.stream_ended, false)?;
        if last {
            // After a final block the stream is over: no tail to append.
            if !self.stream_ended {
                inflate_bounded(d, &TAIL, out, limit, &mut self.stream_ended, true)?;
            }
            self.stream_ended = false;
            if self.recv_reset {
                d.reset(false);
            }
        }
        Ok(())
    }
}

/// Runs the decompressor over all of `input` (a piece of the payload, or
/// with `tail` our appended `00 00 ff ff`), growing `out` at most to
/// `limit + 1` bytes (one past the limit proves the limit was crossed).
/// `ended` tells whether the payload so far ended a stream with a final block.
fn inflate_bounded(
    d: &mut Decompress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    ended: &mut bool,
    tail: bool,
) -> Result<(), InflateError> {
    if !tail && !input.is_empty() {
        // Payload after a final block starts a new stream.
        *ended = false;
    }
    let cap = limit.saturating_add(1);
    loop {
        if out.len() >= cap {
            return Err(InflateError::TooLarge);
        }
        let room = out.capacity() - out.len();
        if room == 0 {
            // Grow geometrically, never past the cap.
            let grow = out.len().max(4096).min(cap - out.len());
            out.reserve_exact(grow);
        }
        let spare_before = out.capacity() - out.len();
        let before = d.total_in();
        let status = d
            .decompress_vec(input, out, FlushDecompress::Sync)
            .map_err(|_| InflateError::Corrupt)?;
        let used = usize::try_from(d.total_in() - before).unwrap_or(input.len());
        input = &input[used.min(input.len())..];
        if out.len() > limit {
            return Err(InflateError::TooLarge);
        }
        let filled = out.capacity() == out.len();
        match status {
            // RFC 7692 §7.2.3.4: a sender may end a message with a block whose
            // BFINAL bit is set. The stream then ends here: what follows is
            // our own appended tail (ignored) or a new stream.
            // Payload bytes after it are a new stream (whatever the read
            // boundaries: more may follow in the next piece); what is left of
            // our tail is ignored.
            Status::StreamEnd => {
                d.reset(false);
                *ended = true;
                if tail || input.is_empty() {
                    return Ok(());
                }
                *ended = false;
            }
            _ if input.is_empty() && !filled => return Ok(()),
            // No progress with room to spare: the stream wants more input
            // than this piece has (fine) or is stuck.
            _ if !filled && used == 0 && spare_before > 0 => {
                return if input.is_empty() {
                    Ok(())
                } else {
                    Err(InflateError::Corrupt)
                };
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn pair(params: DeflateParams) -> (DeflateState, DeflateState) {
        (
            DeflateState::new(params, false),
            DeflateState::new(params, true),
        )
    }

    fn defaults() -> DeflateParams {
        negotiate_server(
            &[offer(&DeflateConfig::default())],
            &DeflateConfig::default(),
        )
        .unwrap()
        .0
    }

    #[test]
    fn rfc_7692_hello_vector() {
        // §7.2.3.1: "Hello" compressed is c2 48 cd c9 c9 07 00 (after removing the tail).
        let (mut client, mut server) = pair(defaults());
        let mut out = Vec::new();
        server
            .decompress(
                &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
                true,
                &mut out,
                100,
            )
            .unwrap();
        assert_eq!(out, b"Hello");
        let compressed = client.compress(b"Hello");
        let mut back = Vec::new();
        server
            .decompress(&compressed, true, &mut back, 100)
            .unwrap();
        assert_eq!(back, b"Hello");
    }

    #[test]
    fn context_takeover_shrinks_repeats_and_no_takeover_resets() {
        let (mut client, mut server) = pair(defaults());
        let msg = b"a fairly long message that repeats itself, a fairly long message";
        let first = client.compress(msg);
        let second = client.compress(msg);
        assert!(
            second.len() < first.len(),
            "{} vs {}",
            second.len(),
            first.len()
        );
        for c in [&first, &second] {
            let mut out = Vec::new();
            server.decompress(c, true, &mut out, 1000).unwrap();
            assert_eq!(out, msg);
        }
        let mut params = defaults();
        params.client_no_context_takeover = true;
        let (mut client, mut server) = pair(params);
        let first = client.compress(msg);
        let second = client.compress(msg);
        assert_eq!(first, second);
        for c in [&first, &second] {
            let mut out = Vec::new();
            server.decompress(c, true, &mut out, 1000).unwrap();
            assert_eq!(out, msg);
        }
    }

    #[test]
    fn bomb_stops_at_the_limit() {
        let (mut client, mut server) = pair(defaults());
        let big = vec![0u8; 4 << 20];
        let compressed = client.compress(&big);
        assert!(compressed.len() < 8 * 1024, "{}", compressed.len());
        let mut out = Vec::new();
        assert_eq!(
            server.decompress(&compressed, true, &mut out, 1 << 20),
            Err(InflateError::TooLarge)
        );
        assert!(out.capacity() <= (1 << 20) + 1, "{}", out.capacity());
    }

    #[test]
    fn a_final_block_ends_the_message_and_the_tail_is_ignored() {
        // RFC 7692 §7.2.3.4: "Hello" with BFINAL set, as a sender without
        // sync flush would produce it.
        let mut c = Compress::new_with_window_bits(Compression::default(), false, 15);
        let mut wire = Vec::with_capacity(64);
        c.compress_vec(b"Hello", &mut wire, FlushCompress::Finish)
            .unwrap();
        let (_, mut server) = pair(defaults());
        for _ in 0..2 {
            let mut out = Vec::new();
            server.decompress(&wire, true, &mut out, 100).unwrap();
            assert_eq!(out, b"Hello");
        }
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let (_, mut server) = pair(defaults());
        let mut out = Vec::new();
        assert_eq!(
            server.decompress(&[0xff, 0xff, 0xff, 0xff], true, &mut out, 100),
            Err(InflateError::Corrupt)
        );
    }

    #[test]
    fn negotiation_rules() {
        let cfg = DeflateConfig::default();
        // Offered server_no_context_takeover is honoured.
        let (p, h) = negotiate_server(
            &["permessage-deflate; server_no_context_takeover".into()],
            &cfg,
        )
        .unwrap();
        assert!(p.server_no_context_takeover);
        assert_eq!(h, "permessage-deflate; server_no_context_takeover");
        // A window offer is answered with no more than offered.
        let (p, h) = negotiate_server(
            &["permessage-deflate; server_max_window_bits=10".into()],
            &cfg,
        )
        .unwrap();
        assert_eq!(p.server_max_window_bits, 10);
        assert_eq!(h, "permessage-deflate; server_max_window_bits=10");
        // The server caps its own window; client window only if offered.
        let capped = DeflateConfig::default()
            .server_max_window_bits(11)
            .client_max_window_bits(12);
        let (p, _) = negotiate_server(&["permessage-deflate".into()], &capped).unwrap();
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (11, 15)
        );
        let (p, _) = negotiate_server(
            &["permessage-deflate; client_max_window_bits".into()],
            &capped,
        )
        .unwrap();
        assert_eq!(p.client_max_window_bits, 12);
        // Malformed offers are declined; the next acceptable one wins.
        for bad in [
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; unknown",
            "x-webkit-deflate-frame",
        ] {
            assert!(negotiate_server(&[bad.into()], &cfg).is_none(), "{bad}");
        }
        let offers = [
            "permessage-deflate; bogus".into(),
            "permessage-deflate; server_max_window_bits=\"9\"".into(),
        ];
        let (p, _) = negotiate_server(&offers, &cfg).unwrap();
        assert_eq!(p.server_max_window_bits, 9);
    }

    #[test]
    fn client_checks_the_response() {
        let cfg = DeflateConfig::default()
            .server_max_window_bits(10)
            .client_max_window_bits(12);
        assert_eq!(
            offer(&cfg),
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"
        );
        assert!(accept_response("permessage-deflate; server_max_window_bits=10", &cfg).is_ok());
        assert_eq!(
            accept_response("permessage-deflate; server_max_window_bits=11", &cfg),
            Err(DeflateError::WindowTooLarge)
        );
        assert_eq!(
            accept_response("permessage-deflate; client_max_window_bits=13", &cfg),
            Err(DeflateError::WindowTooLarge)
        );
        // Offered server_max_window_bits must be answered.
        assert_eq!(
            accept_response("permessage-deflate", &cfg),
            Err(DeflateError::WindowTooLarge)
        );
        let plain = DeflateConfig::default();
        assert_eq!(
            accept_response("permessage-deflate; client_max_window_bits", &plain),
            Err(DeflateError::MalformedResponse)
        );
        assert_eq!(
            accept_response("permessage-deflate; foo", &cfg),
            Err(DeflateError::MalformedResponse)
        );
        let nct = DeflateConfig::default().server_no_context_takeover(true);
        assert_eq!(
            accept_response("permessage-deflate", &nct),
            Err(DeflateError::MissingNoContextTakeover)
        );
    }

    #[test]
    fn window_8_sends_uncompressed() {
        let mut params = defaults();
        params.server_max_window_bits = 8;
        let server = DeflateState::new(params, true);
        assert!(!server.should_compress(10_000));
        let client = DeflateState::new(params, false);
        assert!(client.should_compress(10_000));
    }
}
