//! Criterion benchmarks of the hot paths: decode (server role, masked input
#![allow(clippy::cast_possible_truncation)] // benchmark data generation
//! read in 64 KiB pieces as from a socket; messages polled, or lent by
//! `poll_messages`), encode (client role, masked; queued and polled, or
//! written straight into a buffer by `send_binary_into`), masking against
//! memcpy, UTF-8 validation, and handshake parsing.
//!
//! `cargo bench --bench codec`. Compare figures within one run (ratios);
//! absolute times on shared machines are noise.

use std::hint::black_box;

use bytes::{Buf, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wsmachine::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};
use wsmachine::handshake::{HandshakeConfig, ServerHandshake};
use wsmachine::{Config, Connection, Instant, Output, Utf8Validator};

const READ: usize = 64 * 1024;

/// A stream of masked client frames.
fn client_stream(payloads: &[Vec<u8>], opcode: OpCode) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let key = (i as u32).wrapping_mul(0x9E37_79B9).to_le_bytes();
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask: Some(key),
            payload_len: p.len() as u64,
        };
        let mut head = [0; MAX_HEADER_LEN];
        let n = h.encode(&mut head);
        out.extend_from_slice(&head[..n]);
        let start = out.len();
        out.extend_from_slice(p);
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// Feeds `stream` to a server in 64 KiB reads; returns payload bytes seen.
/// With `lend`, the whole messages of each read are lent by
/// `poll_messages` (borrowed where they lie) before `poll_output`.
fn decode(stream: &[u8], config: &Config, lend: bool) -> usize {
    let mut conn = Connection::server(config.clone(), Instant::ZERO);
    let mut buf = BytesMut::with_capacity(2 * READ);
    let mut total = 0;
    for piece in stream.chunks(READ) {
        buf.extend_from_slice(piece);
        conn.handle_read(Instant::ZERO, &mut buf);
        if lend {
            conn.poll_messages(usize::MAX, |m| total += m.len());
        }
        loop {
            match conn.poll_output() {
                Output::Event(wsmachine::Event::Message(m)) => total += m.len(),
                Output::Wait { .. } => break,
                _ => {}
            }
        }
    }
    total
}

fn text_with_multibyte(len: usize, seed: usize) -> Vec<u8> {
    let mut s = String::with_capacity(len);
    let mut i = seed;
    while s.len() + 4 <= len {
        i = i.wrapping_mul(1_103_515_245).wrapping_add(12345);
        if (i >> 16) % 100 < 5 {
            s.push('é')
        } else {
            s.push((b'a' + ((i >> 8) % 26) as u8) as char)
        }
    }
    while s.len() < len {
        s.push('x');
    }
    s.into_bytes()
}

fn bench_decode(c: &mut Criterion) {
    let config = Config::default()
        .max_frame_size(1 << 30)
        .max_message_size(1 << 30);
    let mut g = c.benchmark_group("decode");
    g.sample_size(20);

    let small: Vec<Vec<u8>> = (0..100_000)
        .map(|i| format!("message {i:08}").into_bytes())
        .collect();
    let stream = client_stream(&small, OpCode::Text);
    g.throughput(Throughput::Elements(small.len() as u64));
    g.bench_function("W1 16 B text", |b| {
        b.iter(|| black_box(decode(&stream, &config, false)))
    });
    g.bench_function("W1 16 B text, lent", |b| {
        b.iter(|| black_box(decode(&stream, &config, true)))
    });

    let texts: Vec<Vec<u8>> = (0..8_192).map(|i| text_with_multibyte(1024, i)).collect();
    let stream = client_stream(&texts, OpCode::Text);
    g.throughput(Throughput::Bytes((texts.len() * 1024) as u64));
    g.bench_function("W2 1 KiB text", |b| {
        b.iter(|| black_box(decode(&stream, &config, false)))
    });
    g.bench_function("W2 1 KiB text, lent", |b| {
        b.iter(|| black_box(decode(&stream, &config, true)))
    });

    let big: Vec<Vec<u8>> = (0..256).map(|i| vec![i as u8; 64 * 1024]).collect();
    let stream = client_stream(&big, OpCode::Binary);
    g.throughput(Throughput::Bytes((big.len() * 64 * 1024) as u64));
    g.bench_function("W3 64 KiB binary", |b| {
        b.iter(|| black_box(decode(&stream, &config, false)))
    });
    // Text that spans reads: checked as it arrives and assembled.
    let large: Vec<Vec<u8>> = (0..16).map(|i| text_with_multibyte(1 << 20, i)).collect();
    let large_stream = client_stream(&large, OpCode::Text);
    g.throughput(Throughput::Bytes((large.len() << 20) as u64));
    g.bench_function("W4a 1 MiB text", |b| {
        b.iter(|| black_box(decode(&large_stream, &config, false)))
    });
    g.throughput(Throughput::Bytes((big.len() * 64 * 1024) as u64));
    g.bench_function("memcpy of the W3 stream in 64 KiB reads", |b| {
        b.iter(|| {
            let mut buf = BytesMut::with_capacity(2 * READ);
            for piece in stream.chunks(READ) {
                buf.extend_from_slice(piece);
                black_box(&buf);
                buf.clear();
            }
        })
    });
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.sample_size(20);
    let n = 100_000;
    g.throughput(Throughput::Elements(n));
    g.bench_function("W5a 16 B client masked", |b| {
        let payload = bytes::Bytes::from_static(b"0123456789abcdef");
        let mut out = Vec::with_capacity(1 << 22);
        b.iter(|| {
            let mut conn = Connection::client(Config::default(), Instant::ZERO, [1; 32]);
            out.clear();
            for _ in 0..n {
                conn.send_binary(payload.clone()).unwrap();
                while let Output::Transmit(t) = conn.poll_output() {
                    t.write_to(&mut out);
                }
            }
            black_box(out.len())
        })
    });
    g.bench_function("W5a 16 B client masked, into a buffer", |b| {
        let payload = b"0123456789abcdef";
        let mut out = Vec::with_capacity(1 << 22);
        b.iter(|| {
            let mut conn = Connection::client(Config::default(), Instant::ZERO, [1; 32]);
            out.clear();
            for _ in 0..n {
                conn.send_binary_into(payload, &mut out).unwrap();
            }
            assert!(matches!(conn.poll_output(), Output::Wait { .. }));
            black_box(out.len())
        })
    });
    let big = bytes::Bytes::from(vec![7u8; 64 * 1024]);
    g.throughput(Throughput::Bytes(1024 * 64 * 1024));
    g.bench_function("W5b 64 KiB client masked", |b| {
        let mut out = Vec::with_capacity(1 << 20);
        b.iter(|| {
            let mut conn = Connection::client(Config::default(), Instant::ZERO, [1; 32]);
            for _ in 0..1024 {
                conn.send_binary(big.clone()).unwrap();
                while let Output::Transmit(mut t) = conn.poll_output() {
                    out.clear();
                    while t.has_remaining() {
                        let chunk = t.chunk();
                        out.extend_from_slice(chunk);
                        let len = chunk.len();
                        t.advance(len);
                    }
                }
            }
            black_box(out.len())
        })
    });
    g.finish();
}

fn bench_primitives(c: &mut Criterion) {
    let mut g = c.benchmark_group("primitives");
    let mut data = vec![0x5Au8; 64 * 1024];
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("mask 64 KiB", |b| {
        b.iter(|| apply_mask(black_box(&mut data), [1, 2, 3, 4], 1))
    });
    let src = vec![1u8; 64 * 1024];
    g.bench_function("memcpy 64 KiB", |b| {
        b.iter(|| data.copy_from_slice(black_box(&src)))
    });
    // As after a read: 64 KiB copied into the buffer, then unmasked in
    // place from offset 14 (after a 14-byte header). Compare with the copy
    // alone above: the difference is the unmask of freshly read bytes.
    let mut read_buf = vec![0u8; 64 * 1024 + 14];
    g.bench_function("copy 64 KiB then unmask in place", |b| {
        b.iter(|| {
            read_buf[14..].copy_from_slice(black_box(&src));
            apply_mask(black_box(&mut read_buf[14..]), [1, 2, 3, 4], 0);
        })
    });
    let text = text_with_multibyte(64 * 1024, 3);
    g.bench_function("utf8 streaming 64 KiB (5% multibyte)", |b| {
        b.iter(|| {
            let mut v = Utf8Validator::new();
            for piece in text.chunks(1000) {
                v.feed(black_box(piece)).unwrap();
            }
            v.is_complete()
        })
    });
    g.bench_function("core::str::from_utf8 64 KiB", |b| {
        b.iter(|| core::str::from_utf8(black_box(&text)).is_ok())
    });
    let request = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";
    g.throughput(Throughput::Elements(1));
    g.bench_function("handshake request parse", |b| {
        b.iter(|| {
            let mut hs = ServerHandshake::new(HandshakeConfig::default(), Instant::ZERO);
            let mut buf = BytesMut::from(&request[..]);
            black_box(hs.handle_read(Instant::ZERO, &mut buf).unwrap().is_some())
        })
    });
    g.finish();
}

fn json_like(len: usize) -> String {
    let mut s = String::from("[");
    let mut i = 0;
    while s.len() < len - 100 {
        s.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user-{}\",\"active\":{},\"score\":{}.{}}},",
            i * 7 % 1000,
            i % 3 == 0,
            i * 37 % 10_000,
            i % 100
        ));
        i += 1;
    }
    s.push(']');
    s
}

fn bench_deflate(c: &mut Criterion) {
    use wsmachine::deflate::{DeflateConfig, accept_response, negotiate_server, offer};
    let mut g = c.benchmark_group("deflate");
    let text = json_like(64 * 1024);
    let cfg = DeflateConfig::default();
    let (server_params, answer) = negotiate_server(&[offer(&cfg)], &cfg).unwrap();
    let client_params = accept_response(&answer, &cfg).unwrap();
    g.throughput(Throughput::Bytes(text.len() as u64));
    // Compress (client send, masked) then inflate (server receive), context
    // takeover on: the 64 KiB JSON-like message of the permessage-deflate issue.
    let mut client = Connection::client(
        Config::default().deflate(Some(client_params)),
        Instant::ZERO,
        [1; 32],
    );
    let mut server = Connection::server(
        Config::default().deflate(Some(server_params)),
        Instant::ZERO,
    );
    let message = wsmachine::Message::text(text.clone());
    let mut wire = BytesMut::new();
    g.bench_function("compress 64 KiB JSON", |b| {
        b.iter(|| {
            client.send(message.clone()).unwrap();
            while let Output::Transmit(t) = client.poll_output() {
                black_box(t.len());
            }
        })
    });
    g.bench_function("compress + inflate 64 KiB JSON", |b| {
        b.iter(|| {
            client.send(message.clone()).unwrap();
            while let Output::Transmit(t) = client.poll_output() {
                t.write_to_bytes(&mut wire);
            }
            server.handle_read(Instant::ZERO, &mut wire);
            while !matches!(server.poll_output(), Output::Wait { .. }) {}
        })
    });
    g.finish();
}

trait WriteToBytes {
    fn write_to_bytes(self, out: &mut BytesMut);
}

impl WriteToBytes for wsmachine::Transmit {
    fn write_to_bytes(mut self, out: &mut BytesMut) {
        while self.has_remaining() {
            let chunk = self.chunk();
            out.extend_from_slice(chunk);
            let n = chunk.len();
            self.advance(n);
        }
    }
}

criterion_group!(
    benches,
    bench_decode,
    bench_encode,
    bench_primitives,
    bench_deflate
);
criterion_main!(benches);
