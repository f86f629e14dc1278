//! Memory held by an idle server connection after one 16-byte masked message
//! was received and drained: the struct's size plus the live heap bytes it
//! keeps (counting allocator; the message and any caller read buffer dropped).

use std::hint::black_box;
use std::mem::size_of;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use tokio::runtime::Runtime;

use crate::alloc::heap_delta;
use crate::io::MemStream;

pub struct Mem {
    pub name: &'static str,
    /// `size_of` the connection state (for peers: their type minus the stream
    /// they wrap, so padding may shift it by a few bytes).
    pub size: usize,
    /// Live heap bytes it holds.
    pub heap: isize,
}

impl Mem {
    pub fn total(&self) -> isize {
        self.size as isize + self.heap
    }
}

/// The frame as a `Bytes` whose clones do not allocate.
fn frame() -> Bytes {
    Bytes::from_static(Box::leak(crate::data::one_small_frame().into_boxed_slice()))
}

const PAYLOAD: &[u8] = b"0123456789abcdef";

pub fn wsmachine() -> Result<Mem, String> {
    use wsmachine::{Config, Connection, Event, Instant, Output};
    let wire = crate::data::one_small_frame();
    let (conn, heap) = heap_delta(|| {
        let mut conn = Connection::server(Config::default(), Instant::ZERO);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&wire);
        conn.handle_read(Instant::ZERO, &mut buf);
        let mut got = false;
        loop {
            match conn.poll_output() {
                Output::Event(Event::Message(m)) => got = m.as_bytes() == PAYLOAD,
                Output::Wait { .. } => break,
                other => return Err(format!("unexpected output {other:?}")),
            }
        }
        if !got || !buf.is_empty() {
            return Err("the 16-byte message was not received".into());
        }
        drop(buf);
        Ok(conn)
    });
    let conn = conn?;
    black_box(&conn);
    drop(conn);
    Ok(Mem {
        name: "wsmachine",
        size: size_of::<Connection>(),
        heap,
    })
}

fn minus_stream<T>() -> usize {
    size_of::<T>().saturating_sub(size_of::<MemStream>())
}

pub fn peers(rt: &Runtime) -> Vec<Result<Mem, String>> {
    let frame = frame();
    // Warm the runtime so its own lazy allocations fall outside the windows.
    rt.block_on(async {});
    vec![
        tungstenite(&frame),
        tokio_websockets(rt, &frame),
        fastwebsockets(rt, &frame),
        ratchet(rt, &frame),
    ]
}

fn tungstenite(frame: &Bytes) -> Result<Mem, String> {
    use tungstenite::protocol::{Message, Role, WebSocket, WebSocketContext};
    let (ws, heap) = heap_delta(|| {
        let mut ws =
            WebSocket::from_raw_socket(MemStream::reader(frame.clone()), Role::Server, None);
        match ws.read() {
            Ok(Message::Text(t)) if t.as_bytes() == PAYLOAD => Ok(ws),
            other => Err(format!("tungstenite: {other:?}")),
        }
    });
    let ws = ws?;
    black_box(&ws);
    drop(ws);
    Ok(Mem {
        name: "tungstenite",
        size: size_of::<WebSocketContext>(),
        heap,
    })
}

fn tokio_websockets(rt: &Runtime, frame: &Bytes) -> Result<Mem, String> {
    use tokio_websockets::{ServerBuilder, WebSocketStream};
    let (ws, heap) = heap_delta(|| {
        rt.block_on(async {
            let mut ws = ServerBuilder::new().serve(MemStream::reader(frame.clone()));
            match ws.next().await {
                Some(Ok(m)) if m.as_payload()[..] == *PAYLOAD => Ok(ws),
                other => Err(format!("tokio-websockets: {other:?}")),
            }
        })
    });
    let ws = ws?;
    black_box(&ws);
    drop(ws);
    Ok(Mem {
        name: "tokio-websockets",
        size: minus_stream::<WebSocketStream<MemStream>>(),
        heap,
    })
}

fn fastwebsockets(rt: &Runtime, frame: &Bytes) -> Result<Mem, String> {
    use fastwebsockets::{Role, WebSocket};
    let (ws, heap) = heap_delta(|| {
        rt.block_on(async {
            let mut ws = WebSocket::after_handshake(MemStream::reader(frame.clone()), Role::Server);
            let ok = match ws.read_frame().await {
                Ok(f) => f.payload[..] == *PAYLOAD,
                Err(e) => return Err(format!("fastwebsockets: {e:?}")),
            };
            if ok {
                Ok(ws)
            } else {
                Err("fastwebsockets: wrong payload".into())
            }
        })
    });
    let ws = ws?;
    black_box(&ws);
    drop(ws);
    Ok(Mem {
        name: "fastwebsockets",
        size: minus_stream::<WebSocket<MemStream>>(),
        heap,
    })
}

fn ratchet(rt: &Runtime, frame: &Bytes) -> Result<Mem, String> {
    use ratchet_rs::{Message, NoExt, Role, WebSocket, WebSocketConfig};
    let (ws, heap) = heap_delta(|| {
        rt.block_on(async {
            let mut ws = WebSocket::from_upgraded(
                WebSocketConfig::default(),
                MemStream::reader(frame.clone()),
                None::<NoExt>,
                BytesMut::new(),
                Role::Server,
            );
            let mut buf = BytesMut::new();
            match ws.read(&mut buf).await {
                Ok(Message::Text) if buf[..] == *PAYLOAD => Ok(ws),
                other => Err(format!("ratchet_rs: {other:?}")),
            }
        })
    });
    let ws = ws?;
    black_box(&ws);
    drop(ws);
    Ok(Mem {
        name: "ratchet_rs",
        size: minus_stream::<WebSocket<MemStream, NoExt>>(),
        heap,
    })
}
