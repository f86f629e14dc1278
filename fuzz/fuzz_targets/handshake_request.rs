//! Arbitrary bytes, fed in pieces, into the server side of the opening
//! handshake (`ServerHandshake`), with small fuzzer-chosen limits.
//!
//! Input layout: `[cfg, nsplit, split_len * (nsplit % 8), bytes...]`
//! - `cfg` bits 0-2: max_head_bytes index, bits 3-5: max_headers index,
//!   bit 6: a 3 ms deadline (each read is 1 ms later), bit 7: accept with the
//!   first offered subprotocol.
//!
//! Oracles: no panic; while the head is incomplete the buffer never holds
//! more than max_head_bytes without an error; a request comes with exactly its
//! head consumed (a prefix of the input ending in a blank line, no longer than
//! max_head_bytes, that httparse parses to the same length) and the bytes
//! after it left in the buffer; accepting it gives a `HTTP/1.1 101` response
//! with the right `Sec-WebSocket-Accept` that a `ClientHandshake` with the
//! same key accepts; errors are terminal and map to a parseable 4xx/5xx
//! response; without a deadline the outcome does not depend on the split.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use wsmachine::handshake::{
    Accept, ClientHandshake, ClientRequest, HandshakeConfig, HandshakeError, Request,
    ServerHandshake, accept_key, client_key,
};
use wsmachine::{Duration, Instant};

const MAX_HEAD: [usize; 8] = [8192, 0, 16, 64, 128, 256, 512, 1024];
const MAX_HEADERS: [usize; 8] = [64, 0, 1, 2, 4, 8, 16, 100];

#[derive(Debug, PartialEq)]
enum Outcome {
    Pending,
    /// The request and the length of its head.
    Accepted(Request, usize),
    Failed(HandshakeError),
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let Some((pieces, wire)) = wsmachine_fuzz::pieces(rest) else {
        return;
    };
    let timeout = cfg & 0x40 != 0;
    let config = HandshakeConfig::default()
        .max_head_bytes(MAX_HEAD[usize::from(cfg & 7)])
        .max_headers(MAX_HEADERS[usize::from((cfg >> 3) & 7)])
        .timeout(timeout.then(|| Duration::from_millis(3)));
    let select = cfg & 0x80 != 0;
    let split = run(&config, &pieces, wire, select);
    check_limits(&config, wire, &split);
    if !timeout {
        let whole = run(&config, &[wire.len()], wire, select);
        assert_eq!(
            whole, split,
            "the outcome depends on how the request was split"
        );
    }
});

fn run(config: &HandshakeConfig, pieces: &[usize], wire: &[u8], select: bool) -> Outcome {
    let t0 = Instant::from_secs(1);
    let mut now = t0;
    let mut server = ServerHandshake::new(config.clone(), t0);
    let mut buf = BytesMut::new();
    let mut outcome = Outcome::Pending;
    let mut extra_reads = 0;
    wsmachine_fuzz::feed(pieces, wire, |piece, fed| {
        buf.extend_from_slice(piece);
        now = now + Duration::from_millis(1);
        let before = buf.len();
        let result = server.handle_read(now, &mut buf);
        match (&outcome, result) {
            (Outcome::Pending, Ok(None)) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                assert!(
                    buf.len() <= config.max_head_bytes,
                    "{} bytes buffered without a complete head or an error (max_head_bytes {})",
                    buf.len(),
                    config.max_head_bytes
                );
            }
            (Outcome::Pending, Ok(Some(request))) => {
                let head_len = fed - buf.len();
                check_head(config, wire, head_len);
                assert_eq!(
                    &buf[..],
                    &wire[head_len..fed],
                    "bytes after the head not preserved"
                );
                assert_eq!(server.poll_timeout(), None);
                check_accept(&mut server, &request, select, now);
                outcome = Outcome::Accepted(request, head_len);
            }
            (Outcome::Pending, Err(e)) => {
                check_error(&e);
                assert_eq!(server.poll_timeout(), None);
                outcome = Outcome::Failed(e);
            }
            (Outcome::Accepted(..), r) => {
                assert_eq!(r, Ok(None), "a read after the request");
                assert_eq!(buf.len(), before, "a read after the request consumed bytes");
                extra_reads += 1;
            }
            (Outcome::Failed(e), r) => {
                assert_eq!(r.as_ref(), Err(e), "errors are terminal");
                extra_reads += 1;
            }
        }
        extra_reads < 2
    });
    // The deadline: a head still awaited fails at it, and only then.
    if outcome == Outcome::Pending {
        match server.poll_timeout() {
            Some(deadline) => {
                assert!(config.timeout.is_some());
                if deadline > now {
                    assert_eq!(server.handle_timeout(now), Ok(()), "deadline fired early");
                }
                assert_eq!(
                    server.handle_timeout(deadline),
                    Err(HandshakeError::Timeout)
                );
                assert_eq!(server.poll_timeout(), None);
            }
            None => assert!(config.timeout.is_none()),
        }
    } else {
        // Once the head was read or failed, there is no deadline.
        assert_eq!(server.handle_timeout(Instant::MAX), Ok(()));
    }
    outcome
}

/// The consumed head: ends with a blank line, within the limit, and httparse
/// finds the same length in the original bytes.
fn check_head(config: &HandshakeConfig, wire: &[u8], head_len: usize) {
    let head = &wire[..head_len];
    assert!(
        head_len <= config.max_head_bytes,
        "head of {head_len} bytes > max_head_bytes"
    );
    assert!(
        head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n"),
        "consumed head does not end with a blank line"
    );
    let mut headers = vec![httparse::EMPTY_HEADER; 256];
    let mut parsed = httparse::Request::new(&mut headers);
    assert_eq!(
        parsed.parse(head),
        Ok(httparse::Status::Complete(head_len)),
        "httparse disagrees on the head"
    );
}

fn check_accept(server: &mut ServerHandshake, request: &Request, select: bool, now: Instant) {
    // The key is canonical base64 of 16 bytes.
    let nonce: [u8; 16] = STANDARD
        .decode(request.key())
        .expect("accepted key is base64")
        .try_into()
        .expect("accepted key is 16 bytes");
    assert_eq!(client_key(nonce), request.key());
    // The path is a resource name (RFC 6455 §3), whatever form the target
    // took, and a request with a body was refused.
    assert!(request.path().starts_with('/'), "path {:?}", request.path());
    assert!(request.header("Transfer-Encoding").is_none());
    assert!(
        request
            .header("Content-Length")
            .is_none_or(|v| !v.is_empty() && v.iter().all(|&b| b == b'0')),
        "a request with a body was accepted"
    );

    let not_offered = "x-never-offered-zz";
    if !request.protocols().iter().any(|p| p == not_offered) {
        assert_eq!(
            server.accept(request, &Accept::new().protocol(not_offered)),
            Err(HandshakeError::ProtocolNotOffered)
        );
    }
    let selected = if select {
        request.protocols().first().cloned()
    } else {
        None
    };
    let accept = match &selected {
        Some(p) => Accept::new().protocol(p.clone()),
        None => Accept::new(),
    };
    let response = match server.accept(request, &accept) {
        Ok(r) => r,
        // An offered protocol that is not a token cannot be echoed.
        Err(HandshakeError::InvalidHeader(_)) if selected.is_some() => return,
        Err(e) => panic!("accept failed: {e:?}"),
    };
    assert!(
        response.starts_with(b"HTTP/1.1 101 "),
        "response does not start with HTTP/1.1 101"
    );
    let mut headers = vec![httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut headers);
    assert_eq!(
        parsed.parse(&response),
        Ok(httparse::Status::Complete(response.len()))
    );
    assert_eq!(parsed.code, Some(101));
    let want = accept_key(request.key().as_bytes());
    assert!(
        parsed
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Accept")
                && h.value == want.as_bytes()),
        "no Sec-WebSocket-Accept: {want}"
    );

    // A client with the same key accepts the response.
    let mut client_request = ClientRequest::from_url("ws://localhost/").expect("url");
    if let Some(p) = &selected {
        client_request = client_request
            .protocol(p)
            .expect("a protocol the server could echo");
    }
    let mut client = ClientHandshake::new(HandshakeConfig::default(), now, &client_request, nonce);
    let mut buf = BytesMut::from(&response[..]);
    let got = client.handle_read(now, &mut buf);
    let got = match got {
        Ok(Some(r)) => r,
        other => panic!("client refused the server's 101: {other:?}"),
    };
    assert!(buf.is_empty());
    assert_eq!(got.protocol(), selected.as_deref());

    let rejection = server
        .reject(403, &[("X-Reason", "test")], b"no")
        .expect("reject");
    assert!(rejection.starts_with(b"HTTP/1.1 403 "));
}

fn check_error(e: &HandshakeError) {
    let status = e.status();
    assert!((400..=599).contains(&status), "status {status} for {e:?}");
    let response = e.response();
    assert!(response.starts_with(format!("HTTP/1.1 {status} ").as_bytes()));
    let mut headers = vec![httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(n)) = parsed.parse(&response) else {
        panic!("error response does not parse: {e:?}");
    };
    assert_eq!(parsed.code, Some(status));
    let length = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("Content-Length"))
        .map(|h| {
            core::str::from_utf8(h.value)
                .unwrap()
                .parse::<usize>()
                .unwrap()
        });
    assert_eq!(
        length,
        Some(response.len() - n),
        "Content-Length of the error response"
    );
}

/// The limits are exact: a head that httparse finds complete within
/// max_head_bytes with at most max_headers fields is never refused for size,
/// nor left pending.
fn check_limits(config: &HandshakeConfig, wire: &[u8], outcome: &Outcome) {
    let mut headers = vec![httparse::EMPTY_HEADER; 1024];
    let mut parsed = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(n)) = parsed.parse(wire) else {
        return;
    };
    let fields = parsed.headers.len();
    let within = n <= config.max_head_bytes && fields <= config.max_headers;
    match outcome {
        Outcome::Failed(
            e @ (HandshakeError::TooManyHeaders { .. } | HandshakeError::HeadTooLarge { .. }),
        ) => {
            assert!(
                !within,
                "{e:?} for a head of {n} bytes and {fields} fields ({config:?})"
            );
        }
        Outcome::Pending => assert!(
            !within,
            "a complete head of {n} bytes and {fields} fields left pending"
        ),
        Outcome::Accepted(request, _) => {
            assert!(
                within,
                "accepted a head of {n} bytes and {fields} fields ({config:?})"
            );
            assert_eq!(request.headers().len(), fields);
        }
        Outcome::Failed(_) => {}
    }
}
