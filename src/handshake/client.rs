//! The client role: write the opening handshake, then read and validate the
//! server's response (RFC 6455 §4.1).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use bytes::{Buf as _, BytesMut};

use super::head::{Fields, HeadReader, list, list_quoted, trim};
use super::target::{self, Target};
use super::{HandshakeConfig, HandshakeError, accept_key, client_key, write};
use crate::Instant;

/// Headers [`ClientRequest::header`] may not set: the handshake writes them
/// (or has a dedicated setter), and the GET carries no body.
const CLIENT_MANAGED: &[&str] = &[
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Origin",
    "Content-Length",
    "Transfer-Encoding",
];

/// What a client asks for: the target URL, subprotocols, origin and extra
/// headers.
///
/// ```
/// use wsmachine::handshake::ClientRequest;
/// # fn main() -> Result<(), wsmachine::handshake::HandshakeError> {
/// let request = ClientRequest::from_url("wss://example.com/chat?room=1")?
///     .protocol("chat.v2")?
///     .protocol("chat.v1")?
///     .header("Authorization", "Bearer abc")?;
/// assert_eq!((request.host(), request.port()), ("example.com", 443));
/// assert!(request.is_secure());
/// # Ok(()) }
/// ```
///
/// Every setter validates its input (tokens, no CR/LF) and returns an error
/// rather than write something a server would misread. `Debug` shows header
/// names, not values.
#[derive(Clone)]
pub struct ClientRequest {
    target: Target,
    origin: Option<String>,
    protocols: Vec<String>,
    /// Extension offers for `Sec-WebSocket-Extensions` (e.g. from
    /// `deflate::offer`).
    extensions: Vec<String>,
    headers: Vec<(String, String)>,
}

impl ClientRequest {
    /// A request for a `ws://` or `wss://` URL (RFC 6455 §3):
    /// `ws://host[:port][/path][?query]`. The host may be an IPv6 literal in
    /// brackets (`ws://[::1]:9001/`); the port defaults to 80 (`ws`) or 443
    /// (`wss`); the path defaults to `/`. The path must be printable ASCII
    /// (percent-encode the rest); fragments and user info are refused with
    /// [`HandshakeError::InvalidUrl`].
    pub fn from_url(url: &str) -> Result<Self, HandshakeError> {
        Ok(ClientRequest {
            target: target::parse(url)?,
            origin: None,
            protocols: Vec::new(),
            extensions: Vec::new(),
            headers: Vec::new(),
        })
    }

    /// Offers a subprotocol, in order of preference (RFC 6455 §4.1 (10): a
    /// token, not offered twice); else [`HandshakeError::InvalidHeader`].
    pub fn protocol(mut self, protocol: &str) -> Result<Self, HandshakeError> {
        write::check_protocol(protocol)?;
        if self.protocols.iter().any(|p| p == protocol) {
            return Err(HandshakeError::InvalidHeader("subprotocol offered twice"));
        }
        self.protocols.push(String::from(protocol));
        Ok(self)
    }

    /// Offers an extension: one `Sec-WebSocket-Extensions` element with its
    /// parameters (e.g. `wsmachine::deflate::offer(&config)`), in order of
    /// preference (RFC 6455 §9.1). Refuses control bytes. The response may
    /// then only select offered extensions.
    pub fn extension(mut self, offer: &str) -> Result<Self, HandshakeError> {
        write::check_value(offer)?;
        if offer.trim().is_empty() {
            return Err(HandshakeError::InvalidHeader("empty extension offer"));
        }
        self.extensions.push(String::from(offer));
        Ok(self)
    }

    /// Sends an `Origin` header (RFC 6455 §4.1 (8): browsers must, other
    /// clients may). Refuses control bytes.
    pub fn origin(mut self, origin: &str) -> Result<Self, HandshakeError> {
        write::check_value(origin)?;
        self.origin = Some(String::from(origin));
        Ok(self)
    }

    /// Adds a request header (e.g. `Authorization`, `Cookie`, `User-Agent`).
    ///
    /// Fails with [`HandshakeError::InvalidHeader`] if the name is not a token,
    /// the value holds CR, LF or another control byte, or the header is one the
    /// handshake writes itself (`Host`, `Upgrade`, `Connection`, `Origin`,
    /// `Sec-WebSocket-*`, `Content-Length`, `Transfer-Encoding`).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, HandshakeError> {
        write::check_header(name, value, CLIENT_MANAGED)?;
        self.headers.push((String::from(name), String::from(value)));
        Ok(self)
    }

    /// Whether the URL was `wss://`: the caller must run TLS under the
    /// handshake.
    pub fn is_secure(&self) -> bool {
        self.target.secure
    }

    /// The host to connect to (an IPv6 literal without brackets).
    pub fn host(&self) -> &str {
        &self.target.host
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.target.port
    }

    /// The resource name (path and query) on the request line.
    pub fn resource(&self) -> &str {
        &self.target.resource
    }

    /// The `Host` header the request carries (port included unless default).
    pub fn host_header(&self) -> String {
        self.target.host_header()
    }

    /// The subprotocols offered, in order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }
}

impl fmt::Debug for ClientRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ClientRequest")
            .field("target", &self.target)
            .field("origin", &self.origin)
            .field("protocols", &self.protocols)
            .field("extensions", &self.extensions)
            .field("headers", &names)
            .finish()
    }
}

/// The client side of the opening handshake, sans-IO.
///
/// Write [`request_bytes`](Self::request_bytes), then feed the bytes read from
/// the socket to [`handle_read`](Self::handle_read) until it returns the
/// server's [`Response`]. Any bytes after the response head stay in the read
/// buffer: they are the server's first frames, for the connection.
///
/// Errors are terminal: later calls report the same error again. The deadline
/// works as for [`ServerHandshake`](super::ServerHandshake).
#[derive(Clone)]
pub struct ClientHandshake {
    reader: HeadReader,
    request: Vec<u8>,
    /// RFC 6455 §4.1: the `Sec-WebSocket-Accept` the server must send back.
    expected_accept: String,
    protocols: Vec<String>,
    /// Names of the extensions offered.
    extensions: Vec<String>,
    rejection: Option<Response>,
}

impl ClientHandshake {
    /// A handshake for `request`; `nonce` MUST be fresh random bytes for each
    /// connection (RFC 6455 §4.1 (7)); `now` starts the deadline
    /// ([`HandshakeConfig::timeout`]).
    pub fn new(
        config: HandshakeConfig,
        now: Instant,
        request: &ClientRequest,
        nonce: [u8; 16],
    ) -> Self {
        let key = client_key(nonce);
        // RFC 6455 §4.1: the request line with the resource name, then the
        // required headers (2)-(9), then the optional ones.
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(request.target.resource.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        write::header(&mut out, "Host", &request.target.host_header());
        write::header(&mut out, "Upgrade", "websocket");
        write::header(&mut out, "Connection", "Upgrade");
        write::header(&mut out, "Sec-WebSocket-Key", &key);
        write::header(&mut out, "Sec-WebSocket-Version", "13");
        if let Some(origin) = &request.origin {
            write::header(&mut out, "Origin", origin);
        }
        if !request.protocols.is_empty() {
            write::header(
                &mut out,
                "Sec-WebSocket-Protocol",
                &write::join(&request.protocols),
            );
        }
        if !request.extensions.is_empty() {
            write::header(
                &mut out,
                "Sec-WebSocket-Extensions",
                &write::join(&request.extensions),
            );
        }
        for (name, value) in &request.headers {
            write::header(&mut out, name, value);
        }
        write::end(&mut out);
        ClientHandshake {
            reader: HeadReader::new(&config, now, |seen| {
                httparse::Response::new(&mut []).parse(seen).map(|_| ())
            }),
            request: out,
            expected_accept: accept_key(key.as_bytes()),
            protocols: request.protocols.clone(),
            extensions: request
                .extensions
                .iter()
                .map(|offer| extension_name(offer.as_bytes()))
                .filter_map(|name| core::str::from_utf8(name).ok().map(String::from))
                .collect(),
            rejection: None,
        }
    }

    // --- getters ---

    /// The request to write to the server.
    pub fn request_bytes(&self) -> &[u8] {
        &self.request
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called: the
    /// deadline while the response head is incomplete; `None` once it was
    /// read, after an error, or without a timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.reader.poll_timeout()
    }

    /// After [`HandshakeError::UnexpectedStatus`]: the server's response,
    /// e.g. to follow a redirect's `Location` or answer a 401's
    /// `WWW-Authenticate` with a new handshake.
    pub fn rejection(&self) -> Option<&Response> {
        self.rejection.as_ref()
    }

    // --- inputs ---

    /// Reads the response head from the front of `buf`.
    ///
    /// - `Ok(None)`: the head is incomplete; nothing was consumed. Append the
    ///   next read to `buf` (do not consume from it) and call again.
    /// - `Ok(Some(response))`: a valid `101` response; exactly its head was
    ///   split off the front of `buf`, and any bytes after it (the server's
    ///   first frames) stay there. Later calls return `Ok(None)`.
    /// - `Err(HandshakeError::UnexpectedStatus(code))`: the server refused;
    ///   the head was consumed (any body follows in `buf`) and
    ///   [`rejection`](Self::rejection) holds the response.
    /// - Any other `Err`: RFC 6455 §4.1: the client MUST fail the connection.
    ///
    /// Interim `1xx` responses other than `101` are skipped (RFC 9110 §15.2).
    /// Limits, the early check of the start line and the deadline work as
    /// for the server.
    pub fn handle_read(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
    ) -> Result<Option<Response>, HandshakeError> {
        loop {
            let Some(end) = self.reader.find_end(now, buf)? else {
                return Ok(None);
            };
            let head = buf.get(..end).unwrap_or_default();
            let mut headers = vec![httparse::EMPTY_HEADER; self.reader.header_slots()];
            let mut parsed = httparse::Response::new(&mut headers);
            let len = match parsed.parse(head) {
                Ok(httparse::Status::Complete(len)) => len,
                // RFC 9112 §2.2: empty lines before the status line are skipped.
                Ok(httparse::Status::Partial) => continue,
                Err(error) => return Err(self.reader.parse_failed(error)),
            };
            let status = parsed.code.unwrap_or_default();
            match status {
                // RFC 6455 §4.1: only 101 completes the handshake.
                101 => {}
                // RFC 9110 §15.2: a client MUST be able to parse, and may
                // ignore, interim responses before the final one.
                100..=199 => {
                    buf.advance(len);
                    self.reader.restart();
                    continue;
                }
                // RFC 6455 §4.1: any other status is handled per HTTP; the
                // caller gets it with the headers.
                _ => {
                    self.rejection = Some(Response {
                        status,
                        protocol: None,
                        extensions: Vec::new(),
                        fields: Fields::new(parsed.headers),
                    });
                    buf.advance(len);
                    return Err(self.reader.fail(HandshakeError::UnexpectedStatus(status)));
                }
            }
            let response = self.validate(&parsed).map_err(|e| self.reader.fail(e))?;
            self.reader.finish();
            buf.advance(len);
            return Ok(Some(response));
        }
    }

    /// Fails with [`HandshakeError::Timeout`] if the response head is still
    /// incomplete at or after the deadline; early or spurious calls, and calls
    /// once the head was read, do nothing.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), HandshakeError> {
        self.reader.handle_timeout(now)
    }

    /// RFC 6455 §4.1: validates a `101` response, in the RFC's order.
    fn validate(&self, parsed: &httparse::Response<'_, '_>) -> Result<Response, HandshakeError> {
        // RFC 6455 §4.1: the response is HTTP/1.1 (httparse refused others
        // but 1.0).
        if parsed.version != Some(1) {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        let fields = Fields::new(parsed.headers);
        // RFC 6455 §4.1 (2): Upgrade MUST be "websocket" (case-insensitive),
        // and nothing else.
        let only_websocket = {
            let mut upgrade = fields.get_all("Upgrade").flat_map(list);
            match (upgrade.next(), upgrade.next()) {
                (Some(token), None) => token.eq_ignore_ascii_case(b"websocket"),
                _ => false,
            }
        };
        if !only_websocket {
            return Err(HandshakeError::ResponseMissingUpgrade);
        }
        // RFC 6455 §4.1 (3): Connection MUST include the token "Upgrade".
        if !fields.has_token("Connection", "upgrade") {
            return Err(HandshakeError::ResponseMissingConnectionUpgrade);
        }
        // RFC 6455 §4.1 (4): exactly the accept value derived from our key.
        match fields.get_unique("Sec-WebSocket-Accept") {
            Ok(Some(accept)) if accept == self.expected_accept.as_bytes() => {}
            _ => return Err(HandshakeError::InvalidAccept),
        }
        // RFC 6455 §4.1 (5): every extension in use MUST have been offered.
        let extensions = fields
            .get_all("Sec-WebSocket-Extensions")
            .flat_map(list_quoted)
            .map(|extension| {
                let name = extension_name(extension);
                let offered = self
                    .extensions
                    .iter()
                    .any(|offered| offered.as_bytes().eq_ignore_ascii_case(name));
                match core::str::from_utf8(extension) {
                    Ok(extension) if offered => Ok(String::from(extension)),
                    _ => Err(HandshakeError::UnexpectedExtension),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        // RFC 6455 §4.1 (6): at most one subprotocol, one that was offered.
        let protocol = match fields.get_unique("Sec-WebSocket-Protocol") {
            Ok(None) => None,
            Ok(Some(protocol)) => Some(
                self.protocols
                    .iter()
                    .find(|offered| offered.as_bytes() == protocol)
                    .cloned()
                    .ok_or(HandshakeError::UnexpectedProtocol)?,
            ),
            Err(_) => return Err(HandshakeError::UnexpectedProtocol),
        };
        Ok(Response {
            status: 101,
            protocol,
            extensions,
            fields,
        })
    }
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("reader", &self.reader)
            .field("request_len", &self.request.len())
            .field("protocols", &self.protocols)
            .field("extensions", &self.extensions)
            .field("rejection", &self.rejection)
            .finish_non_exhaustive()
    }
}

/// RFC 6455 §9.1: an extension's name is the token before its parameters.
fn extension_name(extension: &[u8]) -> &[u8] {
    let end = extension
        .iter()
        .position(|&b| b == b';')
        .unwrap_or(extension.len());
    trim(extension.get(..end).unwrap_or_default())
}

/// A server's response head: a valid `101` from
/// [`ClientHandshake::handle_read`], or a refusal from
/// [`ClientHandshake::rejection`]. `Debug` shows header names, not values.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    protocol: Option<String>,
    extensions: Vec<String>,
    fields: Fields,
}

impl Response {
    /// The status code (`101` for an accepted handshake).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The subprotocol the server selected, one of those offered.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions the server selected, raw (name and parameters); only
    /// offered ones get here.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// Every header field in order, as (name, value); values are trimmed.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &[u8])> + '_ {
        self.fields.iter()
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.fields.get(name)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|(name, _)| name).collect();
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("protocol", &self.protocol)
            .field("extensions", &self.extensions)
            .field("headers", &names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(request: &ClientRequest) -> ClientHandshake {
        ClientHandshake::new(
            HandshakeConfig::default(),
            Instant::ZERO,
            request,
            *b"the sample nonce",
        )
    }

    const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
        Sec-WebSocket-Protocol: chat\r\n\r\n";

    #[test]
    fn rfc_6455_section_1_3_exchange() {
        let request = ClientRequest::from_url("ws://server.example.com/chat")
            .and_then(|r| r.origin("http://example.com"))
            .and_then(|r| r.protocol("chat"))
            .and_then(|r| r.protocol("superchat"))
            .unwrap();
        let mut client = handshake(&request);
        assert_eq!(
            client.request_bytes(),
            b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n\
              Sec-WebSocket-Protocol: chat, superchat\r\n\r\n"
        );
        let mut buf = BytesMut::from(RESPONSE);
        let response = client
            .handle_read(Instant::ZERO, &mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(response.protocol(), Some("chat"));
        assert!(buf.is_empty());
    }

    #[test]
    fn offered_extensions_are_accepted() {
        // No public way to offer an extension yet; this is the hook
        // permessage-deflate will use.
        let mut request = ClientRequest::from_url("ws://server.example.com/chat").unwrap();
        request
            .extensions
            .push("permessage-deflate; client_max_window_bits".into());
        let mut client = handshake(&request);
        assert!(
            client
                .request_bytes()
                .windows(19)
                .any(|w| w == b"permessage-deflate;")
        );
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
              Sec-WebSocket-Extensions: Permessage-Deflate; server_no_context_takeover\r\n\r\n"[..],
        );
        let response = client
            .handle_read(Instant::ZERO, &mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(
            response.extensions(),
            ["Permessage-Deflate; server_no_context_takeover"]
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        let request = ClientRequest::from_url("ws://server.example.com/chat").unwrap();
        let mut client = handshake(&request);
        let mut buf = BytesMut::from(&b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"[..]);
        assert_eq!(client.handle_read(Instant::ZERO, &mut buf), Ok(None));
        assert!(buf.is_empty());
        buf.extend_from_slice(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        );
        assert!(
            client
                .handle_read(Instant::ZERO, &mut buf)
                .unwrap()
                .is_some()
        );
    }
}
