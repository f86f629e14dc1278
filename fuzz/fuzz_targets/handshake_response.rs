//! Arbitrary bytes, fed in pieces, into the client side of the opening
//! handshake (`ClientHandshake`) for a fixed request: the RFC 6455 §1.3
//! example (`/chat` on server.example.com, key `dGhlIHNhbXBsZSBub25jZQ==`,
//! subprotocols `chat` and `superchat`).
//!
//! Input layout: `[cfg, nsplit, split_len * (nsplit % 8), bytes...]`
//! - `cfg` bits 0-2: max_head_bytes index, bits 3-5: max_headers index,
//!   bit 6: a 3 ms deadline (each read is 1 ms later).
//!
//! Oracles: no panic; while no head is complete the buffer never holds more
//! than max_head_bytes without an error; a response is a 101 with our
//! `Sec-WebSocket-Accept`, an offered subprotocol (or none) and no extension,
//! and comes with exactly its head(s) consumed (ending in a blank line) and
//! the bytes after it left in the buffer; a refusal is `UnexpectedStatus(s)`
//! with `s` not 1xx and `rejection()` holding the response, its head
//! consumed; errors are terminal; without a deadline the outcome does not
//! depend on the split.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use wsmachine::handshake::{
    ClientHandshake, ClientRequest, HandshakeConfig, HandshakeError, Response,
};
use wsmachine::{Duration, Instant};

const MAX_HEAD: [usize; 8] = [8192, 0, 16, 64, 128, 256, 512, 1024];
const MAX_HEADERS: [usize; 8] = [64, 0, 1, 2, 4, 8, 16, 100];
/// RFC 6455 §1.3: the nonce behind `dGhlIHNhbXBsZSBub25jZQ==`.
const NONCE: [u8; 16] = *b"the sample nonce";
const ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

#[derive(Debug, PartialEq)]
enum Outcome {
    Pending,
    /// The response and how many bytes were consumed.
    Accepted(Response, usize),
    Refused(Response, u16, usize),
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
    let request = ClientRequest::from_url("ws://server.example.com/chat")
        .and_then(|r| r.protocol("chat"))
        .and_then(|r| r.protocol("superchat"))
        .expect("request");
    let split = run(&config, &request, &pieces, wire);
    check_limits(&config, wire, &split);
    if !timeout {
        let whole = run(&config, &request, &[wire.len()], wire);
        assert_eq!(
            whole, split,
            "the outcome depends on how the response was split"
        );
    }
});

fn run(
    config: &HandshakeConfig,
    request: &ClientRequest,
    pieces: &[usize],
    wire: &[u8],
) -> Outcome {
    let t0 = Instant::from_secs(1);
    let mut now = t0;
    let mut client = ClientHandshake::new(config.clone(), t0, request, NONCE);
    const KEY_LINE: &[u8] = b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    assert!(
        client
            .request_bytes()
            .windows(KEY_LINE.len())
            .any(|w| w == KEY_LINE),
        "the request carries the RFC key"
    );
    let mut buf = BytesMut::new();
    // Bytes consumed by interim responses so far.
    let mut consumed = 0usize;
    let mut outcome = Outcome::Pending;
    let mut extra_reads = 0;
    wsmachine_fuzz::feed(pieces, wire, |piece, fed| {
        buf.extend_from_slice(piece);
        now = now + Duration::from_millis(1);
        let before = buf.len();
        let result = client.handle_read(now, &mut buf);
        let taken = fed - buf.len();
        match (&outcome, result) {
            (Outcome::Pending, Ok(None)) => {
                // Only interim (1xx) heads may have been consumed.
                assert!(taken >= consumed);
                if taken > consumed {
                    let code = check_consumed(config, wire, consumed, taken);
                    assert!(
                        (100..=199).contains(&code) && code != 101,
                        "final head {code} consumed without a result"
                    );
                    consumed = taken;
                }
                assert!(
                    buf.len() <= config.max_head_bytes,
                    "{} bytes buffered without a complete head or an error (max_head_bytes {})",
                    buf.len(),
                    config.max_head_bytes
                );
            }
            (Outcome::Pending, Ok(Some(response))) => {
                assert_eq!(check_consumed(config, wire, consumed, taken), 101);
                assert_eq!(
                    &buf[..],
                    &wire[taken..fed],
                    "bytes after the head not preserved"
                );
                assert_eq!(response.status(), 101);
                assert_eq!(response.header("Sec-WebSocket-Accept"), Some(ACCEPT));
                assert!(matches!(
                    response.protocol(),
                    None | Some("chat" | "superchat")
                ));
                assert!(
                    response.extensions().is_empty(),
                    "an extension that was not offered"
                );
                assert_eq!(client.poll_timeout(), None);
                assert!(client.rejection().is_none());
                outcome = Outcome::Accepted(response, taken);
            }
            (Outcome::Pending, Err(HandshakeError::UnexpectedStatus(status))) => {
                assert!(
                    !(100..=199).contains(&status),
                    "interim status {status} refused"
                );
                assert_eq!(check_consumed(config, wire, consumed, taken), status);
                assert_eq!(
                    &buf[..],
                    &wire[taken..fed],
                    "bytes after the head not preserved"
                );
                let rejection = client
                    .rejection()
                    .expect("rejection() after UnexpectedStatus")
                    .clone();
                assert_eq!(rejection.status(), status);
                outcome = Outcome::Refused(rejection, status, taken);
            }
            (Outcome::Pending, Err(e)) => {
                // Interim heads before the error may have been consumed.
                assert!(taken >= consumed);
                if taken > consumed {
                    let code = check_consumed(config, wire, consumed, taken);
                    assert!((100..=199).contains(&code) && code != 101);
                }
                assert!(client.rejection().is_none());
                assert_eq!(client.poll_timeout(), None);
                let _ = e.status();
                outcome = Outcome::Failed(e);
            }
            (Outcome::Accepted(..), r) => {
                assert_eq!(r, Ok(None), "a read after the response");
                assert_eq!(
                    buf.len(),
                    before,
                    "a read after the response consumed bytes"
                );
                extra_reads += 1;
            }
            (Outcome::Refused(_, status, _), r) => {
                assert_eq!(
                    r,
                    Err(HandshakeError::UnexpectedStatus(*status)),
                    "errors are terminal"
                );
                assert_eq!(buf.len(), before);
                extra_reads += 1;
            }
            (Outcome::Failed(e), r) => {
                assert_eq!(r.as_ref(), Err(e), "errors are terminal");
                extra_reads += 1;
            }
        }
        extra_reads < 2
    });
    if outcome == Outcome::Pending {
        match client.poll_timeout() {
            Some(deadline) => {
                assert!(deadline > now);
                assert_eq!(client.handle_timeout(now), Ok(()), "deadline fired early");
                assert_eq!(
                    client.handle_timeout(deadline),
                    Err(HandshakeError::Timeout)
                );
                assert_eq!(client.poll_timeout(), None);
            }
            None => assert!(config.timeout.is_none()),
        }
    }
    outcome
}

/// The heads consumed since `from`: interim 1xx heads (not 101), then the
/// final one; each within the limit, ending in a blank line, parsed by
/// httparse to the same length. Returns the final status.
fn check_consumed(config: &HandshakeConfig, wire: &[u8], from: usize, taken: usize) -> u16 {
    assert!(taken > from, "nothing consumed for the final head");
    let mut at = from;
    loop {
        let rest = &wire[at..taken];
        let mut headers = vec![httparse::EMPTY_HEADER; 256];
        let mut parsed = httparse::Response::new(&mut headers);
        let n = match parsed.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("httparse disagrees on the consumed head: {other:?}"),
        };
        let head = &rest[..n];
        assert!(
            head.len() <= config.max_head_bytes,
            "head of {} bytes > max_head_bytes",
            head.len()
        );
        assert!(
            head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n"),
            "consumed head does not end with a blank line"
        );
        let code = parsed.code.expect("status");
        at += n;
        if at == taken {
            return code;
        }
        assert!(
            (100..=199).contains(&code) && code != 101,
            "a final head ({code}) consumed before another"
        );
    }
}

/// The limits are exact for a single head (no interim responses): a head
/// that httparse finds complete within max_head_bytes with at most
/// max_headers fields is never refused for size, nor left pending.
fn check_limits(config: &HandshakeConfig, wire: &[u8], outcome: &Outcome) {
    let mut headers = vec![httparse::EMPTY_HEADER; 1024];
    let mut parsed = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(n)) = parsed.parse(wire) else {
        return;
    };
    if parsed
        .code
        .is_some_and(|c| (100..=199).contains(&c) && c != 101)
    {
        return;
    }
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
        Outcome::Accepted(response, _) | Outcome::Refused(response, _, _) => {
            assert!(
                within,
                "took a head of {n} bytes and {fields} fields ({config:?})"
            );
            assert_eq!(response.headers().len(), fields);
        }
        Outcome::Failed(_) => {}
    }
}
