//! The client's opening handshake as a server sees it: validated against
//! RFC 6455 §4.2.1 and kept, owned, for the application to decide on.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::HandshakeError;
use super::head::{Fields, list, list_quoted, text};

/// A valid opening handshake from a client (RFC 6455 §4.2.1).
///
/// Returned by [`ServerHandshake::handle_read`](super::ServerHandshake::handle_read);
/// pass it to [`accept`](super::ServerHandshake::accept) or answer with
/// [`reject`](super::ServerHandshake::reject). `Debug` shows header names but
/// not their values (they may hold cookies or credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    path: String,
    host: String,
    origin: Option<String>,
    key: String,
    protocols: Vec<String>,
    extensions: Vec<String>,
    fields: Fields,
}

impl Request {
    /// The resource name (RFC 6455 §3), path and query, e.g. `/chat?room=1`:
    /// the request target as sent, or its path and query when the client
    /// sent an absolute URI (`GET ws://host/chat?room=1`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `Host` header.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The `Origin` header, if any (browsers always send one, RFC 6455 §4.1).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The `Sec-WebSocket-Key` header, trimmed; it decodes to 16 bytes.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The subprotocols the client offered, in its order of preference
    /// (every `Sec-WebSocket-Protocol` header, split on commas, trimmed).
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extension offers, raw (every `Sec-WebSocket-Extensions` header,
    /// split on commas outside quoted strings, trimmed), e.g.
    /// `permessage-deflate; client_max_window_bits`.
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

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|(name, _)| name).collect();
        f.debug_struct("Request")
            .field("path", &self.path)
            .field("host", &self.host)
            .field("origin", &self.origin)
            .field("protocols", &self.protocols)
            .field("extensions", &self.extensions)
            .field("headers", &names)
            .finish_non_exhaustive()
    }
}

/// Validates a parsed request head (RFC 6455 §4.2.1) and keeps what the
/// application needs. `parsed` must come from a `Status::Complete` parse.
pub(crate) fn validate(parsed: &httparse::Request<'_, '_>) -> Result<Request, HandshakeError> {
    // RFC 6455 §4.2.1 (1): the method MUST be GET.
    if parsed.method != Some("GET") {
        return Err(HandshakeError::MethodNotAllowed);
    }
    // RFC 6455 §4.2.1 (1): an HTTP/1.1 or higher GET request; httparse has
    // already refused anything but 1.0 and 1.1.
    if parsed.version != Some(1) {
        return Err(HandshakeError::UnsupportedHttpVersion);
    }
    let target = parsed
        .path
        .ok_or(HandshakeError::Malformed("no request target"))?;
    let path = resource_name(target).ok_or(HandshakeError::Malformed(
        "request target is neither a path nor an absolute URI",
    ))?;
    let fields = Fields::new(parsed.headers);

    // RFC 6455 §4.2.1 (2): a Host header; RFC 9112 §3.2: a server MUST answer
    // 400 to a request with more than one.
    let host = match fields.get_unique("Host")? {
        Some(host) if !host.is_empty() => text(host, "Host is not UTF-8")?,
        _ => return Err(HandshakeError::MissingHost),
    };
    // RFC 9112 §6.3: a request with `Transfer-Encoding` or a non-zero
    // `Content-Length` has a body, and the bytes after its head are that
    // body, not the first WebSocket frames. A handshake has no use for one
    // (RFC 6455 §4.1 describes a bare GET), and reading a body as frames is
    // how a smuggled request would get past an intermediary: refused.
    if fields.get("Transfer-Encoding").is_some() {
        return Err(HandshakeError::RequestBody);
    }
    match fields.get_unique("Content-Length")? {
        Some(length) if length.is_empty() || length.iter().any(|&b| b != b'0') => {
            return Err(HandshakeError::RequestBody);
        }
        _ => {}
    }
    // RFC 6455 §4.2.1 (3): Upgrade includes "websocket", case-insensitive.
    if !fields.has_token("Upgrade", "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    // RFC 6455 §4.2.1 (4): Connection includes the token "Upgrade",
    // case-insensitive (browsers may send `keep-alive, Upgrade`).
    if !fields.has_token("Connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    // RFC 6455 §4.2.1 (6), §4.4: version 13, else 426 with the versions we
    // speak. Checked before the key: a client of another version may shape its
    // key differently, and 426 tells it what to retry with.
    match fields.get_unique("Sec-WebSocket-Version")? {
        Some(version) if version == b"13" => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    // RFC 6455 §4.2.1 (5): the key is a base64-encoded 16-byte value. 16 bytes
    // encode to exactly 24 characters; checking the length first bounds the
    // decode.
    let key = fields
        .get_unique("Sec-WebSocket-Key")?
        .ok_or(HandshakeError::InvalidKey)?;
    let decodes_to_16 = key.len() == 24 && STANDARD.decode(key).is_ok_and(|k| k.len() == 16);
    if !decodes_to_16 {
        return Err(HandshakeError::InvalidKey);
    }
    let key = text(key, "Sec-WebSocket-Key is not UTF-8")?;
    // RFC 6455 §4.2.1 (7), RFC 6454 §7.3: at most one Origin; two could be
    // used to slip past an allow list that looks at only one of them.
    let origin = fields
        .get_unique("Origin")?
        .map(|origin| text(origin, "Origin is not UTF-8"))
        .transpose()?;
    // RFC 6455 §4.2.1 (8): subprotocols in order of preference, possibly over
    // several headers (RFC 6455 §11.3.4).
    let protocols = fields
        .get_all("Sec-WebSocket-Protocol")
        .flat_map(list)
        .map(|p| text(p, "Sec-WebSocket-Protocol is not UTF-8"))
        .collect::<Result<Vec<_>, _>>()?;
    // RFC 6455 §4.2.1 (9), §9.1: extension offers, possibly over several headers.
    let extensions = fields
        .get_all("Sec-WebSocket-Extensions")
        .flat_map(list_quoted)
        .map(|e| text(e, "Sec-WebSocket-Extensions is not UTF-8"))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Request {
        path,
        host,
        origin,
        key,
        protocols,
        extensions,
        fields,
    })
}

/// The resource name (RFC 6455 §3: path and query) of a request target in
/// origin form (`/chat?room=1`) or absolute form (`ws://host/chat?room=1`;
/// RFC 6455 §4.2.1 (1) allows an absolute http, https, ws or wss URI, and
/// RFC 9112 §3.2.2 asks servers to accept it). Any other form (`*`,
/// `host:port`, another scheme, no host) is `None`.
fn resource_name(target: &str) -> Option<String> {
    if target.starts_with('/') {
        return Some(String::from(target));
    }
    let (scheme, rest) = target.split_once("://")?;
    if !["http", "https", "ws", "wss"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
    {
        return None;
    }
    // The authority runs to the path or the query.
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    let resource = &rest[end..];
    Some(if resource.starts_with('/') {
        String::from(resource)
    } else {
        // An empty path is "/" (RFC 6455 §3), before any query.
        alloc::format!("/{resource}")
    })
}

/// Whether `request` offered `protocol` (RFC 6455 §11.3.4: subprotocol names
/// are case-sensitive).
pub(crate) fn offered(request: &Request, protocol: &str) -> bool {
    request.protocols.iter().any(|p| p == protocol)
}
