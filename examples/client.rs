//! A line client: sends each stdin line as a text message, prints what comes
//! back, and closes cleanly (1000) at the end of stdin.
//!
//! ```sh
//! cargo run --release --example echo_server &
//! echo hello | cargo run --release --example client -- ws://127.0.0.1:9001/
//! ```

#[path = "common/driver.rs"]
mod driver;

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use driver::{Clock, connect, drive};
use wsmachine::{CloseCode, Config, Connection, Event, Instant, Message};

fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let clock = Clock::new();
    let config = Config::default().ping_interval(Some(wsmachine::Duration::from_secs(20)));
    let (mut stream, mut conn, mut buf) = match connect(&url, config, clock) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // Stdin on its own thread; the connection loop polls the channel.
    let (lines_tx, lines) = mpsc::channel::<Option<String>>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(Some(line)).is_err() {
                return;
            }
        }
        let _ = lines_tx.send(None);
    });
    let mut print = |_: &mut Connection, _: Instant, event: &Event| match event {
        Event::Message(Message::Text(t)) => println!("{t}"),
        Event::Message(Message::Binary(b)) => println!("<{} bytes of binary>", b.len()),
        _ => {}
    };
    let mut stdin_open = true;
    let feed = |conn: &mut Connection, now: Instant| {
        while stdin_open {
            match lines.try_recv() {
                Ok(Some(line)) => {
                    if let Err(e) = conn.send_text(line) {
                        eprintln!("send: {e}");
                    }
                }
                Ok(None) | Err(mpsc::TryRecvError::Disconnected) => {
                    stdin_open = false;
                    let _ = conn.close(now, CloseCode::NORMAL, "bye");
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
    };
    match drive(
        &mut stream,
        &mut conn,
        &mut buf,
        clock,
        &mut print,
        feed,
        Some(Duration::from_millis(20)),
    ) {
        Ok(info) => {
            eprintln!("closed: {info}");
            if info.clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("io error: {e}");
            ExitCode::FAILURE
        }
    }
}
