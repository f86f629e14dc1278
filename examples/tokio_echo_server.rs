//! An echo server on tokio: every text and binary message comes back as it
//! was sent.
//!
//! ```sh
//! cargo run --release --example tokio_echo_server -- --addr 127.0.0.1:9002
//! ```
//!
//! Flags (all optional): `--addr ADDR` (default 127.0.0.1:9002),
//! `--max-message-size BYTES`, `--max-frame-size BYTES`,
//! `--ping-interval-ms MS` (default 30000; 0 turns keepalive off),
//! `--pong-timeout-ms MS` (default 20000), `--idle-timeout-ms MS`,
//! `--close-timeout-ms MS`, `--handshake-timeout-ms MS`.
//!
//! What it shows: how to drive the sans-IO core from `tokio::net` on a
//! single-threaded runtime, one task per connection. The core never sleeps
//! and never reads a clock; the driver converts between `tokio::time::Instant`
//! and `wsmachine::Instant` (microseconds since a process epoch, see
//! `Clock` in `common/tokio_driver.rs`) and, in each task,
//!
//! 1. reads the upgrade request with `read_buf` into a `BytesMut` until
//!    `ServerHandshake::handle_read` returns it, then writes the `101`;
//! 2. loops: drain `poll_output` (write transmits, `shutdown()` on
//!    `Shutdown`, echo messages with `conn.send`), then `tokio::select!`
//!    between reading more bytes and `sleep_until` the deadline of
//!    `Output::Wait { until }`, converted to a `tokio::time::Instant`.
//!
//! One line on stdout per closed connection: peer address, close code,
//! initiator, cause, duration.

#[path = "common/server_options.rs"]
mod server_options;
#[path = "common/tokio_driver.rs"]
mod tokio_driver;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::BytesMut;
use server_options::{ServerOptions, USAGE, log, log_closed, parse_server_args};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_driver::{Clock, Drained, drain, linger, read_more, respond_and_close, sleep_until};
use wsmachine::deflate::{DeflateConfig, negotiate_server};
use wsmachine::handshake::{Accept, OriginPolicy, ServerHandshake};
use wsmachine::{CloseInfo, Connection, Event, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match parse_server_args("127.0.0.1:9002") {
        Ok(o) => Arc::new(o),
        Err(e) => {
            eprintln!("{e}\nusage: tokio_echo_server {USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&options.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bind {}: {e}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "tokio echo server listening on ws://{}",
        listener
            .local_addr()
            .map_or(options.addr.clone(), |a| a.to_string())
    );
    // One epoch for the process: every connection's `now` counts from it.
    let clock = Clock::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // E.g. out of file descriptors: do not spin.
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, peer, options.clone(), clock));
    }
}

/// One connection: the upgrade handshake, then the echo loop.
async fn serve(mut stream: TcpStream, peer: SocketAddr, options: Arc<ServerOptions>, clock: Clock) {
    let started = clock.now();
    let mut buf = BytesMut::with_capacity(16 * 1024);

    // 1. The handshake: read until the request head is complete, or fail.
    let mut handshake = ServerHandshake::new(options.handshake.clone(), started);
    let request = loop {
        match handshake.handle_read(clock.now(), &mut buf) {
            Ok(Some(request)) => break request,
            Ok(None) => {}
            Err(e) => {
                respond_and_close(&mut stream, &e.response()).await;
                log(
                    peer,
                    &format!("handshake rejected: {} {e}", e.status()),
                    started,
                    clock.now(),
                );
                return;
            }
        }
        let deadline = handshake.poll_timeout().map(|at| clock.tokio_instant(at));
        tokio::select! {
            read = read_more(&mut stream, &mut buf) => match read {
                Ok(0) => {
                    log(peer, "closed during the handshake", started, clock.now());
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    log(peer, &format!("handshake io: {e}"), started, clock.now());
                    return;
                }
            },
            () = sleep_until(deadline) => {
                // Times out with 408 if the head is still incomplete.
                if let Err(e) = handshake.handle_timeout(clock.now()) {
                    respond_and_close(&mut stream, &e.response()).await;
                    log(peer, &format!("handshake rejected: {} {e}", e.status()), started, clock.now());
                    return;
                }
            }
        }
    };
    // The `--origin` allow-list (cross-site WebSocket hijacking), then
    // permessage-deflate if the client offers it.
    let policy = if options.origins.is_empty() {
        OriginPolicy::AnyOrigin
    } else {
        OriginPolicy::allow_list(options.origins.iter().cloned())
    };
    let mut accept = Accept::new();
    let mut config = options.config.clone();
    let checked = policy.check(&request).map(|()| {
        if let Some((params, answer)) =
            negotiate_server(request.extensions(), &DeflateConfig::default())
        {
            accept = accept.clone().extensions(answer);
            config = config.clone().deflate(Some(params));
        }
    });
    let response = match checked.and_then(|()| handshake.accept(&request, &accept)) {
        Ok(response) => response,
        Err(e) => {
            respond_and_close(&mut stream, &e.response()).await;
            log(
                peer,
                &format!("handshake rejected: {} {e}", e.status()),
                started,
                clock.now(),
            );
            return;
        }
    };
    if let Err(e) = stream.write_all(&response).await {
        log(peer, &format!("handshake io: {e}"), started, clock.now());
        return;
    }

    // 2. The connection. Bytes after the request head are its first frames.
    let mut conn = Connection::server(config, clock.now());
    if !buf.is_empty() {
        conn.handle_read(clock.now(), &mut buf);
    }
    let mut shut_down = false;
    let mut eof = false;
    let info: CloseInfo = loop {
        // Mutate, then drain until `Wait`: echo each message back.
        let drained = drain(
            &mut stream,
            &mut conn,
            &clock,
            &mut shut_down,
            |conn, event| {
                if let Event::Message(message) = event {
                    // Zero copy: the payload goes back out as the same `Bytes`.
                    if let Err(e) = conn.send(message) {
                        eprintln!("{peer}: echo refused: {e}");
                    }
                }
            },
        )
        .await;
        let until: Option<Instant> = match drained {
            Drained::Wait(until) => until,
            Drained::Closed(info) => break info,
        };
        // The core's deadline (µs since the epoch) as a tokio instant.
        let deadline: Option<tokio::time::Instant> = until.map(|at| clock.tokio_instant(at));
        tokio::select! {
            read = read_more(&mut stream, &mut buf), if !eof => match read {
                Ok(n) if n > 0 => conn.handle_read(clock.now(), &mut buf),
                // 0 bytes: the peer's FIN. A reset is the same to the protocol.
                _ => {
                    eof = true;
                    conn.handle_eof(clock.now());
                }
            },
            // Keepalive ping, pong/idle/close timeouts: all in the core.
            () = sleep_until(deadline) => conn.handle_timeout(clock.now()),
        }
    };
    if shut_down && !eof {
        linger(&mut stream).await;
    }
    log_closed(peer, &info, started, clock.now());
}
