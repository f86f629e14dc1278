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

/// Feeds `wire` to a client in `piece`-byte reads (then EOF) and returns the
/// close code it sent.
#[cfg(feature = "deflate")]
fn client_close_code(config: wsmachine::Config, wire: &[u8], piece: usize) -> Option<u16> {
    use wsmachine::{Connection, Event, Output};
    let mut conn = Connection::client(config, Instant::ZERO, [0x58; 32]);
    let mut buf = BytesMut::new();
    let mut code = None;
    let mut drain = |conn: &mut Connection| {
        loop {
            match conn.poll_output() {
                Output::Event(Event::Closed(info)) => code = info.sent.map(|f| f.code.0),
                Output::Wait { .. } => break,
                _ => {}
            }
        }
    };
    for chunk in wire.chunks(piece) {
        buf.extend_from_slice(chunk);
        conn.handle_read(Instant::ZERO, &mut buf);
        drain(&mut conn);
    }
    conn.handle_eof(Instant::ZERO);
    drain(&mut conn);
    code
}

/// fuzz target frame_decode, input (hex) `58 01 04 c10bfacf300a46c12818f60000`:
/// cfg 0x58 = permessage-deflate, max_message_size 10; reads of 4 bytes. The
/// frame is an unmasked compressed text message (RSV1) whose inflated payload
/// is `FF` and 1000 zero bytes: invalid UTF-8 at its first byte, and past
/// the limit. Read in 4-byte pieces the connection inflates a little, sees
/// the `FF` and closes with 1007; read whole it inflates past the limit
/// before validating anything and closes with 1009. The close code (and
/// the cause) depend on how the bytes arrived, against the chunking
/// invariance DESIGN.md asks for. The same happens between
/// `BadCompressedData` and `InvalidUtf8` (both 1007, different causes):
/// frame_decode input `40 02 03 05 c1188aff9c14854d00`. (Both fixed in
/// 5156e64: on an inflate error the output before it is validated first.)
///
/// Then frame_decode input `48 01 03 4123f2000000000700`, cfg 0x48 =
/// permessage-deflate, max_message_size 0, 3-byte reads; a compressed text
/// fragment (`41 23`) whose data `f2 00 ..` inflates to `H`, then holds a
/// stored block with bad lengths. Read in 3-byte pieces, `H` comes out
/// before the bad block arrives: past the limit, 1009 (`MessageTooLarge`).
/// Read whole, zlib hands back `H` and fails ("invalid stored block
/// lengths") in the same call: output past the limit now fails as
/// `MessageTooLarge` there too.
///
/// And frame_decode input `48 01 03 c241 0324 0000 0000 ffff 00..`: a
/// compressed binary frame whose data ends a stream with a final block
/// after 2 bytes (`03 24`, RFC 7692 §7.2.3.4), then goes on with payload
/// bytes that start with `00 00`. In 3-byte reads the end of the stream fell
/// at the end of a read with `00 00` left, and those were taken for the
/// start of our own `00 00 ff ff` tail and skipped, shifting the rest of the
/// payload: 1009 instead of the 1007 (`BadCompressedData`) of a whole read.
/// Fixed: only our appended tail is ever skipped after a final block;
/// payload after one starts a new stream.
#[cfg(feature = "deflate")]
#[test]
fn deflate_close_code_does_not_depend_on_read_boundaries() {
    use wsmachine::Config;
    use wsmachine::deflate::DeflateParams;
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
        level: 6,
        min_compress_size: 64,
    };
    let config = Config::default().max_message_size(10).deflate(Some(params));
    let wire = [
        0xc1, 0x0b, 0xfa, 0xcf, 0x30, 0x0a, 0x46, 0xc1, 0x28, 0x18, 0xf6, 0x00, 0x00,
    ];
    let whole = client_close_code(config.clone(), &wire, wire.len());
    let split = client_close_code(config.clone(), &wire, 4);
    assert_eq!(whole, split, "whole read vs 4-byte reads");

    // Same cause question with corrupt compressed data (both 1007 today, but
    // BadCompressedData whole vs InvalidUtf8 split).
    let wire = [0xc1, 0x18, 0x8a, 0xff, 0x9c, 0x14, 0x85, 0x4d, 0x00];
    let config = Config::default().deflate(Some(params));
    assert_eq!(
        client_close_code(config.clone(), &wire, wire.len()),
        client_close_code(config, &wire, 3)
    );

    // Corrupt data vs the limit: 1007 whole, 1009 in 3-byte reads.
    let wire = [0x41, 0x23, 0xf2, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00];
    let config = Config::default().max_message_size(0).deflate(Some(params));
    assert_eq!(
        client_close_code(config.clone(), &wire, wire.len()),
        client_close_code(config.clone(), &wire, 3)
    );

    // Payload after a final block that begins like our tail.
    let wire = [
        0xc2, 0x41, 0x03, 0x24, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x40, 0x00, 0x00, 0xf2, 0x00, 0x00, 0x01, 0x01, 0x30, 0x01, 0x2f, 0x40, 0x00,
        0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    let whole = client_close_code(config.clone(), &wire, wire.len());
    assert_eq!(whole, Some(1007));
    for piece in 1..8 {
        assert_eq!(
            client_close_code(config.clone(), &wire, piece),
            whole,
            "{piece}-byte reads"
        );
    }
}

/// fuzz target pair (deflate negotiated, server `min_compress_size` 0): the
/// server sends "", "" and an empty binary message, compressed. The first
/// goes out as `c1 01 00`, but zlib emits nothing for the sync flush of the
/// second (nothing new since the last flush), and the connection sends the
/// empty payload as is: `c1 00`, `c2 00`. RFC 7692 §7.2.1 says to append an
/// empty stored block when the output does not end with one, so a compressed
/// payload is never empty (an empty message is `00`). The receiver inflates
/// `00 00 ff ff` (the tail) on its own as the start of a stored block of
/// length 0xff00 and, with context takeover, decodes the next message's tail
/// as 3 bytes of data: the client receives `Binary([00, ff, ff])` for an
/// empty message, with no error. (Receiving side: an empty compressed
/// payload could also be refused with 1007, or read as an empty message,
/// instead of desynchronising the inflater.)
#[cfg(feature = "deflate")]
#[test]
fn deflate_empty_messages_round_trip() {
    use wsmachine::deflate::DeflateParams;
    use wsmachine::{Config, Connection, Event, Message, Output};
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
        level: 6,
        min_compress_size: 0,
    };
    let mut server = Connection::server(Config::default().deflate(Some(params)), Instant::ZERO);
    let mut client = Connection::client(
        Config::default().deflate(Some(params)),
        Instant::ZERO,
        [1; 32],
    );
    let sent = [
        Message::text(""),
        Message::text(""),
        Message::binary(Vec::new()),
    ];
    for m in &sent {
        server.send(m.clone()).unwrap();
    }
    let mut wire = BytesMut::new();
    loop {
        match server.poll_output() {
            Output::Transmit(t) => {
                let mut frame = Vec::new();
                t.write_to(&mut frame);
                // RSV1 set: a compressed message; its payload holds at least
                // the byte of the final empty stored block.
                if frame[0] & 0x40 != 0 {
                    assert!(frame.len() > 2, "empty compressed payload: {frame:02x?}");
                }
                wire.extend_from_slice(&frame);
            }
            Output::Wait { .. } => break,
            _ => {}
        }
    }
    client.handle_read(Instant::ZERO, &mut wire);
    let mut received = Vec::new();
    loop {
        match client.poll_output() {
            Output::Event(Event::Message(m)) => received.push(m),
            Output::Wait { .. } => break,
            _ => {}
        }
    }
    assert_eq!(received, sent);
}

/// The receiving side of the above, with a peer that sends empty compressed
/// payloads (server frames `c1 01 00`, `c1 00`, `c2 00`): whatever the
/// client makes of them, it must not deliver data that was never sent.
#[cfg(feature = "deflate")]
#[test]
fn deflate_empty_compressed_payload_does_not_corrupt_the_next_message() {
    use wsmachine::deflate::DeflateParams;
    use wsmachine::{Config, Connection, Event, Output};
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
        level: 6,
        min_compress_size: 0,
    };
    let mut client = Connection::client(
        Config::default().deflate(Some(params)),
        Instant::ZERO,
        [1; 32],
    );
    let mut wire = BytesMut::from(&[0xc1, 0x01, 0x00, 0xc1, 0x00, 0xc2, 0x00][..]);
    client.handle_read(Instant::ZERO, &mut wire);
    loop {
        match client.poll_output() {
            Output::Event(Event::Message(m)) => {
                assert!(
                    m.is_empty(),
                    "delivered {:02x?} for an empty message",
                    m.as_bytes()
                )
            }
            Output::Wait { .. } => break,
            _ => {}
        }
    }
}
