//! Every way a handshake can fail, and the one place that maps each to an
//! HTTP status code ([`HandshakeError::status`]) and an error response
//! ([`HandshakeError::response`]).

use alloc::format;
use alloc::vec::Vec;

use super::write;

/// Why a handshake failed.
///
/// Variants fall in four groups:
///
/// - **Either role reading a head** (`Malformed` .. `Timeout`): the status is the
///   server's answer; a client only uses it to classify the failure.
/// - **Server reading a request** (`MethodNotAllowed` .. `RequestBody`):
///   the peer is a client that sent a handshake the server refuses.
/// - **Client reading a response** (`UnexpectedStatus` .. `UnexpectedExtension`):
///   the server's answer is not a valid RFC 6455 §4.1 response. Nothing is sent
///   back; these map to `502 Bad Gateway`, what a proxy would answer for a bad
///   upstream response.
/// - **Caller misuse** (`ProtocolNotOffered` .. `InvalidUrl`): an argument the
///   application passed is invalid; no peer did anything wrong. These map to
///   `500 Internal Server Error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    // --- either role, reading a head ---
    /// The head is not valid HTTP/1.1 syntax (the reason says where).
    #[error("malformed HTTP head: {0}")]
    Malformed(&'static str),
    /// The head did not end within `max_head_bytes`.
    #[error("HTTP head larger than {limit} bytes")]
    HeadTooLarge {
        /// The configured `max_head_bytes`.
        limit: usize,
    },
    /// The head has more header fields than `max_headers`.
    #[error("more than {limit} header fields")]
    TooManyHeaders {
        /// The configured `max_headers`.
        limit: usize,
    },
    /// RFC 6455 §4.1, §4.2.1: the handshake is HTTP/1.1 (or later); this head
    /// claimed another version.
    #[error("HTTP version is not HTTP/1.1")]
    UnsupportedHttpVersion,
    /// The head was not complete at the handshake deadline
    /// (`HandshakeConfig::timeout`).
    #[error("the handshake did not complete before its deadline")]
    Timeout,

    // --- server, reading a request ---
    /// RFC 6455 §4.2.1: the method of the opening handshake MUST be GET.
    #[error("method is not GET")]
    MethodNotAllowed,
    /// RFC 6455 §4.2.1: the request has no (or an empty) `Host` header.
    #[error("missing Host header")]
    MissingHost,
    /// A header that must appear at most once appeared several times.
    #[error("duplicate {0} header")]
    DuplicateHeader(&'static str),
    /// RFC 6455 §4.2.1: no `Upgrade` header with the token `websocket`.
    #[error("Upgrade header missing or without the websocket token")]
    MissingUpgrade,
    /// RFC 6455 §4.2.1: no `Connection` header with the token `upgrade`.
    #[error("Connection header missing or without the upgrade token")]
    MissingConnectionUpgrade,
    /// RFC 6455 §4.2.1, §4.4: `Sec-WebSocket-Version` is missing or is not 13.
    #[error("Sec-WebSocket-Version missing or not 13")]
    UnsupportedVersion,
    /// RFC 6455 §4.2.1: `Sec-WebSocket-Key` is missing or does not decode
    /// (base64) to exactly 16 bytes.
    #[error("Sec-WebSocket-Key missing or not 16 bytes of base64")]
    InvalidKey,
    /// RFC 6455 §4.2.2, §10.2: the `Origin` is not in the server's allow list.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// RFC 9112 §6.3: the request announces a body (`Transfer-Encoding`, or a
    /// `Content-Length` other than 0). The bytes after the head would be
    /// that body, not WebSocket frames; a handshake has no use for one.
    #[error("the request has a body (Transfer-Encoding or Content-Length)")]
    RequestBody,

    // --- client, reading a response ---
    /// RFC 6455 §4.1: the server answered with a status other than 101.
    #[error("server answered with status {0} instead of 101")]
    UnexpectedStatus(u16),
    /// RFC 6455 §4.1: the response's `Upgrade` header is missing or is not
    /// `websocket`.
    #[error("response Upgrade header missing or not websocket")]
    ResponseMissingUpgrade,
    /// RFC 6455 §4.1: the response's `Connection` header is missing or lacks the
    /// token `upgrade`.
    #[error("response Connection header missing or without the upgrade token")]
    ResponseMissingConnectionUpgrade,
    /// RFC 6455 §4.1: `Sec-WebSocket-Accept` is missing, repeated, or not the
    /// value derived from our key.
    #[error("Sec-WebSocket-Accept missing or wrong")]
    InvalidAccept,
    /// RFC 6455 §4.1: the server selected a subprotocol the client did not offer
    /// (or several).
    #[error("server selected a subprotocol that was not offered")]
    UnexpectedProtocol,
    /// RFC 6455 §4.1: the server selected an extension the client did not offer.
    #[error("server selected an extension that was not offered")]
    UnexpectedExtension,

    // --- caller misuse ---
    /// RFC 6455 §4.2.2: the application tried to accept with a subprotocol the
    /// client did not offer.
    #[error("accepted subprotocol was not offered by the client")]
    ProtocolNotOffered,
    /// A header name, value or subprotocol passed by the application is
    /// invalid (not a token, contains CR/LF or another control byte, or is a
    /// header the handshake writes itself).
    #[error("invalid header: {0}")]
    InvalidHeader(&'static str),
    /// The application asked to reject with a status outside 200..=599.
    #[error("status {0} cannot be used to reject a handshake")]
    InvalidStatus(u16),
    /// The URL passed to `ClientRequest::from_url` is not a valid ws:// or
    /// wss:// URL.
    #[error("invalid WebSocket URL: {0}")]
    InvalidUrl(&'static str),
}

impl HandshakeError {
    /// The HTTP status code for this error.
    ///
    /// The one place errors map to status codes; exhaustive on purpose:
    ///
    /// | Variant | Status |
    /// |---|---|
    /// | `Malformed`, `MissingHost`, `DuplicateHeader`, `MissingUpgrade`, `MissingConnectionUpgrade`, `InvalidKey`, `RequestBody` | 400 Bad Request |
    /// | `OriginNotAllowed` | 403 Forbidden |
    /// | `MethodNotAllowed` | 405 Method Not Allowed |
    /// | `Timeout` | 408 Request Timeout |
    /// | `UnsupportedVersion` | 426 Upgrade Required |
    /// | `HeadTooLarge`, `TooManyHeaders` | 431 Request Header Fields Too Large |
    /// | `ProtocolNotOffered`, `InvalidHeader`, `InvalidStatus`, `InvalidUrl` (caller misuse) | 500 Internal Server Error |
    /// | `UnexpectedStatus`, `ResponseMissingUpgrade`, `ResponseMissingConnectionUpgrade`, `InvalidAccept`, `UnexpectedProtocol`, `UnexpectedExtension` (client side) | 502 Bad Gateway |
    /// | `UnsupportedHttpVersion` | 505 HTTP Version Not Supported |
    pub const fn status(&self) -> u16 {
        match self {
            HandshakeError::Malformed(_)
            | HandshakeError::MissingHost
            | HandshakeError::DuplicateHeader(_)
            | HandshakeError::MissingUpgrade
            | HandshakeError::MissingConnectionUpgrade
            | HandshakeError::InvalidKey
            | HandshakeError::RequestBody => 400,
            HandshakeError::OriginNotAllowed => 403,
            HandshakeError::MethodNotAllowed => 405,
            HandshakeError::Timeout => 408,
            HandshakeError::UnsupportedVersion => 426,
            HandshakeError::HeadTooLarge { .. } | HandshakeError::TooManyHeaders { .. } => 431,
            HandshakeError::ProtocolNotOffered
            | HandshakeError::InvalidHeader(_)
            | HandshakeError::InvalidStatus(_)
            | HandshakeError::InvalidUrl(_) => 500,
            HandshakeError::UnexpectedStatus(_)
            | HandshakeError::ResponseMissingUpgrade
            | HandshakeError::ResponseMissingConnectionUpgrade
            | HandshakeError::InvalidAccept
            | HandshakeError::UnexpectedProtocol
            | HandshakeError::UnexpectedExtension => 502,
            HandshakeError::UnsupportedHttpVersion => 505,
        }
    }

    /// A complete, minimal HTTP/1.1 error response for this error, ready to
    /// write before closing the connection.
    ///
    /// Meant for errors a server gets from
    /// [`ServerHandshake::handle_read`](super::ServerHandshake::handle_read),
    /// [`handle_timeout`](super::ServerHandshake::handle_timeout) or
    /// [`OriginPolicy::check`](super::OriginPolicy::check). It carries the
    /// status line, `Connection: close`, `Content-Type`, `Content-Length` and a
    /// one-line text body (the error's `Display`). `426` adds
    /// `Sec-WebSocket-Version: 13` and `Upgrade: websocket` (RFC 6455 §4.4,
    /// RFC 9110 §15.5.22); `405` adds `Allow: GET` (RFC 9110 §15.5.6).
    /// Other variants get a response with their [`status`](Self::status) too,
    /// but a client has no one to send it to.
    #[must_use]
    pub fn response(&self) -> Vec<u8> {
        let extra: &[(&str, &str)] = match self {
            // RFC 6455 §4.4: a version mismatch answer MUST list the versions the
            // server supports; RFC 9110 §15.5.22: a 426 MUST carry `Upgrade`.
            HandshakeError::UnsupportedVersion => {
                &[("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket")]
            }
            // RFC 9110 §15.5.6: a 405 MUST carry `Allow`.
            HandshakeError::MethodNotAllowed => &[("Allow", "GET")],
            _ => &[],
        };
        let body = format!("{self}\n");
        let mut out = write::status_line(self.status());
        write::header(&mut out, "Connection", "close");
        for (name, value) in extra {
            write::header(&mut out, name, value);
        }
        write::header(&mut out, "Content-Type", "text/plain; charset=utf-8");
        write::body(&mut out, body.as_bytes());
        out
    }
}
