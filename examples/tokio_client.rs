//! A client on tokio that survives server restarts: it sends a text message
//! every second, prints the echoes, and reconnects after any close or failed
//! connect, as `wsmachine::reconnect::ReconnectPolicy` decides.
//!
//! ```sh
//! cargo run --release --example tokio_echo_server &
//! cargo run --release --example tokio_client -- ws://127.0.0.1:9002/ --count 10
//! ```
//!
//! Flags (all optional): the URL (default `ws://127.0.0.1:9002/`),
//! `--count N` (exit after N echoes received in total, across reconnects:
//! for scripts), `--interval-ms MS` (between messages, default 1000).
//!
//! What it shows: the client handshake and connection loop on `tokio::net`
//! (`tokio::select!` between a read, the core's deadline and the message
//! timer), and the reconnect policy: kill the server and start it again, and
//! the client prints the decision (`reconnecting in 2.345 s after 1006 ...`),
//! backs off with full jitter while the server is down (RFC 6455 §7.2.3), and
//! carries on where it was once the server is back.
//!
//! Echoes go to stdout, one line each (`echo: message 7`); connection events
//! and decisions go to stderr.

#[path = "common/tokio_driver.rs"]
mod tokio_driver;

use std::process::ExitCode;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;
use tokio_driver::{Clock, Drained, drain, entropy, linger, read_more, sleep_until};
use wsmachine::handshake::{ClientHandshake, ClientRequest, HandshakeConfig};
use wsmachine::reconnect::{Decision, ReconnectConfig, ReconnectPolicy};
use wsmachine::{CloseCode, CloseInfo, Config, Connection, Duration, Event, Message};

/// Settings from the command line.
#[derive(Clone, Debug)]
struct Options {
    url: String,
    count: Option<u64>,
    interval: Duration,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        url: "ws://127.0.0.1:9002/".into(),
        count: None,
        interval: Duration::from_secs(1),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |flag: &str| {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {value}"))
        };
        match arg.as_str() {
            "--help" | "-h" => return Err(String::new()),
            "--count" => options.count = Some(number("--count")?),
            "--interval-ms" => {
                options.interval = Duration::from_millis(number("--interval-ms")?.max(1))
            }
            url if !url.starts_with('-') => options.url = url.to_string(),
            _ => return Err(format!("unknown flag {arg}")),
        }
    }
    Ok(options)
}

/// Counters that live across reconnects.
#[derive(Debug, Default)]
struct Progress {
    sent: u64,
    echoes: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "{e}\nusage: tokio_client [ws://HOST:PORT/PATH] [--count N] [--interval-ms MS]"
            );
            return ExitCode::from(2);
        }
    };
    let clock = Clock::new();
    // Keepalive finds a half-open connection (a dead path) within 40 s.
    let config = Config::default()
        .ping_interval(Some(Duration::from_secs(20)))
        .pong_timeout(Duration::from_secs(20));
    // Seeded from entropy so that many clients of one server spread out.
    let seed = u64::from_le_bytes(entropy());
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default(), seed);
    let mut progress = Progress::default();
    loop {
        let decision = match connect(&options.url, &config, &clock).await {
            Ok((stream, conn, buf)) => {
                policy.on_connected(clock.now());
                eprintln!("connected to {}", options.url);
                let (info, done) =
                    session(stream, conn, buf, &clock, &options, &mut progress).await;
                if done {
                    eprintln!("closed after {} echoes: {info}", progress.echoes);
                    return ExitCode::SUCCESS;
                }
                let decision = policy.on_closed(clock.now(), &info);
                if let Decision::Reconnect { delay, .. } = decision {
                    eprintln!(
                        "reconnecting in {:.3} s after {}, {:?}: {}",
                        delay.as_secs_f64(),
                        info.code(),
                        info.cause,
                        info.hint()
                    );
                }
                decision
            }
            Err(e) => {
                let decision = policy.on_connect_failed(clock.now());
                if let Decision::Reconnect { delay, .. } = decision {
                    eprintln!(
                        "reconnecting in {:.3} s after a failed connect (attempt {}): {e}",
                        delay.as_secs_f64(),
                        policy.attempts()
                    );
                }
                decision
            }
        };
        match decision {
            Decision::Reconnect { at, .. } => {
                tokio::time::sleep_until(clock.tokio_instant(at)).await
            }
            Decision::GiveUp { reason } => {
                eprintln!("giving up: {reason}");
                return ExitCode::FAILURE;
            }
            other => {
                eprintln!("unexpected decision {other:?}");
                return ExitCode::FAILURE;
            }
        }
    }
}

/// Connects to `url` (ws://host:port/path) and performs the client handshake.
/// Returns the stream, the connection and any bytes read after the `101` head.
async fn connect(
    url: &str,
    config: &Config,
    clock: &Clock,
) -> Result<(TcpStream, Connection, BytesMut), String> {
    let request = ClientRequest::from_url(url).map_err(|e| format!("{url}: {e}"))?;
    if request.is_secure() {
        return Err("wss:// needs TLS, which these examples do not include".into());
    }
    let connecting = TcpStream::connect((request.host(), request.port()));
    let mut stream = tokio::time::timeout(std::time::Duration::from_secs(10), connecting)
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    // RFC 6455 §4.1: a fresh random nonce for every handshake. See `entropy`
    // for why a real program should use a CSPRNG instead.
    let mut handshake =
        ClientHandshake::new(HandshakeConfig::default(), clock.now(), &request, entropy());
    stream
        .write_all(handshake.request_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        match handshake.handle_read(clock.now(), &mut buf) {
            Ok(Some(_response)) => break,
            Ok(None) => {}
            Err(e) => return Err(format!("handshake: {e}")),
        }
        let deadline = handshake.poll_timeout().map(|at| clock.tokio_instant(at));
        tokio::select! {
            read = read_more(&mut stream, &mut buf) => match read {
                Ok(0) => return Err("closed during the handshake".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("read: {e}")),
            },
            () = sleep_until(deadline) => handshake
                .handle_timeout(clock.now())
                .map_err(|e| format!("handshake: {e}"))?,
        }
    }
    let conn = Connection::client(config.clone(), clock.now(), entropy());
    Ok((stream, conn, buf))
}

/// Runs one connection until it closes. Returns its close info, and whether
/// the `--count` was reached (we closed it on purpose: do not reconnect).
async fn session(
    mut stream: TcpStream,
    mut conn: Connection,
    mut buf: BytesMut,
    clock: &Clock,
    options: &Options,
    progress: &mut Progress,
) -> (CloseInfo, bool) {
    if !buf.is_empty() {
        conn.handle_read(clock.now(), &mut buf);
    }
    // The first tick is immediate: a message goes out as soon as we connect.
    let mut ticker = tokio::time::interval(options.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut shut_down = false;
    let mut eof = false;
    let mut done = false;
    let info = loop {
        let drained = drain(
            &mut stream,
            &mut conn,
            clock,
            &mut shut_down,
            |_, event| match event {
                Event::Message(Message::Text(text)) => {
                    progress.echoes += 1;
                    println!("echo: {text}");
                }
                Event::Message(Message::Binary(data)) => {
                    progress.echoes += 1;
                    println!("echo: <{} bytes of binary>", data.len());
                }
                _ => {}
            },
        )
        .await;
        let until = match drained {
            Drained::Wait(until) => until,
            Drained::Closed(info) => break info,
        };
        if !done && options.count.is_some_and(|n| progress.echoes >= n) {
            // Enough: close cleanly (1000) and drain the close handshake.
            done = true;
            let _ = conn.close(clock.now(), CloseCode::NORMAL, "done");
            continue;
        }
        let deadline = until.map(|at| clock.tokio_instant(at));
        tokio::select! {
            read = read_more(&mut stream, &mut buf), if !eof => match read {
                Ok(n) if n > 0 => conn.handle_read(clock.now(), &mut buf),
                _ => {
                    eof = true;
                    conn.handle_eof(clock.now());
                }
            },
            () = sleep_until(deadline) => conn.handle_timeout(clock.now()),
            _ = ticker.tick(), if conn.is_open() => {
                progress.sent += 1;
                if let Err(e) = conn.send_text(format!("message {}", progress.sent)) {
                    eprintln!("send: {e}");
                }
            }
        }
    };
    if shut_down && !eof {
        linger(&mut stream).await;
    }
    (info, done)
}
