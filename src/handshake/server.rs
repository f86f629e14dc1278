//! The server role: read and validate the client's opening handshake, then
//! write the application's answer (RFC 6455 §4.2).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use bytes::{Buf as _, BytesMut};

use super::head::HeadReader;
use super::request::{self, Request};
use super::{HandshakeConfig, HandshakeError, accept_key, write};
use crate::Instant;

/// Headers an [`Accept`] may not set: the `101` response writes them itself,
/// and a 101 has no body (RFC 9110 §15.2.2).
const ACCEPT_MANAGED: &[&str] = &[
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Content-Length",
    "Transfer-Encoding",
];

/// Headers [`ServerHandshake::reject`] writes itself.
const REJECT_MANAGED: &[&str] = &["Connection", "Content-Length", "Transfer-Encoding"];

/// The server side of the opening handshake, sans-IO.
///
/// Feed it the bytes read from the socket with
/// [`handle_read`](Self::handle_read) until it returns a [`Request`]; the
/// application then inspects the request (path, origin, subprotocols, cookies)
/// and answers with [`accept`](Self::accept) or [`reject`](Self::reject), whose
/// bytes the caller writes. Any bytes after the request head stay in the read
/// buffer: they are the client's first frames, for the connection.
///
/// On an `Err` from `handle_read` or `handle_timeout`, write
/// [`HandshakeError::response`] and close. Errors are terminal: later calls
/// report the same error again.
///
/// The deadline is sans-IO like the rest of the crate: sleep until
/// [`poll_timeout`](Self::poll_timeout), then call
/// [`handle_timeout`](Self::handle_timeout).
#[derive(Clone, Debug)]
pub struct ServerHandshake {
    reader: HeadReader,
}

impl ServerHandshake {
    /// A handshake waiting for a request; `now` starts the deadline
    /// ([`HandshakeConfig::timeout`]).
    pub fn new(config: HandshakeConfig, now: Instant) -> Self {
        ServerHandshake {
            reader: HeadReader::new(&config, now, |seen| {
                httparse::Request::new(&mut []).parse(seen).map(|_| ())
            }),
        }
    }

    // --- getters ---

    /// When [`handle_timeout`](Self::handle_timeout) should be called: the
    /// deadline while the request head is incomplete; `None` once it was read,
    /// after an error, or without a timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.reader.poll_timeout()
    }

    // --- inputs ---

    /// Reads the request head from the front of `buf`.
    ///
    /// - `Ok(None)`: the head is incomplete; nothing was consumed. Append the
    ///   next read to `buf` (do not consume from it) and call again.
    /// - `Ok(Some(request))`: the head was complete and valid; exactly the head
    ///   was split off the front of `buf`, and any bytes after it stay there.
    ///   Later calls return `Ok(None)` and consume nothing.
    /// - `Err(e)`: write [`e.response()`](HandshakeError::response) and close.
    ///
    /// The head is checked against RFC 6455 §4.2.1; a request that announces
    /// a body (`Transfer-Encoding`, or a `Content-Length` other than 0) is
    /// refused too (`400`), as bytes after the head would be body, not frames.
    ///
    /// Limits apply while the head is partial: more than `max_head_bytes`
    /// without the blank line that ends the head, or more than `max_headers`
    /// header lines, fail with `431` at once. Bytes that cannot begin an
    /// HTTP/1.1 request (a TLS handshake on a plain port, another protocol)
    /// fail at once too, with the error the complete head would give (`400`,
    /// or `505` for another version): the start line is checked within its
    /// first KiB and once it is whole. A head still incomplete at or after
    /// the deadline fails with [`HandshakeError::Timeout`]; one that
    /// completes in this call is accepted.
    pub fn handle_read(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
    ) -> Result<Option<Request>, HandshakeError> {
        loop {
            let Some(end) = self.reader.find_end(now, buf)? else {
                return Ok(None);
            };
            let head = buf.get(..end).unwrap_or_default();
            let mut headers = vec![httparse::EMPTY_HEADER; self.reader.header_slots()];
            let mut parsed = httparse::Request::new(&mut headers);
            let len = match parsed.parse(head) {
                Ok(httparse::Status::Complete(len)) => len,
                // RFC 9112 §2.2: empty lines before the request line are
                // skipped; the head proper has not ended yet.
                Ok(httparse::Status::Partial) => continue,
                Err(error) => return Err(self.reader.parse_failed(error)),
            };
            let request = request::validate(&parsed).map_err(|e| self.reader.fail(e))?;
            self.reader.finish();
            // The request owns a copy of what it needs; the caller's buffer
            // keeps its allocation for the frames that follow.
            buf.advance(len);
            return Ok(Some(request));
        }
    }

    /// Fails with [`HandshakeError::Timeout`] if the request head is still
    /// incomplete at or after the deadline; early or spurious calls, and calls
    /// once the head was read, do nothing.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), HandshakeError> {
        self.reader.handle_timeout(now)
    }

    // --- commands ---

    /// The `101 Switching Protocols` response accepting `request`.
    ///
    /// Writes `Upgrade: websocket`, `Connection: Upgrade`, the
    /// `Sec-WebSocket-Accept` derived from the client's key (RFC 6455 §4.2.2),
    /// the selected subprotocol if any, then the extra headers of `accept`.
    ///
    /// Fails with [`HandshakeError::ProtocolNotOffered`] if the subprotocol was
    /// not among [`Request::protocols`], and with
    /// [`HandshakeError::InvalidHeader`] for a header name that is not a token,
    /// a value with CR, LF or other control bytes, or a header this method
    /// writes itself; nothing is written then.
    pub fn accept(
        &mut self,
        request: &Request,
        accept: &Accept,
    ) -> Result<Vec<u8>, HandshakeError> {
        if let Some(protocol) = &accept.protocol {
            // RFC 6455 §4.2.2: the selected subprotocol MUST be one the client
            // offered.
            if !request::offered(request, protocol) {
                return Err(HandshakeError::ProtocolNotOffered);
            }
            write::check_protocol(protocol)?;
        }
        for (name, value) in &accept.headers {
            write::check_header(name, value, ACCEPT_MANAGED)?;
        }
        if let Some(extensions) = &accept.extensions {
            write::check_value(extensions)?;
        }
        // RFC 6455 §4.2.2 (5): status 101, Upgrade, Connection, the accept key.
        let mut out = write::status_line(101);
        write::header(&mut out, "Upgrade", "websocket");
        write::header(&mut out, "Connection", "Upgrade");
        let key = accept_key(request.key().as_bytes());
        write::header(&mut out, "Sec-WebSocket-Accept", &key);
        if let Some(protocol) = &accept.protocol {
            write::header(&mut out, "Sec-WebSocket-Protocol", protocol);
        }
        if let Some(extensions) = &accept.extensions {
            write::header(&mut out, "Sec-WebSocket-Extensions", extensions);
        }
        for (name, value) in &accept.headers {
            write::header(&mut out, name, value);
        }
        write::end(&mut out);
        self.reader.finish();
        Ok(out)
    }

    /// A complete response refusing the handshake: `status`, `Connection:
    /// close`, `headers`, `Content-Length` and `body` (RFC 6455 §4.2.2: any
    /// status other than 101 refuses).
    ///
    /// `status` must be in 200..=599 (e.g. 401 with `WWW-Authenticate`, 3xx
    /// with `Location`), else [`HandshakeError::InvalidStatus`]. Header names
    /// and values are checked as in [`accept`](Self::accept); `Connection`,
    /// `Content-Length` and `Transfer-Encoding` are written here and refused.
    /// The caller writes the bytes and closes the connection.
    pub fn reject(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<u8>, HandshakeError> {
        if !(200..=599).contains(&status) {
            return Err(HandshakeError::InvalidStatus(status));
        }
        for (name, value) in headers {
            write::check_header(name, value, REJECT_MANAGED)?;
        }
        let mut out = write::status_line(status);
        write::header(&mut out, "Connection", "close");
        for (name, value) in headers {
            write::header(&mut out, name, value);
        }
        write::body(&mut out, body);
        self.reader.finish();
        Ok(out)
    }
}

/// How the application accepts a handshake: the selected subprotocol and
/// extra response headers (e.g. `Set-Cookie`).
///
/// ```
/// use wsmachine::handshake::Accept;
/// let accept = Accept::new().protocol("chat").header("X-Server", "wsmachine");
/// assert_eq!(accept.selected_protocol(), Some("chat"));
/// ```
///
/// Values are checked when [`ServerHandshake::accept`] writes them. `Debug`
/// shows header names, not values.
#[derive(Clone, Default)]
pub struct Accept {
    protocol: Option<String>,
    extensions: Option<String>,
    headers: Vec<(String, String)>,
}

impl Accept {
    /// Accept with no subprotocol and no extra headers.
    pub fn new() -> Self {
        Accept::default()
    }

    /// Selects a subprotocol; it must be one the client offered
    /// ([`Request::protocols`]).
    #[must_use]
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Selects extensions: the `Sec-WebSocket-Extensions` response value, e.g.
    /// from `wsmachine::deflate::negotiate_server` (RFC 6455 §9.1: only
    /// extensions the client offered).
    #[must_use]
    pub fn extensions(mut self, value: impl Into<String>) -> Self {
        self.extensions = Some(value.into());
        self
    }

    /// Adds a response header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The selected subprotocol, if any.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }
}

impl fmt::Debug for Accept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Accept")
            .field("protocol", &self.protocol)
            .field("headers", &names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\
        Upgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn rfc_6455_section_1_3_exchange() {
        let mut server = ServerHandshake::new(HandshakeConfig::default(), Instant::ZERO);
        let mut buf = BytesMut::from(REQUEST);
        let request = server
            .handle_read(Instant::ZERO, &mut buf)
            .unwrap()
            .unwrap();
        assert!(buf.is_empty());
        assert_eq!(request.protocols(), ["chat", "superchat"]);
        let response = server
            .accept(&request, &Accept::new().protocol("chat"))
            .unwrap();
        assert_eq!(
            response,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
              Sec-WebSocket-Protocol: chat\r\n\r\n"
        );
        assert_eq!(server.poll_timeout(), None);
        assert_eq!(server.handle_read(Instant::ZERO, &mut buf), Ok(None));
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let mut server = ServerHandshake::new(HandshakeConfig::default(), Instant::ZERO);
        let mut buf = BytesMut::from(&b"\r\n\r\n"[..]);
        assert_eq!(server.handle_read(Instant::ZERO, &mut buf), Ok(None));
        buf.extend_from_slice(REQUEST);
        assert!(
            server
                .handle_read(Instant::ZERO, &mut buf)
                .unwrap()
                .is_some()
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn debug_hides_header_values() {
        let mut server = ServerHandshake::new(HandshakeConfig::default(), Instant::ZERO);
        let mut buf = BytesMut::from(REQUEST);
        let request = server
            .handle_read(Instant::ZERO, &mut buf)
            .unwrap()
            .unwrap();
        let debug = alloc::format!("{request:?}");
        assert!(debug.contains("Sec-WebSocket-Key"));
        assert!(!debug.contains("dGhlIHNhbXBsZSBub25jZQ=="));
        let accept = Accept::new().header("Set-Cookie", "secret=1");
        assert!(!alloc::format!("{accept:?}").contains("secret"));
    }
}
