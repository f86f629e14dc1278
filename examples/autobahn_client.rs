//! The Autobahn|Testsuite client driver: runs every case of a fuzzing server,
//! echoing every message, then asks it to write its reports.
//!
//! ```sh
//! AUTOBAHN_URL=ws://127.0.0.1:9001 cargo run --release --example autobahn_client
//! ```

#[path = "common/driver.rs"]
mod driver;

use std::process::ExitCode;

use driver::{Clock, connect, drive};
use wsmachine::{Config, Connection, Event, Instant};

const AGENT: &str = "wsmachine";

fn config() -> Config {
    Config::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20)
}

/// Runs one connection to `url` and returns the text messages it received.
fn run(url: &str, clock: Clock, echo: bool) -> Result<Vec<String>, String> {
    let (mut stream, mut conn, mut buf) = connect(url, config(), clock)?;
    let mut texts = Vec::new();
    let mut app = |conn: &mut Connection, _now: Instant, event: &Event| {
        if let Event::Message(message) = event {
            if let wsmachine::Message::Text(t) = message {
                texts.push(t.to_string());
            }
            if echo {
                let _ = conn.send(message.clone());
            }
        }
    };
    drive(
        &mut stream,
        &mut conn,
        &mut buf,
        clock,
        &mut app,
        |_, _| {},
        None,
    )
    .map_err(|e| e.to_string())?;
    Ok(texts)
}

fn main() -> ExitCode {
    let base = std::env::var("AUTOBAHN_URL").unwrap_or_else(|_| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/');
    let clock = Clock::new();
    let count = match run(&format!("{base}/getCaseCount"), clock, false) {
        Ok(texts) => texts.first().and_then(|t| t.trim().parse::<u32>().ok()),
        Err(e) => {
            eprintln!("getCaseCount: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(count) = count else {
        eprintln!("getCaseCount: no count received");
        return ExitCode::FAILURE;
    };
    eprintln!("running {count} cases");
    for case in 1..=count {
        if let Err(e) = run(
            &format!("{base}/runCase?case={case}&agent={AGENT}"),
            clock,
            true,
        ) {
            eprintln!("case {case}: {e}");
        }
    }
    if let Err(e) = run(&format!("{base}/updateReports?agent={AGENT}"), clock, false) {
        eprintln!("updateReports: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
