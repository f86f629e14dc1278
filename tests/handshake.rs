//! The opening handshake through the public API only: RFC 6455 vectors, every
//! rejection and its status, chunking invariance, pipelined bytes, limits,
//! deadlines, and a property test that both roles always agree.

use bytes::BytesMut;
use proptest::prelude::*;
use wsmachine::handshake::{
    Accept, ClientHandshake, ClientRequest, HandshakeConfig, HandshakeError, OriginPolicy, Request,
    Response, ServerHandshake, accept_key, client_key,
};
use wsmachine::{Duration, Instant};

// --- helpers ---

/// The client handshake of RFC 6455 §1.3.
const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
    Host: server.example.com\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\n\
    Sec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// The server handshake of RFC 6455 §1.3 (with `chat` selected).
const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    Sec-WebSocket-Protocol: chat\r\n\r\n";

/// An unmasked "hi" text frame, standing in for pipelined frame bytes.
const FRAME: &[u8] = &[0x81, 0x02, b'h', b'i'];

/// The valid request headers, to be edited by the rejection tests.
fn valid_headers() -> Vec<(String, String)> {
    [
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

fn head(first_line: &str, headers: &[(String, String)]) -> Vec<u8> {
    let mut out = format!("{first_line}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A valid request with `name` removed.
fn without(name: &str) -> Vec<u8> {
    let mut headers = valid_headers();
    headers.retain(|(n, _)| n != name);
    head("GET /chat HTTP/1.1", &headers)
}

/// A valid request with `name` set to `value` (replaced, or added if absent).
fn with(name: &str, value: &str) -> Vec<u8> {
    let mut headers = valid_headers();
    match headers.iter_mut().find(|(n, _)| n == name) {
        Some(header) => header.1 = value.to_string(),
        None => headers.push((name.to_string(), value.to_string())),
    }
    head("GET /chat HTTP/1.1", &headers)
}

/// A valid request with one more `name: value` header.
fn plus(name: &str, value: &str) -> Vec<u8> {
    let mut headers = valid_headers();
    headers.push((name.to_string(), value.to_string()));
    head("GET /chat HTTP/1.1", &headers)
}

fn server() -> ServerHandshake {
    ServerHandshake::new(HandshakeConfig::default(), Instant::ZERO)
}

/// Feeds `bytes` to a fresh server in one piece.
fn serve(bytes: &[u8]) -> Result<Option<Request>, HandshakeError> {
    server().handle_read(Instant::ZERO, &mut BytesMut::from(bytes))
}

fn serve_err(bytes: &[u8]) -> HandshakeError {
    serve(bytes).expect_err("the request must be refused")
}

fn rfc_client() -> ClientHandshake {
    let request = ClientRequest::from_url("ws://server.example.com/chat")
        .and_then(|r| r.origin("http://example.com"))
        .and_then(|r| r.protocol("chat"))
        .and_then(|r| r.protocol("superchat"))
        .unwrap();
    ClientHandshake::new(
        HandshakeConfig::default(),
        Instant::ZERO,
        &request,
        *b"the sample nonce",
    )
}

/// Feeds `bytes` to a fresh RFC §1.3 client in one piece.
fn client_read(bytes: &[u8]) -> Result<Option<Response>, HandshakeError> {
    rfc_client().handle_read(Instant::ZERO, &mut BytesMut::from(bytes))
}

/// The RFC §1.3 response with `name` removed, or its value replaced, or a
/// header added.
fn response_edit(name: &str, value: Option<&str>) -> Vec<u8> {
    let text = std::str::from_utf8(RFC_RESPONSE).unwrap();
    let mut lines: Vec<String> = text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let position = lines
        .iter()
        .position(|l| l.starts_with(&format!("{name}:")));
    match (position, value) {
        (Some(i), None) => {
            lines.remove(i);
        }
        (Some(i), Some(v)) => lines[i] = format!("{name}: {v}"),
        (None, Some(v)) => lines.push(format!("{name}: {v}")),
        (None, None) => {}
    }
    let mut out = lines.join("\r\n");
    out.push_str("\r\n\r\n");
    out.into_bytes()
}

/// Feeds `input` in two pieces split at `split`; returns what the second (or
/// first) call produced and the bytes left in the buffer.
fn two_pieces<T>(
    input: &[u8],
    split: usize,
    mut read: impl FnMut(&mut BytesMut) -> Result<Option<T>, HandshakeError>,
) -> (T, BytesMut) {
    let mut buf = BytesMut::from(&input[..split]);
    if let Some(value) = read(&mut buf).unwrap() {
        buf.extend_from_slice(&input[split..]);
        return (value, buf);
    }
    assert_eq!(
        buf.len(),
        split,
        "nothing is consumed while the head is partial"
    );
    buf.extend_from_slice(&input[split..]);
    let value = read(&mut buf).unwrap().expect("complete after all bytes");
    (value, buf)
}

/// Feeds `input` cut at `cuts` (then the rest) until a result or an error:
/// that outcome and the bytes left in the buffer.
fn read_in_pieces<T>(
    input: &[u8],
    cuts: &[usize],
    mut read: impl FnMut(&mut BytesMut) -> Result<Option<T>, HandshakeError>,
) -> (Result<Option<T>, HandshakeError>, BytesMut) {
    let mut buf = BytesMut::new();
    let mut start = 0;
    for cut in cuts.iter().copied().chain([input.len()]) {
        let cut = cut.clamp(start, input.len());
        buf.extend_from_slice(&input[start..cut]);
        start = cut;
        match read(&mut buf) {
            Ok(None) => {}
            done => {
                buf.extend_from_slice(&input[start..]);
                return (done, buf);
            }
        }
    }
    (Ok(None), buf)
}

/// Heads near valid ones: the RFC request or response (with frame bytes
/// behind it), cut short, with a few bytes overwritten (noise, CR/LF, a
/// space, a colon), or plain noise; and where to cut them into reads.
fn hostile_heads() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    let edit = (
        any::<prop::sample::Index>(),
        prop_oneof![any::<u8>(), prop::sample::select(b"\r\n :\x16".to_vec())],
    );
    let near_valid = (
        prop::sample::select(vec![RFC_REQUEST, RFC_RESPONSE]),
        prop::collection::vec(edit, 0..3),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(base, edits, cut, truncate)| {
            let mut bytes = [base, FRAME].concat();
            for (at, byte) in edits {
                let at = at.index(bytes.len());
                bytes[at] = byte;
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        });
    let input = prop_oneof![near_valid, prop::collection::vec(any::<u8>(), 0..300)];
    (input, prop::collection::vec(0usize..300, 0..6)).prop_map(|(input, mut cuts)| {
        cuts.sort_unstable();
        (input, cuts)
    })
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

// --- RFC 6455 §1.3 vectors ---

#[test]
fn rfc_1_3_accept_key() {
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    assert_eq!(client_key(*b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
}

#[test]
fn rfc_1_3_exchange_byte_exact() {
    let mut client = rfc_client();
    let mut server = server();
    let mut buf = BytesMut::from(client.request_bytes());
    let request = server
        .handle_read(Instant::ZERO, &mut buf)
        .unwrap()
        .unwrap();
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.host(), "server.example.com");
    assert_eq!(request.origin(), Some("http://example.com"));
    assert_eq!(request.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(request.protocols(), ["chat", "superchat"]);
    let response = server
        .accept(&request, &Accept::new().protocol("chat"))
        .unwrap();
    assert_eq!(response, RFC_RESPONSE);
    let response = client
        .handle_read(Instant::ZERO, &mut BytesMut::from(&response[..]))
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(response.protocol(), Some("chat"));
}

#[test]
fn client_request_bytes() {
    let request = ClientRequest::from_url("wss://example.com:8443/a?b=c")
        .and_then(|r| r.protocol("p1"))
        .and_then(|r| r.protocol("p2"))
        .and_then(|r| r.header("Authorization", "Bearer x"))
        .unwrap();
    let client = ClientHandshake::new(HandshakeConfig::default(), Instant::ZERO, &request, [0; 16]);
    assert_eq!(
        client.request_bytes(),
        b"GET /a?b=c HTTP/1.1\r\nHost: example.com:8443\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: p1, p2\r\n\
          Authorization: Bearer x\r\n\r\n"
    );
}

// --- server: one test per rejection ---

#[test]
fn method_not_get_is_405() {
    let mut headers = valid_headers();
    headers.push(("Content-Length".into(), "0".into()));
    let error = serve_err(&head("POST /chat HTTP/1.1", &headers));
    assert_eq!(error, HandshakeError::MethodNotAllowed);
    assert_eq!(error.status(), 405);
    assert!(contains(&error.response(), "\r\nAllow: GET\r\n"));
}

#[test]
fn http_1_0_is_505() {
    let error = serve_err(&head("GET /chat HTTP/1.0", &valid_headers()));
    assert_eq!(error, HandshakeError::UnsupportedHttpVersion);
    assert_eq!(error.status(), 505);
}

#[test]
fn http_2_request_line_is_505() {
    let error = serve_err(&head("GET /chat HTTP/2.0", &valid_headers()));
    assert_eq!(error, HandshakeError::UnsupportedHttpVersion);
    assert_eq!(error.status(), 505);
}

#[test]
fn missing_host_is_400() {
    let error = serve_err(&without("Host"));
    assert_eq!(error, HandshakeError::MissingHost);
    assert_eq!(error.status(), 400);
    assert_eq!(serve_err(&with("Host", "")), HandshakeError::MissingHost);
}

#[test]
fn duplicate_host_is_400() {
    let error = serve_err(&plus("Host", "evil.example.com"));
    assert_eq!(error, HandshakeError::DuplicateHeader("Host"));
    assert_eq!(error.status(), 400);
}

#[test]
fn missing_upgrade_is_400() {
    let error = serve_err(&without("Upgrade"));
    assert_eq!(error, HandshakeError::MissingUpgrade);
    assert_eq!(error.status(), 400);
}

#[test]
fn upgrade_to_something_else_is_400() {
    assert_eq!(
        serve_err(&with("Upgrade", "h2c")),
        HandshakeError::MissingUpgrade
    );
    assert_eq!(
        serve_err(&with("Upgrade", "websocketx")),
        HandshakeError::MissingUpgrade
    );
}

#[test]
fn missing_connection_upgrade_is_400() {
    let error = serve_err(&without("Connection"));
    assert_eq!(error, HandshakeError::MissingConnectionUpgrade);
    assert_eq!(error.status(), 400);
    assert_eq!(
        serve_err(&with("Connection", "keep-alive")),
        HandshakeError::MissingConnectionUpgrade
    );
}

#[test]
fn wrong_websocket_version_is_426_with_version_header() {
    let error = serve_err(&with("Sec-WebSocket-Version", "8"));
    assert_eq!(error, HandshakeError::UnsupportedVersion);
    assert_eq!(error.status(), 426);
    let response = error.response();
    assert!(response.starts_with(b"HTTP/1.1 426 Upgrade Required\r\n"));
    assert!(contains(&response, "\r\nSec-WebSocket-Version: 13\r\n"));
    assert!(contains(&response, "\r\nUpgrade: websocket\r\n"));
}

#[test]
fn missing_websocket_version_is_426() {
    let error = serve_err(&without("Sec-WebSocket-Version"));
    assert_eq!(error, HandshakeError::UnsupportedVersion);
    assert_eq!(error.status(), 426);
}

#[test]
fn missing_key_is_400() {
    let error = serve_err(&without("Sec-WebSocket-Key"));
    assert_eq!(error, HandshakeError::InvalidKey);
    assert_eq!(error.status(), 400);
}

#[test]
fn key_not_16_bytes_of_base64_is_400() {
    for key in [
        "",
        "dGhlIHNhbXBsZSBub25jZQ",       // unpadded
        "dGhlIHNhbXBsZSBub25jZQ=",      // short padding
        "dGhlIHNhbXBsZSBub25jZXg=",     // 17 bytes
        "dGhlIHNhbXBsZSBub25j",         // 15 bytes
        "dGhlIHNhbXBsZSBub25jZR==",     // non-canonical trailing bits
        "dGhlIHNhbXBsZSBub25jZQ==dGhl", // too long
        "dGhl!HNhbXBsZSBub25jZQ==",     // not base64
        "dGhlIHNhbXBsZSBub25jZQ-_",     // URL-safe alphabet
    ] {
        let error = serve_err(&with("Sec-WebSocket-Key", key));
        assert_eq!(error, HandshakeError::InvalidKey, "{key:?}");
        assert_eq!(error.status(), 400);
    }
}

#[test]
fn duplicate_key_is_400() {
    let error = serve_err(&plus("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA=="));
    assert_eq!(error, HandshakeError::DuplicateHeader("Sec-WebSocket-Key"));
    assert_eq!(error.status(), 400);
}

#[test]
fn a_request_with_a_body_is_400() {
    // RFC 9112 §6.3: the bytes after such a head are its body; read as
    // frames, they would let a smuggled request through.
    for (name, value) in [
        ("Content-Length", "5"),
        ("Content-Length", "00001"),
        ("Content-Length", ""),
        ("Transfer-Encoding", "chunked"),
        ("transfer-encoding", "identity"),
    ] {
        let error = serve_err(&plus(name, value));
        assert_eq!(error, HandshakeError::RequestBody, "{name}: {value}");
        assert_eq!(error.status(), 400);
    }
    let error = serve_err(&head(
        "GET / HTTP/1.1",
        &[
            valid_headers(),
            vec![
                ("Content-Length".into(), "0".into()),
                ("Content-Length".into(), "7".into()),
            ],
        ]
        .concat(),
    ));
    assert_eq!(error, HandshakeError::DuplicateHeader("Content-Length"));
}

#[test]
fn an_empty_body_is_accepted() {
    // `Content-Length: 0` announces no body: nothing to misread.
    for value in ["0", "000"] {
        assert!(
            matches!(serve(&plus("Content-Length", value)), Ok(Some(_))),
            "Content-Length: {value}"
        );
    }
}

#[test]
fn the_path_is_the_resource_name_of_the_target() {
    // RFC 6455 §4.2.1 (1): origin form, or an absolute http(s)/ws(s) URI
    // whose path and query are the resource name.
    for (target, path) in [
        ("/chat?room=1", "/chat?room=1"),
        ("ws://server.example.com/chat?room=1", "/chat?room=1"),
        ("WSS://server.example.com:8443/a/b", "/a/b"),
        ("http://server.example.com", "/"),
        ("https://server.example.com?q=1", "/?q=1"),
    ] {
        let request = serve(&head(&format!("GET {target} HTTP/1.1"), &valid_headers()))
            .unwrap()
            .unwrap();
        assert_eq!(request.path(), path, "{target}");
    }
    // Forms a GET to a WebSocket resource cannot take.
    for target in [
        "*",
        "server.example.com:80",
        "ftp://server.example.com/x",
        "ws:///x",
        "chat",
    ] {
        let error = serve_err(&head(&format!("GET {target} HTTP/1.1"), &valid_headers()));
        assert_eq!(
            error,
            HandshakeError::Malformed("request target is neither a path nor an absolute URI"),
            "{target}"
        );
        assert_eq!(error.status(), 400);
    }
}

#[test]
fn duplicate_origin_is_400() {
    let mut headers = valid_headers();
    headers.push(("Origin".into(), "https://good.example".into()));
    headers.push(("Origin".into(), "https://evil.example".into()));
    let error = serve_err(&head("GET / HTTP/1.1", &headers));
    assert_eq!(error, HandshakeError::DuplicateHeader("Origin"));
}

#[test]
fn malformed_heads_are_400() {
    for bytes in [
        &b"GET /chat HTTP/1.1\r\nHost server\r\n\r\n"[..],
        b"\x00\x01\x02\r\n\r\n",
        b"GET /chat HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET /chat HTTP/1.1\r\nX: a\x01b\r\n\r\n",
        b"GET  HTTP/1.1\r\n\r\n",
    ] {
        let error = serve_err(bytes);
        assert!(matches!(error, HandshakeError::Malformed(_)), "{error:?}");
        assert_eq!(error.status(), 400);
    }
}

#[test]
fn a_start_line_that_cannot_be_http_fails_before_the_head_ends() {
    // A TLS ClientHello on a plain port, another protocol's greeting, noise:
    // no blank line will ever end these, so waiting for the deadline would
    // only hold the connection open.
    let tls_hello: &[u8] = &[
        0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03,
    ];
    for bytes in [
        tls_hello,
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b" GET",
        b"GET /chat HTTP/1.1 x\r\n",
    ] {
        let mut server = server();
        let error = server
            .handle_read(Instant::ZERO, &mut BytesMut::from(bytes))
            .unwrap_err();
        assert!(
            matches!(error, HandshakeError::Malformed(_)),
            "{bytes:?}: {error:?}"
        );
        assert_eq!(server.poll_timeout(), None, "{bytes:?}");
    }
    // The version is known from the start line too.
    assert_eq!(
        serve(b"GET /chat HTTP/2.0\r\nHost: x\r\n").unwrap_err(),
        HandshakeError::UnsupportedHttpVersion
    );
    // The same for a client reading something that is not an HTTP response
    // (a response starts with its version: these fail as one that is not 1.1).
    for bytes in [
        &b"SSH-2.0-OpenSSH_9.6\r\n"[..],
        &[0x15, 0x03, 0x03, 0x00, 0x02],
    ] {
        assert_eq!(
            client_read(bytes),
            Err(HandshakeError::UnsupportedHttpVersion),
            "{bytes:?}"
        );
    }
    // Valid beginnings, whole start lines and the first header lines wait.
    for bytes in [
        &b"G"[..],
        b"GET /chat HTT",
        b"\r\nGET / HTTP/1.1\r\nHost: x\r\nUpg",
    ] {
        assert_eq!(serve(bytes), Ok(None), "{bytes:?}");
    }
    for bytes in [
        &b"HTTP/1.1 1"[..],
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade",
    ] {
        assert_eq!(client_read(bytes), Ok(None), "{bytes:?}");
    }
}

#[test]
fn a_long_start_line_is_checked_when_it_ends() {
    // Past the first KiB a start line in progress is not re-parsed on every
    // read (bounded work for a slow sender); it is checked once it is whole.
    let mut server = server();
    let mut buf = BytesMut::from(&b"GET /"[..]);
    buf.extend_from_slice(&[b'a'; 2000]);
    assert_eq!(server.handle_read(Instant::ZERO, &mut buf), Ok(None));
    buf.extend_from_slice(b" HTTP/1.1 junk\r\n");
    let error = server.handle_read(Instant::ZERO, &mut buf).unwrap_err();
    assert!(matches!(error, HandshakeError::Malformed(_)), "{error:?}");
}

#[test]
fn head_of_100_kib_is_431_before_it_is_all_buffered() {
    let mut server = server();
    let mut buf = BytesMut::new();
    buf.extend_from_slice(b"GET /chat HTTP/1.1\r\nX-Big: ");
    let chunk = [b'a'; 1024];
    let mut fed = buf.len();
    let error = loop {
        match server.handle_read(Instant::ZERO, &mut buf) {
            Ok(None) => {}
            Ok(Some(_)) => panic!("a 100 KiB head must not be accepted"),
            Err(error) => break error,
        }
        assert!(fed < 100 * 1024, "no error after {fed} bytes");
        buf.extend_from_slice(&chunk);
        fed += chunk.len();
    };
    assert_eq!(error, HandshakeError::HeadTooLarge { limit: 8192 });
    assert_eq!(error.status(), 431);
    // Failed as soon as the buffer passed the limit: one chunk over at most.
    assert!(fed <= 8192 + chunk.len(), "{fed}");
    // Terminal.
    assert_eq!(server.handle_read(Instant::ZERO, &mut buf), Err(error));
}

#[test]
fn complete_head_over_the_limit_is_431() {
    let config = HandshakeConfig::default().max_head_bytes(100);
    let request = plus("X-Pad", &"p".repeat(100));
    let mut server = ServerHandshake::new(config, Instant::ZERO);
    let error = server
        .handle_read(Instant::ZERO, &mut BytesMut::from(&request[..]))
        .unwrap_err();
    assert_eq!(error, HandshakeError::HeadTooLarge { limit: 100 });
}

#[test]
fn head_exactly_at_the_limit_is_accepted() {
    let config = HandshakeConfig::default().max_head_bytes(RFC_REQUEST.len());
    let mut server = ServerHandshake::new(config, Instant::ZERO);
    let mut buf = BytesMut::from(RFC_REQUEST);
    buf.extend_from_slice(FRAME);
    assert!(
        server
            .handle_read(Instant::ZERO, &mut buf)
            .unwrap()
            .is_some()
    );
    assert_eq!(&buf[..], FRAME);
}

#[test]
fn too_many_headers_is_431_while_still_partial() {
    let mut server = server();
    let mut buf = BytesMut::from(&b"GET /chat HTTP/1.1\r\n"[..]);
    for i in 0..64 {
        buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        assert_eq!(server.handle_read(Instant::ZERO, &mut buf), Ok(None), "{i}");
    }
    // The 65th header line fails at once, without waiting for the blank line.
    buf.extend_from_slice(b"X-64: v\r\n");
    let error = server.handle_read(Instant::ZERO, &mut buf).unwrap_err();
    assert_eq!(error, HandshakeError::TooManyHeaders { limit: 64 });
    assert_eq!(error.status(), 431);
}

#[test]
fn exactly_max_headers_is_accepted() {
    let mut headers = valid_headers();
    let config = HandshakeConfig::default().max_headers(headers.len() + 3);
    for i in 0..3 {
        headers.push((format!("X-{i}"), "v".into()));
    }
    let request = head("GET / HTTP/1.1", &headers);
    let mut server = ServerHandshake::new(config.clone(), Instant::ZERO);
    let mut buf = BytesMut::from(&request[..]);
    assert!(
        server
            .handle_read(Instant::ZERO, &mut buf)
            .unwrap()
            .is_some()
    );

    headers.push(("X-3".into(), "v".into()));
    let request = head("GET / HTTP/1.1", &headers);
    let mut server = ServerHandshake::new(config, Instant::ZERO);
    let error = server
        .handle_read(Instant::ZERO, &mut BytesMut::from(&request[..]))
        .unwrap_err();
    assert_eq!(error, HandshakeError::TooManyHeaders { limit: 8 });
}

#[test]
fn origin_policy() {
    let request = serve(RFC_REQUEST).unwrap().unwrap();
    assert_eq!(OriginPolicy::AnyOrigin.check(&request), Ok(()));
    let allowed = OriginPolicy::allow_list(["https://other.example", "HTTP://Example.com"]);
    assert_eq!(allowed.check(&request), Ok(()), "ASCII case-insensitive");
    let error = OriginPolicy::allow_list(["https://example.com"])
        .check(&request)
        .unwrap_err();
    assert_eq!(error, HandshakeError::OriginNotAllowed);
    assert_eq!(error.status(), 403);
    assert!(error.response().starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
    // Not a prefix or suffix match.
    assert!(
        OriginPolicy::allow_list(["http://example.com.evil"])
            .check(&request)
            .is_err()
    );
}

#[test]
fn request_without_origin_passes_every_policy() {
    let request = serve(&without("Origin")).unwrap().unwrap();
    assert_eq!(request.origin(), None);
    assert_eq!(
        OriginPolicy::allow_list(["https://a.example"]).check(&request),
        Ok(())
    );
}

// --- the status mapping, row by row ---

#[test]
fn every_error_maps_to_its_status() {
    use HandshakeError::*;
    let rows: [(HandshakeError, u16); 26] = [
        (Malformed("x"), 400),
        (RequestBody, 400),
        (HeadTooLarge { limit: 1 }, 431),
        (TooManyHeaders { limit: 1 }, 431),
        (UnsupportedHttpVersion, 505),
        (Timeout, 408),
        (MethodNotAllowed, 405),
        (MissingHost, 400),
        (DuplicateHeader("Host"), 400),
        (MissingUpgrade, 400),
        (MissingConnectionUpgrade, 400),
        (UnsupportedVersion, 426),
        (InvalidKey, 400),
        (OriginNotAllowed, 403),
        (UnexpectedStatus(404), 502),
        (ResponseMissingUpgrade, 502),
        (ResponseMissingConnectionUpgrade, 502),
        (InvalidAccept, 502),
        (UnexpectedProtocol, 502),
        (UnexpectedExtension, 502),
        (ProtocolNotOffered, 500),
        (InvalidHeader("x"), 500),
        (InvalidStatus(101), 500),
        (InvalidUrl("x"), 500),
        (UnexpectedStatus(101), 502),
        (DuplicateHeader("Sec-WebSocket-Key"), 400),
    ];
    for (error, status) in rows {
        assert_eq!(error.status(), status, "{error:?}");
        let response = error.response();
        assert!(
            response.starts_with(format!("HTTP/1.1 {status} ").as_bytes()),
            "{error:?}"
        );
    }
}

#[test]
fn error_response_is_complete_http() {
    let error = HandshakeError::MissingHost;
    let response = error.response();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert!(head.contains("\r\nConnection: close"));
    assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
    assert_eq!(body, "missing Host header\n");
    // It parses as a response, and a client reports it with its code.
    let error = client_read(text.as_bytes()).unwrap_err();
    assert_eq!(error, HandshakeError::UnexpectedStatus(400));
}

// --- what the server accepts ---

#[test]
fn token_lists_are_case_insensitive_and_comma_separated() {
    let mut headers = valid_headers();
    for (name, value) in &mut headers {
        match name.as_str() {
            "Upgrade" => *value = "h2c, WebSocket".into(),
            "Connection" => *value = "keep-alive,  UPGRADE ".into(),
            _ => {}
        }
    }
    assert!(serve(&head("GET / HTTP/1.1", &headers)).unwrap().is_some());
    // A token may also arrive in a second header of the same name.
    let mut headers = valid_headers();
    headers.retain(|(n, _)| n != "Connection");
    headers.push(("connection".into(), "keep-alive".into()));
    headers.push(("CONNECTION".into(), "upgrade".into()));
    assert!(serve(&head("GET / HTTP/1.1", &headers)).unwrap().is_some());
}

#[test]
fn request_getters() {
    let mut headers = valid_headers();
    headers.push(("Sec-WebSocket-Protocol".into(), "a, b".into()));
    headers.push(("Sec-WebSocket-Protocol".into(), " c ,".into()));
    headers.push((
        "Sec-WebSocket-Extensions".into(),
        r#"permessage-deflate; client_max_window_bits, x-foo; list="1,2""#.into(),
    ));
    headers.push(("Cookie".into(), "id=1".into()));
    let request = serve(&head("GET /path?q=1 HTTP/1.1", &headers))
        .unwrap()
        .unwrap();
    assert_eq!(request.path(), "/path?q=1");
    assert_eq!(request.protocols(), ["a", "b", "c"]);
    assert_eq!(
        request.extensions(),
        [
            "permessage-deflate; client_max_window_bits",
            r#"x-foo; list="1,2""#
        ]
    );
    assert_eq!(request.header("cookie"), Some(&b"id=1"[..]));
    assert_eq!(request.header("X-Absent"), None);
    assert_eq!(request.headers().len(), headers.len());
    let names: Vec<&str> = request.headers().map(|(name, _)| name).collect();
    assert_eq!(names[0], "Host");
    assert_eq!(names[names.len() - 1], "Cookie");
}

// --- chunking invariance ---

#[test]
fn request_parses_the_same_from_every_split_point() {
    let reference = serve(RFC_REQUEST).unwrap().unwrap();
    let mut input = RFC_REQUEST.to_vec();
    input.extend_from_slice(FRAME);
    for split in 0..=input.len() {
        let mut server = server();
        let (request, left) =
            two_pieces(&input, split, |buf| server.handle_read(Instant::ZERO, buf));
        assert_eq!(request, reference, "{split}");
        assert_eq!(&left[..], FRAME, "{split}");
    }
}

#[test]
fn request_parses_the_same_byte_by_byte() {
    let reference = serve(RFC_REQUEST).unwrap().unwrap();
    let mut server = server();
    let mut buf = BytesMut::new();
    let mut got = None;
    for (i, byte) in RFC_REQUEST.iter().chain(FRAME).enumerate() {
        buf.extend_from_slice(&[*byte]);
        if let Some(request) = server.handle_read(Instant::ZERO, &mut buf).unwrap() {
            assert_eq!(i + 1, RFC_REQUEST.len());
            got = Some(request);
        }
    }
    assert_eq!(got, Some(reference));
    assert_eq!(&buf[..], FRAME);
}

#[test]
fn response_parses_the_same_from_every_split_point() {
    let reference = client_read(RFC_RESPONSE).unwrap().unwrap();
    let mut input = RFC_RESPONSE.to_vec();
    input.extend_from_slice(FRAME);
    for split in 0..=input.len() {
        let mut client = rfc_client();
        let (response, left) =
            two_pieces(&input, split, |buf| client.handle_read(Instant::ZERO, buf));
        assert_eq!(response, reference, "{split}");
        assert_eq!(&left[..], FRAME, "{split}");
    }
}

#[test]
fn response_parses_the_same_byte_by_byte() {
    let reference = client_read(RFC_RESPONSE).unwrap().unwrap();
    let mut client = rfc_client();
    let mut buf = BytesMut::new();
    let mut got = None;
    for (i, byte) in RFC_RESPONSE.iter().chain(FRAME).enumerate() {
        buf.extend_from_slice(&[*byte]);
        if let Some(response) = client.handle_read(Instant::ZERO, &mut buf).unwrap() {
            assert_eq!(i + 1, RFC_RESPONSE.len());
            got = Some(response);
        }
    }
    assert_eq!(got, Some(reference));
    assert_eq!(&buf[..], FRAME);
}

#[test]
fn bare_lf_heads_are_accepted() {
    let request = String::from_utf8(RFC_REQUEST.to_vec())
        .unwrap()
        .replace("\r\n", "\n");
    let mut buf = BytesMut::from(request.as_bytes());
    buf.extend_from_slice(FRAME);
    assert!(
        server()
            .handle_read(Instant::ZERO, &mut buf)
            .unwrap()
            .is_some()
    );
    assert_eq!(&buf[..], FRAME);
}

// --- pipelined bytes after the head ---

#[test]
fn server_keeps_pipelined_frame_bytes() {
    let mut buf = BytesMut::from(RFC_REQUEST);
    let big_frame = vec![0x82; 20_000]; // larger than the head limit: not part of the head
    buf.extend_from_slice(&big_frame);
    let request = server().handle_read(Instant::ZERO, &mut buf).unwrap();
    assert!(request.is_some());
    assert_eq!(&buf[..], &big_frame[..]);
}

#[test]
fn client_keeps_pipelined_frame_bytes() {
    let mut buf = BytesMut::from(RFC_RESPONSE);
    buf.extend_from_slice(FRAME);
    buf.extend_from_slice(b"\r\n\r\n"); // looks like a head end, but is payload
    let response = rfc_client().handle_read(Instant::ZERO, &mut buf).unwrap();
    assert!(response.is_some());
    assert_eq!(&buf[..], b"\x81\x02hi\r\n\r\n");
}

#[test]
fn reads_after_completion_consume_nothing() {
    let mut server = server();
    let mut buf = BytesMut::from(RFC_REQUEST);
    assert!(
        server
            .handle_read(Instant::ZERO, &mut buf)
            .unwrap()
            .is_some()
    );
    buf.extend_from_slice(RFC_REQUEST);
    assert_eq!(server.handle_read(Instant::ZERO, &mut buf), Ok(None));
    assert_eq!(&buf[..], RFC_REQUEST);
}

// --- accept and reject ---

#[test]
fn accept_refuses_an_unoffered_protocol() {
    let request = serve(RFC_REQUEST).unwrap().unwrap();
    let mut server = server();
    let error = server
        .accept(&request, &Accept::new().protocol("Chat"))
        .unwrap_err();
    assert_eq!(error, HandshakeError::ProtocolNotOffered);
    assert_eq!(error.status(), 500);
    assert!(server.accept(&request, &Accept::new()).is_ok());
}

#[test]
fn accept_writes_extra_headers_and_refuses_injection() {
    let request = serve(RFC_REQUEST).unwrap().unwrap();
    let mut server = server();
    let response = server
        .accept(&request, &Accept::new().header("Set-Cookie", "id=1"))
        .unwrap();
    assert!(response.ends_with(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSet-Cookie: id=1\r\n\r\n"));
    for accept in [
        Accept::new().header("X-A", "b\r\nX-Evil: 1"),
        Accept::new().header("X-A", "b\n"),
        Accept::new().header("X-A\r\n", "b"),
        Accept::new().header("Sec-WebSocket-Accept", "forged"),
        Accept::new().header("content-length", "5"),
    ] {
        let error = server.accept(&request, &accept).unwrap_err();
        assert!(
            matches!(error, HandshakeError::InvalidHeader(_)),
            "{accept:?}"
        );
    }
}

#[test]
fn reject_writes_a_complete_response() {
    let mut server = server();
    let response = server
        .reject(401, &[("WWW-Authenticate", "Bearer")], b"who are you?")
        .unwrap();
    assert_eq!(
        response,
        b"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nWWW-Authenticate: Bearer\r\n\
          Content-Length: 12\r\n\r\nwho are you?"
    );
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn reject_refuses_bad_status_and_injection() {
    let mut server = server();
    for status in [0, 101, 199, 600, 999] {
        assert_eq!(
            server.reject(status, &[], b""),
            Err(HandshakeError::InvalidStatus(status))
        );
    }
    assert!(matches!(
        server.reject(403, &[("X", "a\r\n\r\nHTTP/1.1 200 OK")], b""),
        Err(HandshakeError::InvalidHeader(_))
    ));
    assert!(matches!(
        server.reject(403, &[("Content-Length", "0")], b""),
        Err(HandshakeError::InvalidHeader(_))
    ));
}

// --- client request builder ---

#[test]
fn client_request_from_urls() {
    let request = ClientRequest::from_url("ws://[::1]:9001").unwrap();
    assert_eq!(
        (request.host(), request.port(), request.resource()),
        ("::1", 9001, "/")
    );
    assert_eq!(request.host_header(), "[::1]:9001");
    assert!(!request.is_secure());
    let request = ClientRequest::from_url("wss://example.com/x").unwrap();
    assert_eq!(
        (request.port(), request.host_header().as_str()),
        (443, "example.com")
    );
    let request = ClientRequest::from_url("ws://example.com:8080?q").unwrap();
    assert_eq!(
        (request.resource(), request.host_header().as_str()),
        ("/?q", "example.com:8080")
    );
}

#[test]
fn client_request_refuses_invalid_urls() {
    for url in [
        "http://example.com/",
        "ws://",
        "ws://host:99999/",
        "ws://host/#fragment",
        "ws://host/with space",
        "ws://[::1/",
        "ws://user:pw@host/",
    ] {
        let error = ClientRequest::from_url(url).unwrap_err();
        assert!(matches!(error, HandshakeError::InvalidUrl(_)), "{url}");
    }
}

#[test]
fn client_request_refuses_bad_headers_and_protocols() {
    let request = ClientRequest::from_url("ws://host/").unwrap();
    for (name, value) in [
        ("X-A", "b\r\nHost: evil"),
        ("X-A", "b\0"),
        ("X A", "b"),
        ("Sec-WebSocket-Key", "x"),
        ("host", "x"),
    ] {
        assert!(
            matches!(
                request.clone().header(name, value),
                Err(HandshakeError::InvalidHeader(_))
            ),
            "{name}"
        );
    }
    for protocol in ["", "a b", "a,b", "chat\r\n"] {
        assert!(request.clone().protocol(protocol).is_err(), "{protocol:?}");
    }
    assert!(request.clone().origin("https://a\r\nX: y").is_err());
    let twice = request.protocol("chat").unwrap().protocol("chat");
    assert!(matches!(twice, Err(HandshakeError::InvalidHeader(_))));
}

// --- client: validating the response ---

#[test]
fn client_refuses_a_wrong_accept() {
    let error = client_read(&response_edit(
        "Sec-WebSocket-Accept",
        Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ))
    .unwrap_err();
    assert_eq!(error, HandshakeError::InvalidAccept);
    assert_eq!(error.status(), 502);
}

#[test]
fn client_refuses_a_missing_or_repeated_accept() {
    let error = client_read(&response_edit("Sec-WebSocket-Accept", None)).unwrap_err();
    assert_eq!(error, HandshakeError::InvalidAccept);
    let mut repeated = RFC_RESPONSE[..RFC_RESPONSE.len() - 2].to_vec();
    repeated.extend_from_slice(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    assert_eq!(
        client_read(&repeated).unwrap_err(),
        HandshakeError::InvalidAccept
    );
}

#[test]
fn client_refuses_a_missing_upgrade() {
    let error = client_read(&response_edit("Upgrade", None)).unwrap_err();
    assert_eq!(error, HandshakeError::ResponseMissingUpgrade);
    assert_eq!(error.status(), 502);
    let error = client_read(&response_edit("Upgrade", Some("websocket, h2c"))).unwrap_err();
    assert_eq!(error, HandshakeError::ResponseMissingUpgrade);
    // Case-insensitive (RFC 6455 §4.1 (2)).
    assert!(client_read(&response_edit("Upgrade", Some("WebSocket"))).is_ok());
}

#[test]
fn client_refuses_a_missing_connection_upgrade() {
    let error = client_read(&response_edit("Connection", Some("keep-alive"))).unwrap_err();
    assert_eq!(error, HandshakeError::ResponseMissingConnectionUpgrade);
    assert_eq!(error.status(), 502);
}

#[test]
fn client_refuses_an_unoffered_protocol() {
    let error = client_read(&response_edit("Sec-WebSocket-Protocol", Some("Chat"))).unwrap_err();
    assert_eq!(error, HandshakeError::UnexpectedProtocol);
    assert_eq!(error.status(), 502);
    let error = client_read(&response_edit(
        "Sec-WebSocket-Protocol",
        Some("chat, superchat"),
    ))
    .unwrap_err();
    assert_eq!(error, HandshakeError::UnexpectedProtocol);
    // None selected is fine.
    let response = client_read(&response_edit("Sec-WebSocket-Protocol", None))
        .unwrap()
        .unwrap();
    assert_eq!(response.protocol(), None);
}

#[test]
fn client_refuses_an_unoffered_extension() {
    let error = client_read(&response_edit(
        "Sec-WebSocket-Extensions",
        Some("permessage-deflate"),
    ))
    .unwrap_err();
    assert_eq!(error, HandshakeError::UnexpectedExtension);
    assert_eq!(error.status(), 502);
}

#[test]
fn client_reports_a_non_101_status_with_its_code() {
    let mut client = rfc_client();
    let mut buf = BytesMut::from(
        &b"HTTP/1.1 302 Found\r\nLocation: wss://elsewhere.example/\r\n\
           Content-Length: 5\r\n\r\nmoved"[..],
    );
    let error = client.handle_read(Instant::ZERO, &mut buf).unwrap_err();
    assert_eq!(error, HandshakeError::UnexpectedStatus(302));
    assert_eq!(error.status(), 502);
    let rejection = client.rejection().unwrap();
    assert_eq!(rejection.status(), 302);
    assert_eq!(
        rejection.header("location"),
        Some(&b"wss://elsewhere.example/"[..])
    );
    assert_eq!(&buf[..], b"moved", "the body is left for the caller");
    assert_eq!(client.handle_read(Instant::ZERO, &mut buf), Err(error));
}

#[test]
fn client_refuses_http_1_0() {
    let mut response = RFC_RESPONSE.to_vec();
    response[7] = b'0';
    assert_eq!(
        client_read(&response).unwrap_err(),
        HandshakeError::UnsupportedHttpVersion
    );
}

#[test]
fn client_head_limit() {
    let config = HandshakeConfig::default().max_head_bytes(64);
    let request = ClientRequest::from_url("ws://h/").unwrap();
    let mut client = ClientHandshake::new(config, Instant::ZERO, &request, [1; 16]);
    let mut head = b"HTTP/1.1 101 Switching Protocols\r\nX-Long: ".to_vec();
    head.resize(65, b'x');
    let mut buf = BytesMut::from(&head[..]);
    assert_eq!(
        client.handle_read(Instant::ZERO, &mut buf),
        Err(HandshakeError::HeadTooLarge { limit: 64 })
    );
}

// --- deadline ---

#[test]
fn server_timeout_does_not_fire_early_and_fires_at_the_deadline() {
    let config = HandshakeConfig::default().timeout(Some(Duration::from_secs(5)));
    let start = Instant::from_secs(100);
    let mut server = ServerHandshake::new(config, start);
    let deadline = Instant::from_secs(105);
    assert_eq!(server.poll_timeout(), Some(deadline));
    let mut buf = BytesMut::from(&RFC_REQUEST[..10]);
    for now in [
        start,
        Instant::from_secs(104),
        deadline - Duration::from_micros(1),
    ] {
        assert_eq!(server.handle_timeout(now), Ok(()));
        assert_eq!(server.handle_read(now, &mut buf), Ok(None));
    }
    assert_eq!(server.poll_timeout(), Some(deadline));
    let error = server.handle_timeout(deadline).unwrap_err();
    assert_eq!(error, HandshakeError::Timeout);
    assert_eq!(error.status(), 408);
    assert_eq!(server.poll_timeout(), None);
    // Terminal: even a complete head is refused now.
    buf.extend_from_slice(&RFC_REQUEST[10..]);
    assert_eq!(
        server.handle_read(deadline, &mut buf),
        Err(HandshakeError::Timeout)
    );
    // Spurious timer calls do nothing.
    assert_eq!(server.handle_timeout(Instant::from_secs(200)), Ok(()));
}

#[test]
fn a_read_past_the_deadline_times_out_if_still_partial() {
    let config = HandshakeConfig::default().timeout(Some(Duration::from_secs(1)));
    let mut server = ServerHandshake::new(config.clone(), Instant::ZERO);
    let mut buf = BytesMut::from(&RFC_REQUEST[..10]);
    assert_eq!(
        server.handle_read(Instant::from_secs(1), &mut buf),
        Err(HandshakeError::Timeout)
    );
    // A head that is complete in the late read still counts.
    let mut server = ServerHandshake::new(config, Instant::ZERO);
    let mut buf = BytesMut::from(RFC_REQUEST);
    assert!(
        server
            .handle_read(Instant::from_secs(2), &mut buf)
            .unwrap()
            .is_some()
    );
}

#[test]
fn no_deadline_after_completion_or_without_timeout() {
    let mut server = server();
    assert_eq!(server.poll_timeout(), Some(Instant::from_secs(10)));
    let mut buf = BytesMut::from(RFC_REQUEST);
    server
        .handle_read(Instant::ZERO, &mut buf)
        .unwrap()
        .unwrap();
    assert_eq!(server.poll_timeout(), None);
    assert_eq!(server.handle_timeout(Instant::MAX), Ok(()));

    let config = HandshakeConfig::default().timeout(None);
    let mut server = ServerHandshake::new(config, Instant::ZERO);
    assert_eq!(server.poll_timeout(), None);
    assert_eq!(server.handle_timeout(Instant::MAX), Ok(()));
    assert_eq!(
        server.handle_read(Instant::MAX, &mut BytesMut::new()),
        Ok(None)
    );
}

#[test]
fn client_timeout_is_symmetric() {
    let config = HandshakeConfig::default().timeout(Some(Duration::from_millis(250)));
    let request = ClientRequest::from_url("ws://h/").unwrap();
    let mut client = ClientHandshake::new(config, Instant::from_secs(1), &request, [1; 16]);
    assert_eq!(client.poll_timeout(), Some(Instant::from_millis(1250)));
    assert_eq!(client.handle_timeout(Instant::from_millis(1249)), Ok(()));
    assert_eq!(
        client.handle_timeout(Instant::from_millis(1250)),
        Err(HandshakeError::Timeout)
    );
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(
        client.handle_read(Instant::from_millis(1250), &mut BytesMut::new()),
        Err(HandshakeError::Timeout)
    );
}

// --- terminal errors ---

#[test]
fn server_errors_are_terminal() {
    let mut server = server();
    let mut buf = BytesMut::from(&without("Host")[..]);
    let error = server.handle_read(Instant::ZERO, &mut buf).unwrap_err();
    assert_eq!(error, HandshakeError::MissingHost);
    assert_eq!(server.poll_timeout(), None);
    let mut fresh = BytesMut::from(RFC_REQUEST);
    assert_eq!(server.handle_read(Instant::ZERO, &mut fresh), Err(error));
}

#[test]
fn client_errors_are_terminal() {
    let mut client = rfc_client();
    let mut buf = BytesMut::from(&response_edit("Upgrade", None)[..]);
    let error = client.handle_read(Instant::ZERO, &mut buf).unwrap_err();
    let mut fresh = BytesMut::from(RFC_RESPONSE);
    assert_eq!(client.handle_read(Instant::ZERO, &mut fresh), Err(error));
}

#[test]
fn garbage_never_panics() {
    let inputs: [&[u8]; 6] = [
        b"\r\n\r\n\r\n\r\n",
        b"\n\n",
        b"GET\r\n\r\n",
        b"HTTP/1.1 101\r\n\r\n",
        b"GET / HTTP/1.1\r\n\xff\xfe: \xff\r\n\r\n",
        &[0xff; 300],
    ];
    for input in inputs {
        let _ = serve(input);
        let _ = client_read(input);
    }
}

// --- both roles agree ---

/// What a property-test case varies.
#[derive(Debug, Clone)]
struct Case {
    secure: bool,
    host: String,
    port: Option<u16>,
    path: String,
    protocols: Vec<String>,
    chosen: Option<prop::sample::Index>,
    origin: Option<String>,
    headers: Vec<(String, String)>,
    nonce: [u8; 16],
    request_split: prop::sample::Index,
    response_split: prop::sample::Index,
    client_frames: Vec<u8>,
    server_frames: Vec<u8>,
}

fn cases() -> impl Strategy<Value = Case> {
    let host = prop_oneof![
        "[a-z][a-z0-9-]{0,15}(\\.[a-z]{2,6}){0,2}",
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        Just("[::1]".to_string()),
        Just("[2001:db8::7]".to_string()),
    ];
    (
        (
            any::<bool>(),
            host,
            prop::option::of(1u16..=u16::MAX),
            "(/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,12}){0,4}(\\?[A-Za-z0-9=&/?]{0,12})?",
            prop::collection::hash_set("[a-z][a-z0-9.+_-]{0,10}", 0..5),
            prop::option::of(any::<prop::sample::Index>()),
            prop::option::of("https?://[a-z]{1,10}\\.example(:[0-9]{1,5})?"),
        ),
        (
            prop::collection::vec(
                ("X-[A-Za-z0-9-]{1,12}", "([!-~]([ -~]{0,20}[!-~])?)?"),
                0..6,
            ),
            any::<[u8; 16]>(),
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 0..40),
        ),
    )
        .prop_map(
            |(
                (secure, host, port, path, protocols, chosen, origin),
                (headers, nonce, request_split, response_split, client_frames, server_frames),
            )| Case {
                secure,
                host,
                port,
                path,
                protocols: protocols.into_iter().collect(),
                chosen,
                origin,
                headers,
                nonce,
                request_split,
                response_split,
                client_frames,
                server_frames,
            },
        )
}

proptest! {
    #[test]
    fn client_and_server_always_agree(case in cases()) {
        let scheme = if case.secure { "wss" } else { "ws" };
        let authority = match case.port {
            Some(port) => format!("{}:{port}", case.host),
            None => case.host.clone(),
        };
        let url = format!("{scheme}://{authority}{}", case.path);
        let mut request = ClientRequest::from_url(&url).unwrap();
        for protocol in &case.protocols {
            request = request.protocol(protocol).unwrap();
        }
        if let Some(origin) = &case.origin {
            request = request.origin(origin).unwrap();
        }
        for (name, value) in &case.headers {
            request = request.header(name, value).unwrap();
        }
        let now = Instant::from_secs(1);
        let mut client = ClientHandshake::new(HandshakeConfig::default(), now, &request, case.nonce);

        // Server side: the request (with the client's first frames behind it).
        let mut input = client.request_bytes().to_vec();
        input.extend_from_slice(&case.client_frames);
        // No prefix of a valid request is refused (the start line is checked
        // before the head ends).
        let request_len = client.request_bytes().len();
        for len in 0..request_len {
            let mut server = ServerHandshake::new(HandshakeConfig::default(), now);
            let mut buf = BytesMut::from(&input[..len]);
            prop_assert_eq!(server.handle_read(now, &mut buf), Ok(None));
        }
        let split = case.request_split.index(input.len() + 1);
        let mut server = ServerHandshake::new(HandshakeConfig::default(), now);
        let (offer, left) = two_pieces(&input, split, |buf| server.handle_read(now, buf));
        prop_assert_eq!(&left[..], &case.client_frames[..]);
        let expected_path = if case.path.is_empty() || case.path.starts_with('?') {
            format!("/{}", case.path)
        } else {
            case.path.clone()
        };
        prop_assert_eq!(offer.path(), expected_path.as_str());
        let default_port = if case.secure { 443 } else { 80 };
        let expected_host = match case.port {
            Some(port) if port != default_port => format!("{}:{port}", case.host),
            _ => case.host.clone(),
        };
        prop_assert_eq!(offer.host(), expected_host.as_str());
        prop_assert_eq!(offer.protocols(), &case.protocols[..]);
        prop_assert_eq!(offer.origin(), case.origin.as_deref());
        prop_assert_eq!(offer.key(), client_key(case.nonce));
        for (name, value) in &case.headers {
            let got: Vec<&[u8]> = offer
                .headers()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .collect();
            prop_assert!(got.contains(&value.as_bytes()));
        }
        prop_assert_eq!(OriginPolicy::AnyOrigin.check(&offer), Ok(()));

        // The server accepts one offered protocol, or none.
        let chosen = match (&case.chosen, case.protocols.is_empty()) {
            (Some(index), false) => Some(case.protocols[index.index(case.protocols.len())].clone()),
            _ => None,
        };
        let mut accept = Accept::new().header("X-Server", "1");
        if let Some(protocol) = &chosen {
            accept = accept.protocol(protocol.clone());
        }
        let mut response = server.accept(&offer, &accept).unwrap();
        response.extend_from_slice(&case.server_frames);

        // Client side: the response (with the server's first frames behind it).
        for len in 0..response.len() - case.server_frames.len() {
            let mut client = ClientHandshake::new(HandshakeConfig::default(), now, &request, case.nonce);
            let mut buf = BytesMut::from(&response[..len]);
            prop_assert_eq!(client.handle_read(now, &mut buf), Ok(None));
        }
        let split = case.response_split.index(response.len() + 1);
        let (accepted, left) = two_pieces(&response, split, |buf| client.handle_read(now, buf));
        prop_assert_eq!(&left[..], &case.server_frames[..]);
        prop_assert_eq!(accepted.status(), 101);
        prop_assert_eq!(accepted.protocol(), chosen.as_deref());
        prop_assert!(accepted.extensions().is_empty());
        prop_assert_eq!(accepted.header("x-server"), Some(&b"1"[..]));
        prop_assert_eq!(client.poll_timeout(), None);
        prop_assert_eq!(server.poll_timeout(), None);
    }

    #[test]
    fn the_outcome_does_not_depend_on_how_reads_split_the_head(
        (input, cuts) in hostile_heads(),
        head_limit in prop::sample::select(vec![16usize, 64, 200, 8192]),
        header_limit in prop::sample::select(vec![0usize, 2, 64]),
    ) {
        // The same bytes, whole or in pieces, end the same way: the same
        // request or response with the same bytes left, or the same error.
        let config = HandshakeConfig::default()
            .max_head_bytes(head_limit)
            .max_headers(header_limit);
        let server = |pieces: &[usize]| {
            let mut server = ServerHandshake::new(config.clone(), Instant::ZERO);
            read_in_pieces(&input, pieces, |buf| server.handle_read(Instant::ZERO, buf))
        };
        prop_assert_eq!(server(&cuts), server(&[]));
        let client = |pieces: &[usize]| {
            let request = ClientRequest::from_url("ws://server.example.com/chat").unwrap();
            let mut client = ClientHandshake::new(config.clone(), Instant::ZERO, &request, [1; 16]);
            read_in_pieces(&input, pieces, |buf| client.handle_read(Instant::ZERO, buf))
        };
        prop_assert_eq!(client(&cuts), client(&[]));
    }

    #[test]
    fn an_absolute_target_gives_the_same_path_as_its_origin_form(
        scheme in prop::sample::select(vec!["http", "https", "ws", "wss", "WS", "Https"]),
        host in "[a-z0-9.-]{1,20}(:[0-9]{1,5})?",
        path in "(/[a-zA-Z0-9._~%!$&'()*+,;=:@-]{0,8}){0,3}",
        query in prop::option::of("[a-zA-Z0-9._~%!$&'()*+,;=:@/?-]{0,12}"),
    ) {
        // RFC 6455 §3, §4.2.1 (1): `scheme://host/path?query` and
        // `/path?query` name the same resource; an empty path is "/".
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        let origin_form = format!("{}{query}", if path.is_empty() { "/" } else { &path });
        let serve_target = |target: &str| {
            serve(&head(&format!("GET {target} HTTP/1.1"), &valid_headers()))
                .map(|r| r.map(|r| r.path().to_string()))
        };
        prop_assert_eq!(serve_target(&origin_form), Ok(Some(origin_form.clone())));
        prop_assert_eq!(
            serve_target(&format!("{scheme}://{host}{path}{query}")),
            Ok(Some(origin_form))
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic_in_any_split(
        input in prop::collection::vec(any::<u8>(), 0..600),
        split in any::<prop::sample::Index>(),
    ) {
        let split = split.index(input.len() + 1);
        let config = HandshakeConfig::default().max_head_bytes(512).max_headers(8);
        let mut server = ServerHandshake::new(config.clone(), Instant::ZERO);
        let mut buf = BytesMut::from(&input[..split]);
        let first = server.handle_read(Instant::ZERO, &mut buf);
        if first.is_ok() {
            buf.extend_from_slice(&input[split..]);
            let _ = server.handle_read(Instant::ZERO, &mut buf);
        }
        let mut client = rfc_client();
        let mut buf = BytesMut::from(&input[..]);
        let _ = client.handle_read(Instant::ZERO, &mut buf);
    }
}
