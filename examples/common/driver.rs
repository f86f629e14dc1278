//! A blocking std driver for `wsmachine`, shared by the examples: one thread
//! per connection, a read timeout for deadlines, small frames gathered into
//! one write (`poll_transmits_into`), large ones written with `writev`.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration as StdDuration;

use bytes::{Buf, BytesMut};
use wsmachine::handshake::{HandshakeError, ServerHandshake};
use wsmachine::{CloseInfo, Connection, Event, Instant, Output};

/// Wall-clock time as a `wsmachine::Instant` since `epoch`.
#[derive(Clone, Copy, Debug)]
pub struct Clock(std::time::Instant);

impl Clock {
    pub fn new() -> Self {
        Clock(std::time::Instant::now())
    }

    pub fn now(&self) -> Instant {
        Instant::from_std(self.0, std::time::Instant::now())
    }

    /// How long from now until `at` (at least 1 ms: a zero read timeout is an error).
    pub fn until(&self, at: Instant) -> StdDuration {
        let now = self.now();
        (at - now).max(StdDuration::from_millis(1))
    }
}

/// Reads more bytes into `buf` within `timeout`, at most `limit` (`None`:
/// what fits). `Ok(None)` on timeout.
pub fn read_some(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    timeout: Option<StdDuration>,
    limit: Option<usize>,
) -> io::Result<Option<usize>> {
    stream.set_read_timeout(timeout)?;
    let start = buf.len();
    if buf.capacity() - start < 16 * 1024 {
        buf.reserve(limit.unwrap_or(0).max(64 * 1024));
    }
    // Zero only the window we read into (at most 256 KiB), not the whole capacity.
    let window = (buf.capacity() - start)
        .min(256 * 1024)
        .min(limit.unwrap_or(usize::MAX));
    buf.resize(start + window, 0);
    let result = stream.read(&mut buf[start..]);
    match result {
        Ok(n) => {
            buf.truncate(start + n);
            Ok(Some(n))
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            buf.truncate(start);
            Ok(None)
        }
        Err(e) => {
            buf.truncate(start);
            Err(e)
        }
    }
}

/// Writes a transmit with one `writev` where possible.
pub fn write_transmit(stream: &mut TcpStream, mut t: wsmachine::Transmit) -> io::Result<()> {
    while t.has_remaining() {
        let mut slices = [io::IoSlice::new(&[]); 2];
        let n = t.chunks_vectored(&mut slices);
        let written = stream.write_vectored(&slices[..n])?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        t.advance(written);
    }
    Ok(())
}

/// Most bytes of small frames gathered before they are written.
const WRITE_BUFFER: usize = 64 * 1024;

/// Writes what `wbuf` holds (and empties it).
fn flush(stream: &mut TcpStream, conn: &mut Connection, clock: Clock, wbuf: &mut Vec<u8>) {
    if !wbuf.is_empty() {
        let result = stream.write_all(wbuf);
        wbuf.clear();
        on_write_result(conn, clock, result);
    }
}

/// A failed write means the peer is gone: the connection is told so, and
/// reports what the protocol sees.
fn on_write_result(conn: &mut Connection, clock: Clock, result: io::Result<()>) {
    if let Err(e) = result {
        conn.handle_eof(clock.now());
        if e.kind() != io::ErrorKind::BrokenPipe && e.kind() != io::ErrorKind::ConnectionReset {
            eprintln!("write error: {e}");
        }
    }
}

/// What the application does with each event: it may send on `conn`.
pub trait App {
    fn on_event(&mut self, conn: &mut Connection, now: Instant, event: &Event);
}

impl<F: FnMut(&mut Connection, Instant, &Event)> App for F {
    fn on_event(&mut self, conn: &mut Connection, now: Instant, event: &Event) {
        self(conn, now, event)
    }
}

/// Drives `conn` over `stream` until `Event::Closed`; `buf` may hold bytes
/// already read (after the handshake head). Returns the close info, or an IO
/// error if the socket failed in a way the protocol cannot describe.
pub fn drive(
    stream: &mut TcpStream,
    conn: &mut Connection,
    buf: &mut BytesMut,
    clock: Clock,
    app: &mut dyn App,
    mut poll_app: impl FnMut(&mut Connection, Instant),
    app_tick: Option<StdDuration>,
) -> io::Result<CloseInfo> {
    let mut shut_down = false;
    // Small frames are gathered here and written together: a burst of
    // replies becomes one write instead of one per frame.
    let mut wbuf: Vec<u8> = Vec::new();
    if !buf.is_empty() {
        conn.handle_read(clock.now(), buf);
    }
    loop {
        // Drain: act on every output until the connection waits.
        let until = loop {
            if wbuf.len() > WRITE_BUFFER / 2 {
                flush(stream, conn, clock, &mut wbuf);
            }
            let room = WRITE_BUFFER - wbuf.len();
            conn.poll_transmits_into(&mut wbuf, room);
            match conn.poll_output() {
                // A frame that did not fit: what is buffered goes first,
                // then this one without a copy.
                Output::Transmit(t) => {
                    flush(stream, conn, clock, &mut wbuf);
                    let result = write_transmit(stream, t);
                    on_write_result(conn, clock, result);
                }
                Output::Shutdown => {
                    flush(stream, conn, clock, &mut wbuf);
                    shut_down = true;
                    let _ = stream.shutdown(Shutdown::Write);
                }
                Output::Event(Event::Closed(info)) => {
                    flush(stream, conn, clock, &mut wbuf);
                    if shut_down {
                        linger(stream);
                    }
                    return Ok(*info);
                }
                Output::Event(event) => app.on_event(conn, clock.now(), &event),
                Output::Wait { until } => {
                    flush(stream, conn, clock, &mut wbuf);
                    break until;
                }
            }
        };
        let timeout = match (until.map(|at| clock.until(at)), app_tick) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // While a large frame is partly buffered, read only what completes
        // it: the frame then ends where the read ends and is split off
        // without moving what was buffered.
        let limit = conn
            .frame_remaining()
            .filter(|_| buf.len() >= 4096)
            .map(|rest| usize::try_from(rest).unwrap_or(usize::MAX));
        match read_some(stream, buf, timeout, limit) {
            Ok(Some(0)) => conn.handle_eof(clock.now()),
            Ok(Some(_)) => conn.handle_read(clock.now(), buf),
            Ok(None) => conn.handle_timeout(clock.now()),
            Err(_) => conn.handle_eof(clock.now()),
        }
        poll_app(conn, clock.now());
    }
}

/// After our FIN, read and discard until the peer's FIN (or 2 s), so the
/// kernel does not answer unread data with a RST that could destroy the
/// close frame in flight.
fn linger(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(StdDuration::from_secs(2)));
    let mut sink = [0u8; 4096];
    let deadline = std::time::Instant::now() + StdDuration::from_secs(2);
    while std::time::Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Answers a refused handshake (or a plain HTTP request) and closes:
/// the response, our FIN, then unread request bytes are discarded (as in
/// [`linger`]) so the kernel does not answer them with a RST that could
/// destroy the response before the client reads it (RFC 9112 §9.6).
pub fn respond_and_close(stream: &mut TcpStream, response: &[u8]) {
    if stream.write_all(response).is_ok() {
        let _ = stream.shutdown(Shutdown::Write);
        linger(stream);
    }
}

/// Reads the server handshake head: `Ok(Ok(request))`, or the error to answer.
pub fn read_request(
    stream: &mut TcpStream,
    handshake: &mut ServerHandshake,
    buf: &mut BytesMut,
    clock: Clock,
) -> io::Result<Result<wsmachine::handshake::Request, HandshakeError>> {
    loop {
        match handshake.handle_read(clock.now(), buf) {
            Ok(Some(request)) => return Ok(Ok(request)),
            Ok(None) => {}
            Err(e) => return Ok(Err(e)),
        }
        let timeout = handshake.poll_timeout().map(|at| clock.until(at));
        match read_some(stream, buf, timeout, None)? {
            Some(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Some(_) => {}
            None => {
                if let Err(e) = handshake.handle_timeout(clock.now()) {
                    return Ok(Err(e));
                }
            }
        }
    }
}

#[path = "entropy.rs"]
mod entropy;
#[allow(unused_imports)] // not every example that includes this driver needs it
pub use entropy::entropy;

/// Connects to `url` (ws://host:port/path), performs the client handshake and
/// returns the stream, the connection and any bytes already read after the head.
pub fn connect(
    url: &str,
    config: wsmachine::Config,
    clock: Clock,
) -> Result<(TcpStream, Connection, BytesMut), String> {
    use wsmachine::handshake::{ClientHandshake, ClientRequest, HandshakeConfig};
    let mut request = ClientRequest::from_url(url).map_err(|e| format!("{url}: {e}"))?;
    // Offer permessage-deflate (RFC 7692); the answer decides if it is used.
    let deflate = wsmachine::deflate::DeflateConfig::default();
    request = request
        .extension(&wsmachine::deflate::offer(&deflate))
        .map_err(|e| e.to_string())?;
    if request.is_secure() {
        return Err("wss:// needs TLS, which these examples do not include".into());
    }
    let mut stream = TcpStream::connect((request.host(), request.port()))
        .map_err(|e| format!("connect {url}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut handshake =
        ClientHandshake::new(HandshakeConfig::default(), clock.now(), &request, entropy());
    stream
        .write_all(handshake.request_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        match handshake.handle_read(clock.now(), &mut buf) {
            Ok(Some(response)) => {
                let params = match response.extensions().first() {
                    Some(answer) => Some(
                        wsmachine::deflate::accept_response(answer, &deflate)
                            .map_err(|e| format!("handshake: {e}"))?,
                    ),
                    None => None,
                };
                let config = config.deflate(params);
                let conn = Connection::client(config, clock.now(), entropy());
                return Ok((stream, conn, buf));
            }
            Ok(None) => {}
            Err(e) => return Err(format!("handshake: {e}")),
        }
        let timeout = handshake.poll_timeout().map(|at| clock.until(at));
        match read_some(&mut stream, &mut buf, timeout, None).map_err(|e| format!("read: {e}"))? {
            Some(0) => return Err("connection closed during the handshake".into()),
            Some(_) => {}
            None => handshake
                .handle_timeout(clock.now())
                .map_err(|e| format!("handshake: {e}"))?,
        }
    }
}
