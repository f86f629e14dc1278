//! Writing HTTP/1.1 heads, and checking what the application asks us to write.
//!
//! Everything written here comes from `&str`s the handshake or the application
//! chose; every application-supplied name and value goes through
//! [`check_header`] first so that no CR/LF can split a header (header
//! injection, RFC 9112 §2.2).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::HandshakeError;

/// `HTTP/1.1 <status> <reason>\r\n`.
pub(crate) fn status_line(status: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

/// `<name>: <value>\r\n`; both must have been checked (or be our own constants).
pub(crate) fn header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `Content-Length`, the blank line ending the head, then the body.
pub(crate) fn body(out: &mut Vec<u8>, body: &[u8]) {
    header(out, "Content-Length", &body.len().to_string());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// The blank line ending a head without a body.
pub(crate) fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

/// Joins list items with `", "` (RFC 9110 §5.6.1 list syntax).
pub(crate) fn join(items: &[String]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(item);
    }
    out
}

/// RFC 9110 §5.6.2: `tchar`, the characters of a token.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 §5.6.2: a token is one or more `tchar`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Checks an application-supplied header: the name is a token, the value has
/// no control bytes but HTAB (RFC 9110 §5.5: CR, LF and NUL are never
/// allowed; other controls are rejected by strict parsers), and the name is not
/// one of `managed`, the headers the handshake writes itself.
pub(crate) fn check_header(
    name: &str,
    value: &str,
    managed: &[&str],
) -> Result<(), HandshakeError> {
    if !is_token(name) {
        return Err(HandshakeError::InvalidHeader("header name is not a token"));
    }
    check_value(value)?;
    if managed.iter().any(|m| m.eq_ignore_ascii_case(name)) {
        return Err(HandshakeError::InvalidHeader(
            "header is written by the handshake itself",
        ));
    }
    Ok(())
}

/// Checks an application-supplied header value (see [`check_header`]).
pub(crate) fn check_value(value: &str) -> Result<(), HandshakeError> {
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HandshakeError::InvalidHeader(
            "header value contains CR, LF or another control byte",
        ));
    }
    Ok(())
}

/// RFC 6455 §4.1: subprotocol names are non-empty tokens; they are written in
/// a header, so the check also rules out header injection.
pub(crate) fn check_protocol(protocol: &str) -> Result<(), HandshakeError> {
    if is_token(protocol) {
        Ok(())
    } else {
        Err(HandshakeError::InvalidHeader("subprotocol is not a token"))
    }
}

/// The reason phrase for a status; any phrase is valid (RFC 9112 §4), these
/// are the registered ones for codes a handshake is likely to use.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        assert!(check_header("X-A", "b c\td", &[]).is_ok());
        assert!(check_header("X-A", "caf\u{e9}", &[]).is_ok());
        assert!(check_header("X A", "b", &[]).is_err());
        assert!(check_header("", "b", &[]).is_err());
        assert!(check_header("X-A", "b\r\nEvil: 1", &[]).is_err());
        assert!(check_header("X-A", "b\n", &[]).is_err());
        assert!(check_header("X-A", "b\0", &[]).is_err());
        assert!(check_header("upgrade", "x", &["Upgrade"]).is_err());
        assert!(check_protocol("chat.v2").is_ok());
        assert!(check_protocol("a,b").is_err());
        assert!(check_protocol("").is_err());
    }

    #[test]
    fn writes_heads() {
        let mut out = status_line(404);
        header(&mut out, "A", "b");
        body(&mut out, b"hi");
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\nA: b\r\nContent-Length: 2\r\n\r\nhi"
        );
        assert_eq!(join(&["a".into(), "b".into()]), "a, b");
    }
}
