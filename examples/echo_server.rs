//! An echo server: every text and binary message comes back as it was sent.
//!
//! ```sh
//! cargo run --release --example echo_server -- --addr 127.0.0.1:9001
//! ```
//!
//! Flags (all optional): `--addr ADDR`, `--max-message-size BYTES`,
//! `--max-frame-size BYTES`, `--origin ORIGIN` (repeatable allow-list),
//! `--ping-interval-ms MS` (default 30000; 0 turns keepalive off),
//! `--pong-timeout-ms MS` (default 20000), `--idle-timeout-ms MS`,
//! `--close-timeout-ms MS`, `--handshake-timeout-ms MS`.
//!
//! A plain `GET /` without the upgrade headers (open `http://127.0.0.1:9001/`
//! in a browser) serves a diagnostics page (`examples/diag_page.html`) that
//! opens a WebSocket back to this server and shows state, round-trip times and
//! close codes; `/?auto=N` sends N messages, then closes with 1000.
//!
//! One thread per connection; one line on stdout per closed connection:
//! peer address, close code, initiator, cause, duration.

#[path = "common/driver.rs"]
mod driver;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
#[path = "common/server_options.rs"]
mod server_options;

use driver::{Clock, drive, read_request, respond_and_close};
use server_options::{ServerOptions, USAGE, log, log_closed, parse_server_args};
use wsmachine::deflate::{DeflateConfig, negotiate_server};
use wsmachine::handshake::{Accept, HandshakeError, OriginPolicy, ServerHandshake};
use wsmachine::{Connection, Event, Instant};

fn main() -> ExitCode {
    let options = match parse_server_args("127.0.0.1:9001") {
        Ok(o) => Arc::new(o),
        Err(e) => {
            eprintln!(
                "{e}\nusage: echo_server {USAGE}\na plain HTTP GET / (a browser) serves a diagnostics page"
            );
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&options.addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bind {}: {e}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "echo server listening on ws://{}",
        listener
            .local_addr()
            .map_or(options.addr.clone(), |a| a.to_string())
    );
    let active = Arc::new(AtomicUsize::new(0));
    let clock = Clock::new();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        // Bound the threads: refuse rather than exhaust the machine.
        if active.load(Ordering::Relaxed) >= 4096 {
            drop(stream);
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let (options, active) = (options.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                serve(stream, &options, clock);
                active.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            eprintln!("could not spawn a thread");
        }
    }
    ExitCode::SUCCESS
}

fn serve(mut stream: TcpStream, options: &ServerOptions, clock: Clock) {
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let _ = stream.set_nodelay(true);
    // A peer that stops reading cannot block us forever.
    let _ = stream.set_write_timeout(Some(std::time::Duration::from_secs(30)));
    let started = clock.now();
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut handshake = ServerHandshake::new(options.handshake.clone(), started);
    let request = match read_request(&mut stream, &mut handshake, &mut buf, clock) {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => {
            if let Some(page) = diag_page(&e, &buf) {
                respond_and_close(&mut stream, &page);
                log(peer, "served the diagnostics page", started, clock.now());
                return;
            }
            respond_and_close(&mut stream, &e.response());
            log(
                peer,
                &format!("handshake rejected: {} {e}", e.status()),
                started,
                clock.now(),
            );
            return;
        }
        Err(e) => {
            log(peer, &format!("handshake io: {e}"), started, clock.now());
            return;
        }
    };
    let policy = if options.origins.is_empty() {
        OriginPolicy::AnyOrigin
    } else {
        OriginPolicy::allow_list(options.origins.iter().cloned())
    };
    if let Err(e) = policy.check(&request) {
        respond_and_close(&mut stream, &e.response());
        log(
            peer,
            &format!("handshake rejected: {} {e}", e.status()),
            started,
            clock.now(),
        );
        return;
    }
    // permessage-deflate (RFC 7692): accept the first acceptable offer.
    let mut accept = Accept::new();
    let mut config = options.config.clone();
    if let Some((params, answer)) =
        negotiate_server(request.extensions(), &DeflateConfig::default())
    {
        accept = accept.extensions(answer);
        config = config.deflate(Some(params));
    }
    let response = match handshake.accept(&request, &accept) {
        Ok(r) => r,
        Err(e) => {
            respond_and_close(&mut stream, &e.response());
            return;
        }
    };
    if stream.write_all(&response).is_err() {
        return;
    }
    let mut conn = Connection::server(config, clock.now());
    let mut echo = |conn: &mut Connection, _now: Instant, event: &Event| {
        if let Event::Message(message) = event {
            // Zero copy: the payload goes back out as the same `Bytes`.
            if let Err(e) = conn.send(message.clone()) {
                eprintln!("{peer}: echo refused: {e}");
            }
        }
    };
    match drive(
        &mut stream,
        &mut conn,
        &mut buf,
        clock,
        &mut echo,
        |_, _| {},
        None,
    ) {
        Ok(info) => log_closed(peer, &info, started, clock.now()),
        Err(e) => log(peer, &format!("io error: {e}"), started, clock.now()),
    }
}

/// The diagnostics page, if the failed handshake was a plain `GET /` (or
/// `/?query`) without the upgrade headers; the request head is still in `head`.
fn diag_page(error: &HandshakeError, head: &[u8]) -> Option<Vec<u8>> {
    const PAGE: &str = include_str!("diag_page.html");
    if !matches!(
        error,
        HandshakeError::MissingUpgrade | HandshakeError::MissingConnectionUpgrade
    ) {
        return None;
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    request.parse(head).ok()?;
    let path = request.path?.split('?').next();
    if request.method != Some("GET") || path != Some("/") {
        return None;
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        PAGE.len()
    );
    Some([head.as_bytes(), PAGE.as_bytes()].concat())
}
