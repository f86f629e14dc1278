//! Arbitrary bytes into a `Connection`, in both roles, whole and split at
//! fuzzer-chosen points, with small fuzzer-chosen limits.
//!
//! Input layout: `[cfg, nsplit, split_len * (nsplit % 8), wire...]`
//! - `cfg` bits 0-2: max_frame_size index, bits 3-5: max_message_size index,
//!   bit 6: permessage-deflate negotiated (default parameters: context
//!   takeover, 15-bit windows), bit 7: `Delivery::Chunks`;
//! - the wire bytes are fed in pieces of the split lengths, cycled (0 = an
//!   empty read); no split lengths: one piece.
//!
//! Oracles: no panic; the output contract (see `wsmachine_fuzz::Observer`);
//! a protocol failure's close frame carries `e.close_code()`; no message (or
//! chunked message) exceeds max_message_size; after each read the buffer is
//! empty or shorter than one header plus max_frame_size; exactly one `Closed`
//! after EOF; in `Messages` delivery the events do not depend on the split;
//! `FrameHeader::decode` accepts only minimal length encodings and
//! round-trips through `encode`.
//! With permessage-deflate the size oracles apply to the inflated messages:
//! no bomb inflates past max_message_size.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use wsmachine::deflate::DeflateParams;
use wsmachine::frame::{FrameHeader, MAX_HEADER_LEN};
use wsmachine::{CloseCause, Config, Connection, Delivery, Event, Instant, Role};
use wsmachine_fuzz::{Observer, reassembled};

const FRAME_LIMITS: [usize; 8] = [16 << 20, 0, 1, 5, 125, 126, 1000, 65_536];
const MESSAGE_LIMITS: [usize; 8] = [64 << 20, 0, 1, 10, 200, 1000, 65_536, 1 << 20];

fuzz_target!(|data: &[u8]| {
    let [cfg, nsplit, rest @ ..] = data else {
        return;
    };
    let nsplit = usize::from(nsplit % 8);
    if rest.len() < nsplit {
        return;
    }
    let (splits, wire) = rest.split_at(nsplit);
    header_round_trip(wire);
    header_round_trip(data);

    let max_frame = FRAME_LIMITS[usize::from(cfg & 7)];
    let max_message = MESSAGE_LIMITS[usize::from((cfg >> 3) & 7)];
    let delivery = if cfg & 0x80 != 0 {
        Delivery::Chunks
    } else {
        Delivery::Messages
    };
    let deflate = (cfg & 0x40 != 0).then_some(DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
        level: 6,
        min_compress_size: 64,
    });
    let config = Config::default()
        .max_frame_size(max_frame)
        .max_message_size(max_message)
        .delivery(delivery)
        .deflate(deflate);

    let other = config.clone().delivery(match delivery {
        Delivery::Messages => Delivery::Chunks,
        Delivery::Chunks => Delivery::Messages,
    });
    for role in [Role::Server, Role::Client] {
        let split = run(role, &config, splits, wire, *cfg);
        let whole = run(role, &config, &[], wire, *cfg);
        if delivery == Delivery::Messages {
            assert_eq!(
                whole, split,
                "events depend on how the input was split ({role:?})"
            );
        } else {
            // Chunk boundaries follow the reads; the rest may not.
            assert_eq!(
                reassembled(&whole),
                reassembled(&split),
                "events (chunks reassembled) depend on the split ({role:?})"
            );
        }
        // Delivering chunks or whole messages changes nothing else.
        let whole_other = run(role, &other, &[], wire, *cfg);
        assert_eq!(
            reassembled(&whole),
            reassembled(&whole_other),
            "Messages and Chunks delivery disagree ({role:?})"
        );
    }
});

fn run(role: Role, config: &Config, splits: &[u8], wire: &[u8], seed: u8) -> Vec<Event> {
    let now = Instant::ZERO;
    let mut conn = match role {
        Role::Server => Connection::server(config.clone(), now),
        Role::Client => Connection::client(config.clone(), now, [seed; 32]),
    };
    let max_frame = config.max_frame_size;
    let max_message = config.max_message_size;
    let inflating = config.deflate.is_some();
    let mut obs = Observer::new(role, true);
    let mut buf = BytesMut::new();
    // Bytes of the chunked message in progress.
    let mut chunked: usize = 0;
    let mut check = |e: &Event| match e {
        Event::Message(m) => {
            assert!(
                m.len() <= max_message,
                "message of {} > {max_message}",
                m.len()
            );
        }
        Event::Chunk { data, fin, .. } => {
            // Inflated chunks may be larger than the frame that carried them.
            if !inflating {
                assert!(
                    data.len() <= max_frame,
                    "chunk of {} > max_frame {max_frame}",
                    data.len()
                );
            }
            chunked += data.len();
            assert!(
                chunked <= max_message,
                "chunked message of {chunked} > {max_message}"
            );
            if *fin {
                chunked = 0;
            }
        }
        Event::Ping(p) => assert!(p.len() <= 125),
        Event::Pong { payload, rtt } => {
            assert!(payload.len() <= 125);
            assert!(rtt.is_none(), "rtt without a keepalive ping");
        }
        _ => {}
    };

    let pieces: Vec<usize> = if splits.iter().all(|&s| s == 0) {
        vec![wire.len()]
    } else {
        splits.iter().map(|&s| usize::from(s)).collect()
    };
    let mut at = 0;
    let mut i = 0;
    loop {
        let n = pieces[i % pieces.len()].min(wire.len() - at);
        i += 1;
        buf.extend_from_slice(&wire[at..at + n]);
        at += n;
        conn.handle_read(now, &mut buf);
        assert!(
            buf.is_empty() || buf.len() < MAX_HEADER_LEN + max_frame,
            "read buffer holds {} bytes (max_frame {max_frame})",
            buf.len()
        );
        obs.drain(&mut conn, &mut check);
        if at == wire.len() {
            break;
        }
    }
    conn.handle_eof(now);
    obs.drain(&mut conn, &mut check);
    let info = obs.closed.clone().expect("no Closed after EOF");
    if let CloseCause::Protocol(e) = &info.cause {
        let (code, _) = obs
            .wire
            .close_sent
            .clone()
            .expect("protocol failure without a close frame");
        assert_eq!(code, e.close_code().0, "close frame code for {e:?}");
    }
    // Nothing more, ever.
    conn.handle_eof(now);
    conn.handle_timeout(Instant::MAX);
    buf.extend_from_slice(wire);
    conn.handle_read(now, &mut buf);
    obs.drain(&mut conn, |_| {});
    obs.events
}

/// `decode` then `encode` gives the same bytes when the length encoding was
/// minimal; every proper prefix of a decodable header needs more bytes.
fn header_round_trip(bytes: &[u8]) {
    match FrameHeader::decode(bytes) {
        Ok(Some((h, n))) => {
            assert!((2..=MAX_HEADER_LEN).contains(&n));
            let len7 = bytes[1] & 0x7F;
            let minimal = match len7 {
                126 => h.payload_len >= 126,
                127 => h.payload_len > 0xFFFF,
                _ => true,
            };
            // RFC 6455 §5.2: a longer length form than needed is an error.
            assert!(minimal, "a non-minimal length was accepted: {h:?}");
            assert_eq!(h.mask.is_some(), bytes[1] & 0x80 != 0);
            assert_eq!(h.fin, bytes[0] & 0x80 != 0);
            assert_eq!(h.rsv, (bytes[0] >> 4) & 7);
            assert_eq!(h.opcode.as_u8(), bytes[0] & 0x0F);
            let mut out = [0u8; MAX_HEADER_LEN];
            let m = h.encode(&mut out);
            assert_eq!(&out[..m], &bytes[..n], "encode(decode(x)) != x for {h:?}");
            for cut in 0..n {
                assert_eq!(
                    FrameHeader::decode(&bytes[..cut]),
                    Ok(None),
                    "prefix {cut} of {n}"
                );
            }
        }
        Ok(None) => assert!(bytes.len() < MAX_HEADER_LEN),
        Err(_) => {}
    }
}
