//! Inputs the fuzz targets (fuzz/) found to break a documented rule, kept
//! byte-exact. Public API only.

use bytes::BytesMut;
use wsmachine::Instant;
use wsmachine::handshake::{ClientHandshake, ClientRequest, HandshakeConfig, ServerHandshake};

/// RFC 6455 §1.3 request with 8 header fields (the 7 of the RFC and `A: b`).
const REQUEST_8_FIELDS: &[u8] = b"GET /chat HTTP/1.1\r\n\
    Host: server.example.com\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\n\
    Sec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Version: 13\r\n\
    A: b\r\n\r\n";

/// RFC 6455 §1.3 response with 4 header fields.
const RESPONSE_4_FIELDS: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    Sec-WebSocket-Protocol: chat\r\n\r\n";

/// fuzz target handshake_request, input (hex)
/// `28 00 0d0a 474554...0d0a0d0a`: cfg 0x28 = max_headers 8, one piece, a
/// CRLF then `REQUEST_8_FIELDS`. RFC 9112 §2.2 lets a server skip empty
/// lines before the request line (and `ServerHandshake` does), but the head
/// reader counts them as header lines, so a request with exactly
/// `max_headers` fields after one empty line fails with `TooManyHeaders`.
#[test]
fn server_leading_empty_line_is_not_a_header_field() {
    let config = HandshakeConfig::default().max_headers(8);
    // Without the empty line: accepted at exactly the limit.
    let mut server = ServerHandshake::new(config.clone(), Instant::ZERO);
    let mut buf = BytesMut::from(REQUEST_8_FIELDS);
    assert!(matches!(
        server.handle_read(Instant::ZERO, &mut buf),
        Ok(Some(_))
    ));

    let mut server = ServerHandshake::new(config, Instant::ZERO);
    let mut buf = BytesMut::from(&b"\r\n"[..]);
    buf.extend_from_slice(REQUEST_8_FIELDS);
    let result = server.handle_read(Instant::ZERO, &mut buf);
    assert!(matches!(result, Ok(Some(_))), "{result:?}");
    assert!(buf.is_empty());
}

/// fuzz target handshake_response, input (hex) `20 00 0a 485454...0d0a0d0a`:
/// cfg 0x20 = max_headers 4, one piece, an LF then `RESPONSE_4_FIELDS`. The
/// same head reader serves the client: the empty line before the status line
/// counts against `max_headers`.
#[test]
fn client_leading_empty_line_is_not_a_header_field() {
    let config = HandshakeConfig::default().max_headers(4);
    let request = ClientRequest::from_url("ws://server.example.com/chat")
        .and_then(|r| r.protocol("chat"))
        .unwrap();
    let nonce = *b"the sample nonce";

    let mut client = ClientHandshake::new(config.clone(), Instant::ZERO, &request, nonce);
    let mut buf = BytesMut::from(RESPONSE_4_FIELDS);
    assert!(matches!(
        client.handle_read(Instant::ZERO, &mut buf),
        Ok(Some(_))
    ));

    let mut client = ClientHandshake::new(config, Instant::ZERO, &request, nonce);
    let mut buf = BytesMut::from(&b"\n"[..]);
    buf.extend_from_slice(RESPONSE_4_FIELDS);
    let result = client.handle_read(Instant::ZERO, &mut buf);
    assert!(matches!(result, Ok(Some(_))), "{result:?}");
    assert!(buf.is_empty());
}
