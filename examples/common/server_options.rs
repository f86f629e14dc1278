//! What the std and tokio echo servers share: command-line options and the
//! one line logged per connection.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::Write;
use std::net::SocketAddr;

use wsmachine::handshake::HandshakeConfig;
use wsmachine::{CloseCause, CloseInfo, Config, Duration, Instant};

/// Settings from the command line.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub addr: String,
    pub config: Config,
    pub handshake: HandshakeConfig,
    /// `--origin` allow-list (empty: any origin).
    pub origins: Vec<String>,
}

/// The flags every echo server takes; `default_addr` differs per example.
pub const USAGE: &str = "[--addr ADDR] [--max-message-size BYTES] [--max-frame-size BYTES] \
[--origin ORIGIN]... [--ping-interval-ms MS] [--pong-timeout-ms MS] [--idle-timeout-ms MS] \
[--close-timeout-ms MS] [--handshake-timeout-ms MS]";

/// Parses the process arguments. `Err("")` asks for the usage text.
pub fn parse_server_args(default_addr: &str) -> Result<ServerOptions, String> {
    let mut options = ServerOptions {
        addr: default_addr.into(),
        // Keepalive on by default: a ping after 30 s of silence (under the
        // 60 s idle cut of common proxies), and a peer that answers nothing
        // for 20 s more is half-open and dropped (1011), so a vanished
        // client does not hold its thread forever. `--ping-interval-ms 0`
        // turns it off.
        config: Config::default()
            .max_message_size(64 << 20)
            .max_frame_size(64 << 20)
            .ping_interval(Some(Duration::from_secs(30))),
        handshake: HandshakeConfig::default(),
        origins: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {value}"))
        };
        let size = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag}: not a size: {value}"))
        };
        let ms = || number().map(Duration::from_millis);
        // 0 turns an optional timer off.
        let optional_ms = || ms().map(|d| Some(d).filter(|d| !d.is_zero()));
        let c = &mut options.config;
        match flag.as_str() {
            "--addr" => options.addr = value.clone(),
            "--max-message-size" => c.max_message_size = size()?,
            "--max-frame-size" => c.max_frame_size = size()?,
            "--origin" => options.origins.push(value.clone()),
            "--ping-interval-ms" => c.ping_interval = optional_ms()?,
            "--pong-timeout-ms" => c.pong_timeout = ms()?,
            "--idle-timeout-ms" => c.idle_timeout = optional_ms()?,
            "--close-timeout-ms" => c.close_timeout = ms()?,
            "--handshake-timeout-ms" => {
                options.handshake = options.handshake.clone().timeout(optional_ms()?)
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(options)
}

/// One line on stdout: `closed peer=ADDR WHAT duration_ms=N`.
pub fn log(peer: SocketAddr, what: &str, started: Instant, now: Instant) {
    let line = format!(
        "closed peer={peer} {what} duration_ms={}\n",
        (now - started).as_millis()
    );
    // Not `println!`: a closed stdout must not panic the server.
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

/// The log line of a connection that ended: code, initiator, cause, clean.
pub fn log_closed(peer: SocketAddr, info: &CloseInfo, started: Instant, now: Instant) {
    let cause = match &info.cause {
        CloseCause::Protocol(e) => format!("Protocol({e})"),
        other => format!("{other:?}"),
    };
    let what = format!(
        "code={} initiator={:?} cause={cause} clean={}",
        info.code().0,
        info.initiator,
        info.clean
    );
    log(peer, &what, started, now);
}
