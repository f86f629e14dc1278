//! The echo server example over real sockets on 127.0.0.1: its timer and
//! limit flags, with real time. Each test is bounded to a few seconds and
//! kills the server it started.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use wsmachine::frame::{FrameHeader, OpCode};
use wsmachine::handshake::{ClientHandshake, ClientRequest, HandshakeConfig};

/// The running example; killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example_path() -> PathBuf {
    // target/<profile>/deps/<this test> → target/<profile>/examples/echo_server
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join("echo_server")
}

fn start(args: &[&str]) -> Server {
    let path = example_path();
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "echo_server"])
            .status()
            .unwrap();
        assert!(status.success(), "building the echo_server example failed");
    }
    let mut child = Command::new(&path)
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("ws://").next().unwrap().to_string();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "unexpected banner: {line:?}"
    );
    Server { child, addr }
}

/// Connects and completes the handshake, with `origin` if given. Returns the
/// stream and the response head's status.
fn connect(server: &Server, origin: Option<&str>) -> (TcpStream, u16, Vec<u8>) {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut request = ClientRequest::from_url(&format!("ws://{}/", server.addr)).unwrap();
    if let Some(o) = origin {
        request = request.origin(o).unwrap();
    }
    let now = wsmachine::Instant::ZERO;
    let mut hs = ClientHandshake::new(HandshakeConfig::default(), now, &request, [9; 16]);
    stream.write_all(hs.request_bytes()).unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        match hs.handle_read(now, &mut buf) {
            Ok(Some(resp)) => return (stream, resp.status(), buf.to_vec()),
            Ok(None) => {}
            Err(wsmachine::HandshakeError::UnexpectedStatus(status)) => {
                return (stream, status, Vec::new());
            }
            Err(e) => panic!("handshake: {e}"),
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "server closed during the handshake");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A frame from the server: opcode and payload (servers do not mask).
fn read_frame(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(Some((h, n))) = FrameHeader::decode(pending) {
            let len = usize::try_from(h.payload_len).unwrap();
            if pending.len() >= n + len {
                let payload = pending[n..n + len].to_vec();
                pending.drain(..n + len);
                return Some((h.opcode.as_u8(), payload));
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
    }
}

fn client_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    common::masked_frame(true, opcode.as_u8(), payload, [1, 2, 3, 4])
}

fn close_code(payload: &[u8]) -> u16 {
    u16::from_be_bytes([payload[0], payload[1]])
}

/// Reads until EOF (the server's FIN), within the read timeout.
fn assert_eof(stream: &mut TcpStream, pending: &mut Vec<u8>) {
    assert!(
        read_frame(stream, pending).is_none(),
        "expected the server to close TCP"
    );
}

#[test]
fn unanswered_keepalive_pings_fail_the_connection_with_1011() {
    let server = start(&["--ping-interval-ms", "200", "--pong-timeout-ms", "300"]);
    let (mut stream, status, mut pending) = connect(&server, None);
    assert_eq!(status, 101);
    let start = Instant::now();
    let (op, payload) = read_frame(&mut stream, &mut pending).unwrap();
    assert_eq!(op, 0x9, "a keepalive ping");
    assert_eq!(payload.len(), 8);
    let ping_at = start.elapsed();
    assert!(
        ping_at >= Duration::from_millis(150),
        "ping came early: {ping_at:?}"
    );
    // We stay silent (a half-open peer): the pong deadline passes.
    let (op, payload) = read_frame(&mut stream, &mut pending).unwrap();
    assert_eq!(op, 0x8);
    assert_eq!(close_code(&payload), 1011);
    let failed_at = start.elapsed();
    assert!(
        failed_at >= ping_at + Duration::from_millis(250),
        "failed early: {failed_at:?}"
    );
    assert!(failed_at < Duration::from_secs(3));
    assert_eof(&mut stream, &mut pending);
}

#[test]
fn answered_keepalive_pings_keep_the_connection() {
    let server = start(&["--ping-interval-ms", "100", "--pong-timeout-ms", "200"]);
    let (mut stream, _, mut pending) = connect(&server, None);
    let start = Instant::now();
    let mut pings = 0;
    while start.elapsed() < Duration::from_millis(900) {
        let (op, payload) = read_frame(&mut stream, &mut pending).unwrap();
        assert_eq!(op, 0x9, "only pings while we answer them");
        stream
            .write_all(&client_frame(OpCode::Pong, &payload))
            .unwrap();
        pings += 1;
    }
    assert!(pings >= 5, "{pings} pings in 900 ms");
    stream
        .write_all(&client_frame(OpCode::Text, b"still here"))
        .unwrap();
    loop {
        let (op, payload) = read_frame(&mut stream, &mut pending).unwrap();
        if op == 0x1 {
            assert_eq!(payload, b"still here");
            break;
        }
    }
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"done");
    stream
        .write_all(&client_frame(OpCode::Close, &close))
        .unwrap();
    loop {
        let (op, payload) = read_frame(&mut stream, &mut pending).unwrap();
        if op == 0x8 {
            assert_eq!(close_code(&payload), 1000);
            break;
        }
    }
    assert_eof(&mut stream, &mut pending);
}

#[test]
fn idle_timeout_closes_with_1001() {
    let server = start(&["--idle-timeout-ms", "300"]);
    let (mut stream, _, mut pending) = connect(&server, None);
    let start = Instant::now();
    let (op, payload) = read_frame(&mut stream, &mut pending).unwrap();
    assert_eq!(op, 0x8);
    assert_eq!(close_code(&payload), 1001);
    let at = start.elapsed();
    assert!(
        at >= Duration::from_millis(250) && at < Duration::from_secs(3),
        "{at:?}"
    );
    assert_eof(&mut stream, &mut pending);
}

#[test]
fn handshake_timeout_drops_a_slow_client() {
    let server = start(&["--handshake-timeout-ms", "200"]);
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let start = Instant::now();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let at = start.elapsed();
    assert!(
        at >= Duration::from_millis(150) && at < Duration::from_secs(3),
        "{at:?}"
    );
    assert!(
        response.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&response)
    );
}

#[test]
fn max_message_size_closes_with_1009() {
    let server = start(&["--max-message-size", "1000"]);
    let (mut stream, _, mut pending) = connect(&server, None);
    stream
        .write_all(&client_frame(OpCode::Binary, &[7u8; 999]))
        .unwrap();
    let (op, payload) = read_frame(&mut stream, &mut pending).unwrap();
    assert_eq!((op, payload.len()), (0x2, 999), "under the limit: echoed");
    stream
        .write_all(&client_frame(OpCode::Binary, &[7u8; 2000]))
        .unwrap();
    let (op, payload) = read_frame(&mut stream, &mut pending).unwrap();
    assert_eq!(op, 0x8);
    assert_eq!(close_code(&payload), 1009);
    assert_eof(&mut stream, &mut pending);
}

#[test]
fn origin_allow_list_refuses_other_origins_with_403() {
    let server = start(&[
        "--origin",
        "http://good.example",
        "--close-timeout-ms",
        "500",
    ]);
    let (_, status, _) = connect(&server, Some("http://evil.example"));
    assert_eq!(status, 403);
    let (_, status, _) = connect(&server, Some("http://good.example"));
    assert_eq!(status, 101);
}

#[test]
fn refusals_arrive_whole_and_end_with_a_fin() {
    let server = start(&[]);
    // Bytes that cannot begin an HTTP request (a TLS ClientHello on a plain
    // port) are refused at once, not at the 10 s handshake deadline.
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    stream
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1])
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    assert!(
        response.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&response)
    );

    // A head far over the limit: the server stops reading at 8 KiB, answers
    // 431 and closes. The unread bytes must not turn its close into a RST
    // that destroys the answer: the response arrives whole, then a FIN.
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        head.resize(256 * 1024, b'a');
        let _ = writer.write_all(&head);
    });
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response);
    assert!(read.is_ok(), "{read:?} after {} bytes", response.len());
    assert!(
        response.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&response)
    );
    drop(stream);
    sender.join().unwrap();
}
