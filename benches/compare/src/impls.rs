//! Each implementation driven over the in-memory stream: decode (server role,
//! every payload checked) and encode (client role, into a sink).
//!
//! Every peer is given its fastest documented path for the job; notes inline.

use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::runtime::Runtime;

use crate::data::{Checker, Workload};
use crate::io::{MemStream, PIECE, SinkReport};

/// Limits given to every implementation (all workloads fit well below).
pub const LIMIT: usize = 64 << 20;

pub type DecodeFn = fn(&Runtime, &Workload) -> Result<(), String>;
/// Encodes the first `count` messages into `sink`; the sink reports on drop.
pub type EncodeFn = fn(&Runtime, &Workload, usize, MemStream) -> Result<(), String>;

pub struct Impl {
    pub name: &'static str,
    pub decode: DecodeFn,
    pub encode: EncodeFn,
    /// A line on how the implementation is driven, for the report.
    pub note: &'static str,
}

pub const IMPLS: &[Impl] = &[
    Impl {
        name: "wsmachine",
        decode: wsmachine_decode,
        encode: wsmachine_encode,
        note: "reads of at most 64 KiB into a BytesMut (only the rest of a large frame when one is partly buffered: frame_remaining), handle_read, the read's whole messages lent by poll_messages, then poll_output to Wait; encode: send_binary_into(&[u8]) into a 64 KiB write buffer (a frame that does not fit: send_binary_copy and a Transmit, header/payload), buffer written and poll_output to Wait once over half full and at the end (--api poll: poll_output alone; send_binary_copy and poll_output to Wait after each)",
    },
    Impl {
        name: "tungstenite",
        decode: tungstenite_decode,
        encode: tungstenite_encode,
        note: "blocking WebSocket::read over Read; encode: write(Message::Binary(Bytes)) buffered, one flush at the end",
    },
    Impl {
        name: "tokio-websockets",
        decode: tokio_websockets_decode,
        encode: tokio_websockets_encode,
        note: "Stream::next on a current-thread runtime; encode: Sink::feed(Message::binary(Bytes)), one flush at the end",
    },
    Impl {
        name: "fastwebsockets",
        decode: fastwebsockets_decode,
        encode: fastwebsockets_encode,
        note: "read_frame (FragmentCollector for W4b), auto_close off; encode: write_frame(BorrowedMut) masking a reused buffer in place",
    },
    Impl {
        name: "ratchet_rs",
        decode: ratchet_decode,
        encode: ratchet_encode,
        note: "WebSocket::read into a reused BytesMut (+ simdutf8 check of text: ratchet does not validate); encode: write_binary(&[u8])",
    },
];

fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

// ---- wsmachine -------------------------------------------------------------

/// `--api poll`: wsmachine uses `poll_output` and `send_binary_copy` alone,
/// without the batch calls (`poll_messages`, `send_binary_into`).
pub static POLL_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn poll_only() -> bool {
    POLL_ONLY.load(std::sync::atomic::Ordering::Relaxed)
}

fn wsmachine_decode(_: &Runtime, w: &Workload) -> Result<(), String> {
    use wsmachine::{Config, Connection, DataKind, Event, Instant, Output};
    let config = Config::default()
        .max_frame_size(LIMIT)
        .max_message_size(LIMIT);
    let mut conn = Connection::server(config, Instant::ZERO);
    let mut ck = w.checker();
    let mut stream = MemStream::reader(w.stream.clone());
    let mut buf = BytesMut::new();
    loop {
        // As a socket driver reading into a BytesMut: 64 KiB a read, but
        // while a large frame is partly buffered, only what completes it
        // (the frame then ends where the read ends: nothing to move).
        let want = match conn.frame_remaining() {
            Some(rest) if buf.len() >= 4096 => usize::try_from(rest).unwrap_or(PIECE),
            _ => PIECE,
        };
        if stream.read_into(&mut buf, want) == 0 {
            break;
        }
        conn.handle_read(Instant::ZERO, &mut buf);
        // The whole messages of the read, borrowed where they lie (as
        // fastwebsockets hands out frames); poll_output for the rest.
        if !poll_only() {
            let mut failed = Ok(());
            conn.poll_messages(usize::MAX, |m| {
                if failed.is_ok() {
                    failed = ck.check(m.kind() == DataKind::Text, m.as_bytes());
                }
            });
            failed?;
        }
        loop {
            match conn.poll_output() {
                Output::Event(Event::Message(m)) => {
                    ck.check(m.kind() == DataKind::Text, m.as_bytes())?
                }
                Output::Wait { .. } => break,
                other => return Err(format!("unexpected output {other:?}")),
            }
        }
    }
    ck.finish()
}

fn wsmachine_encode(
    _: &Runtime,
    w: &Workload,
    count: usize,
    mut sink: MemStream,
) -> Result<(), String> {
    use wsmachine::{Config, Connection, Instant};
    let mut conn = Connection::client(Config::default(), Instant::ZERO, [1; 32]);
    // A 64 KiB write buffer, as the peers keep one.
    let mut wbuf: Vec<u8> = Vec::with_capacity(PIECE);
    for i in 0..count {
        // The borrowed-slice send, as ratchet_rs and fastwebsockets get a
        // slice: a client's copy is its masking pass. A frame that fits is
        // encoded straight into the write buffer; a larger one is queued
        // and goes out as its own transmit (header + payload, as with
        // writev).
        let payload = w.payload(i);
        if poll_only() {
            // Queued, then polled to Wait after every send: each frame
            // comes out as a Transmit.
            conn.send_binary_copy(payload).map_err(err)?;
            drain_transmits(&mut conn, &mut sink)?;
            continue;
        }
        if payload.len() <= PIECE - wbuf.len() {
            conn.send_binary_into(payload, &mut wbuf).map_err(err)?;
        } else {
            conn.send_binary_copy(payload).map_err(err)?;
            drain(&mut conn, &mut wbuf, &mut sink)?;
        }
        // As the peers flush a full write buffer: write it, then poll
        // until Wait, as a driver does before it sleeps.
        if wbuf.len() > PIECE / 2 {
            drain(&mut conn, &mut wbuf, &mut sink)?;
        }
    }
    drain(&mut conn, &mut wbuf, &mut sink)
}

/// Writes the buffer and every transmit `poll_output` hands out, until
/// `Wait`.
fn drain(
    conn: &mut wsmachine::Connection,
    wbuf: &mut Vec<u8>,
    sink: &mut MemStream,
) -> Result<(), String> {
    use std::io::Write as _;
    sink.write_all(wbuf).map_err(err)?;
    wbuf.clear();
    drain_transmits(conn, sink)
}

/// Writes every transmit `poll_output` hands out, until `Wait`.
fn drain_transmits(conn: &mut wsmachine::Connection, sink: &mut MemStream) -> Result<(), String> {
    use std::io::Write as _;
    use wsmachine::Output;
    loop {
        match conn.poll_output() {
            Output::Transmit(t) => {
                sink.write_all(t.header()).map_err(err)?;
                sink.write_all(t.payload()).map_err(err)?;
            }
            Output::Wait { .. } => return Ok(()),
            other => return Err(format!("unexpected output {other:?}")),
        }
    }
}

// ---- tungstenite -----------------------------------------------------------

fn tungstenite_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(LIMIT))
        .max_frame_size(Some(LIMIT))
}

fn tungstenite_decode(_: &Runtime, w: &Workload) -> Result<(), String> {
    use tungstenite::protocol::{Message, Role, WebSocket};
    let stream = MemStream::reader(w.stream.clone());
    let mut ws = WebSocket::from_raw_socket(stream, Role::Server, Some(tungstenite_config()));
    let mut ck = w.checker();
    while !ck.done() {
        match ws.read().map_err(err)? {
            Message::Text(t) => ck.check(true, t.as_bytes())?,
            Message::Binary(b) => ck.check(false, &b)?,
            other => return Err(format!("unexpected message {other:?}")),
        }
    }
    ck.finish()
}

fn tungstenite_encode(
    _: &Runtime,
    w: &Workload,
    count: usize,
    sink: MemStream,
) -> Result<(), String> {
    use tungstenite::protocol::{Message, Role, WebSocket};
    let mut ws = WebSocket::from_raw_socket(sink, Role::Client, Some(tungstenite_config()));
    for i in 0..count {
        ws.write(Message::Binary(w.payload_bytes(i))).map_err(err)?;
    }
    ws.flush().map_err(err)
}

// ---- tokio-websockets ------------------------------------------------------

fn tokio_websockets_decode(rt: &Runtime, w: &Workload) -> Result<(), String> {
    use tokio_websockets::{Limits, ServerBuilder};
    rt.block_on(async {
        let stream = MemStream::reader(w.stream.clone());
        let mut ws = ServerBuilder::new()
            .limits(Limits::default().max_payload_len(Some(LIMIT)))
            .serve(stream);
        let mut ck = w.checker();
        while !ck.done() {
            let m = ws.next().await.ok_or("end of stream")?.map_err(err)?;
            if m.is_text() {
                ck.check(true, m.as_payload())?
            } else if m.is_binary() {
                ck.check(false, m.as_payload())?
            } else {
                return Err(format!("unexpected message {m:?}"));
            }
        }
        ck.finish()
    })
}

fn tokio_websockets_encode(
    rt: &Runtime,
    w: &Workload,
    count: usize,
    sink: MemStream,
) -> Result<(), String> {
    use tokio_websockets::{ClientBuilder, Message};
    rt.block_on(async {
        let mut ws = ClientBuilder::new().take_over(sink);
        for i in 0..count {
            ws.feed(Message::binary(w.payload_bytes(i)))
                .await
                .map_err(err)?;
        }
        ws.flush().await.map_err(err)
    })
}

// ---- fastwebsockets --------------------------------------------------------

fn fastwebsockets_decode(rt: &Runtime, w: &Workload) -> Result<(), String> {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    fn check(ck: &mut Checker<'_>, f: &fastwebsockets::Frame<'_>) -> Result<(), String> {
        if !f.fin {
            return Err("unexpected fragment".into());
        }
        match f.opcode {
            OpCode::Text => ck.check(true, &f.payload),
            OpCode::Binary => ck.check(false, &f.payload),
            other => Err(format!("unexpected opcode {other:?}")),
        }
    }
    rt.block_on(async {
        let stream = MemStream::reader(w.stream.clone());
        let mut ws = WebSocket::after_handshake(stream, Role::Server);
        ws.set_auto_close(false);
        ws.set_max_message_size(LIMIT);
        let mut ck = w.checker();
        if w.id == "W4b" {
            // Fragmented messages: the crate's own reassembly.
            let mut ws = FragmentCollector::new(ws);
            while !ck.done() {
                let f = ws.read_frame().await.map_err(err)?;
                check(&mut ck, &f)?;
            }
        } else {
            // Single-frame messages: raw frames, the fastest path (any
            // fragment would fail the check).
            while !ck.done() {
                let f = ws.read_frame().await.map_err(err)?;
                check(&mut ck, &f)?;
            }
        }
        ck.finish()
    })
}

fn fastwebsockets_encode(
    rt: &Runtime,
    w: &Workload,
    count: usize,
    sink: MemStream,
) -> Result<(), String> {
    use fastwebsockets::{Frame, Payload, Role, WebSocket};
    rt.block_on(async {
        let mut ws = WebSocket::after_handshake(sink, Role::Client);
        // Masking needs a mutable payload: `Payload::Borrowed` would make the
        // crate allocate a copy per frame, so copy into one reused buffer and
        // let it mask that in place (its fastest path).
        let mut scratch = vec![0u8; w.msg_len];
        for i in 0..count {
            scratch.copy_from_slice(w.payload(i));
            ws.write_frame(Frame::binary(Payload::BorrowedMut(&mut scratch)))
                .await
                .map_err(err)?;
        }
        ws.flush().await.map_err(err)
    })
}

// ---- ratchet_rs ------------------------------------------------------------

fn ratchet_decode(rt: &Runtime, w: &Workload) -> Result<(), String> {
    use ratchet_rs::{Message, NoExt, Role, WebSocket, WebSocketConfig};
    rt.block_on(async {
        let stream = MemStream::reader(w.stream.clone());
        let config = WebSocketConfig {
            max_message_size: LIMIT,
        };
        let mut ws =
            WebSocket::from_upgraded(config, stream, None::<NoExt>, BytesMut::new(), Role::Server);
        let mut buf = BytesMut::new();
        let mut ck = w.checker();
        while !ck.done() {
            match ws.read(&mut buf).await.map_err(err)? {
                Message::Text => {
                    if simdutf8::basic::from_utf8(&buf).is_err() {
                        return Err(format!("invalid UTF-8 accepted as text"));
                    }
                    ck.check(true, &buf)?
                }
                Message::Binary => ck.check(false, &buf)?,
                other => return Err(format!("unexpected message {other:?}")),
            }
            buf.clear();
        }
        ck.finish()
    })
}

fn ratchet_encode(rt: &Runtime, w: &Workload, count: usize, sink: MemStream) -> Result<(), String> {
    use ratchet_rs::{NoExt, Role, WebSocket, WebSocketConfig};
    rt.block_on(async {
        let config = WebSocketConfig {
            max_message_size: LIMIT,
        };
        let mut ws =
            WebSocket::from_upgraded(config, sink, None::<NoExt>, BytesMut::new(), Role::Client);
        for i in 0..count {
            ws.write_binary(w.payload(i)).await.map_err(err)?;
        }
        Ok(())
    })
}

/// Encodes `count` messages into a fresh sink (capturing if asked); returns
/// the sink's report.
pub fn run_encode(
    rt: &Runtime,
    f: EncodeFn,
    w: &Workload,
    count: usize,
    capture: bool,
) -> Result<SinkReport, String> {
    let report = Arc::new(Mutex::new(SinkReport::default()));
    let sink = if capture {
        MemStream::capture(report.clone())
    } else {
        MemStream::sink(report.clone())
    };
    f(rt, w, count, sink)?;
    // The sink was dropped with the connection: its report is filled in.
    let r = std::mem::take(&mut *report.lock().unwrap());
    Ok(r)
}
