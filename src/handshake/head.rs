//! Reading an HTTP/1.1 head incrementally under limits and a deadline, and
//! keeping its header fields once parsed. Shared by both roles.
//!
//! `httparse` re-parses from the start on every call, so calling it on each
//! read would be quadratic in the head size. [`HeadReader`] instead scans only
//! the bytes that arrived since the last call for the blank line ending the
//! head, counting lines as it goes, and calls `httparse` once the head is
//! complete. Both limits are enforced while the head is still partial.

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use super::{HandshakeConfig, HandshakeError};
use crate::Instant;

/// Finds the end of a head as bytes arrive, under the configured limits.
#[derive(Clone, Debug)]
pub(crate) struct HeadReader {
    max_head_bytes: usize,
    max_headers: usize,
    /// When the head must be complete; `None` without a timeout.
    deadline: Option<Instant>,
    /// How many bytes at the front of the caller's buffer were already scanned.
    scanned: usize,
    /// Lines (request or status line, then header lines) ended so far.
    lines: usize,
    /// Where the line being scanned starts.
    line_start: usize,
    /// `httparse` for this role's start line, with no header slots.
    parse_start: StartLineParser,
    state: ReadState,
}

/// Parses a start line (request or status line) with `httparse` and no
/// header slots: `Ok` or `TooManyHeaders` when it is valid so far.
pub(crate) type StartLineParser = fn(&[u8]) -> Result<(), httparse::Error>;

/// How many bytes of a start line still in progress are parsed on each read:
/// enough for the start of any request or status line; the rest of a longer
/// one is checked once its line ends. This bounds the work a slow sender causes.
const EARLY_START_CHECK: usize = 1024;

#[derive(Clone, Debug)]
enum ReadState {
    /// Waiting for the rest of the head.
    Reading,
    /// The head was read (or the application answered): nothing more to do.
    Done,
    /// Terminal: every later read reports this error again.
    Failed(HandshakeError),
}

impl HeadReader {
    pub(crate) fn new(
        config: &HandshakeConfig,
        now: Instant,
        parse_start: StartLineParser,
    ) -> Self {
        HeadReader {
            max_head_bytes: config.max_head_bytes,
            max_headers: config.max_headers,
            deadline: config.timeout.map(|timeout| now + timeout),
            scanned: 0,
            lines: 0,
            line_start: 0,
            parse_start,
            state: ReadState::Reading,
        }
    }

    /// The length of the head at the front of `buf` once it is complete.
    ///
    /// `Ok(None)`: wait for more bytes (or the head was already read). The
    /// caller must only append to `buf` between calls while this returns
    /// `Ok(None)`; if the buffer shrank, scanning restarts from its start.
    pub(crate) fn find_end(
        &mut self,
        now: Instant,
        buf: &[u8],
    ) -> Result<Option<usize>, HandshakeError> {
        match &self.state {
            ReadState::Reading => {}
            ReadState::Done => return Ok(None),
            ReadState::Failed(error) => return Err(error.clone()),
        }
        if self.scanned > buf.len() {
            self.restart();
        }
        // Never look past the limit: a head that ends later is too large anyway.
        let limit = buf.len().min(self.max_head_bytes);
        let mut at = self.scanned;
        while let Some(offset) = buf
            .get(at..limit)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        {
            let line_start = self.line_start;
            let newline = at + offset;
            at = newline + 1;
            self.line_start = at;
            // RFC 9112 §2.2: the head ends with an empty line; CRLF is the line
            // terminator, and a recipient MAY accept a bare LF (httparse does).
            let previous = newline.checked_sub(1).and_then(|i| buf.get(i));
            let before = newline.checked_sub(2).and_then(|i| buf.get(i));
            if previous == Some(&b'\n') || (previous == Some(&b'\r') && before == Some(&b'\n')) {
                self.scanned = at;
                return Ok(Some(at));
            }
            // RFC 9112 §2.2: empty lines before the start line are skipped,
            // not counted as header lines.
            if self.lines == 0 && matches!(&buf[line_start..newline], b"" | b"\r") {
                continue;
            }
            self.lines += 1;
            // The first line is the request or status line, the rest are headers.
            if self.lines == 1 {
                self.check_start(&buf[..at])?;
            }
            if self.lines - 1 > self.max_headers {
                let limit = self.max_headers;
                return Err(self.fail(HandshakeError::TooManyHeaders { limit }));
            }
        }
        self.scanned = limit;
        if self.lines == 0 {
            self.check_start(&buf[..limit.min(EARLY_START_CHECK)])?;
        }
        if buf.len() > self.max_head_bytes {
            let limit = self.max_head_bytes;
            return Err(self.fail(HandshakeError::HeadTooLarge { limit }));
        }
        // A head that completes in the same read as the deadline passes still
        // counts (above); only a head still partial at the deadline fails.
        if self.deadline.is_some_and(|deadline| now >= deadline) {
            return Err(self.fail(HandshakeError::Timeout));
        }
        Ok(None)
    }

    /// Fails at once on a start line that cannot begin an HTTP/1.1 message
    /// (a TLS handshake on a plain port, another protocol, noise) instead of
    /// waiting for the blank line or the deadline. Called when the start line
    /// ends, and on each read within its first [`EARLY_START_CHECK`] bytes
    /// while it is still in progress. `httparse` fails at the first byte it
    /// cannot accept, so the error does not depend on where reads split the
    /// head, and it is the error the complete head would give.
    fn check_start(&mut self, seen: &[u8]) -> Result<(), HandshakeError> {
        match (self.parse_start)(seen) {
            Ok(()) | Err(httparse::Error::TooManyHeaders) => Ok(()),
            Err(error) => Err(self.parse_failed(error)),
        }
    }

    /// Enough `httparse` header slots for the head just found: every header
    /// ends a line, and the line count was checked against `max_headers`.
    pub(crate) fn header_slots(&self) -> usize {
        self.lines.max(1)
    }

    /// Marks the head as read: no more reads, no deadline.
    pub(crate) fn finish(&mut self) {
        if matches!(self.state, ReadState::Reading) {
            self.state = ReadState::Done;
        }
    }

    /// Records a terminal error and returns it.
    pub(crate) fn fail(&mut self, error: HandshakeError) -> HandshakeError {
        self.state = ReadState::Failed(error.clone());
        error
    }

    /// Records an `httparse` syntax error, mapped to ours, as terminal.
    pub(crate) fn parse_failed(&mut self, error: httparse::Error) -> HandshakeError {
        let error = parse_error(error, self.max_headers);
        self.fail(error)
    }

    /// Starts over on a new head, after the caller consumed the previous one
    /// (an interim `1xx` response); the deadline stays.
    pub(crate) fn restart(&mut self) {
        self.scanned = 0;
        self.lines = 0;
        self.line_start = 0;
    }

    /// The deadline while the head is still awaited.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ReadState::Reading => self.deadline,
            ReadState::Done | ReadState::Failed(_) => None,
        }
    }

    /// Fails with [`HandshakeError::Timeout`] if the head is still awaited at
    /// or after the deadline; otherwise (early or spurious calls) does nothing.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Result<(), HandshakeError> {
        match self.poll_timeout() {
            Some(deadline) if now >= deadline => Err(self.fail(HandshakeError::Timeout)),
            _ => Ok(()),
        }
    }
}

/// Maps an `httparse` syntax error to ours.
fn parse_error(error: httparse::Error, max_headers: usize) -> HandshakeError {
    match error {
        // httparse only knows HTTP/1.0 and HTTP/1.1; anything else fails here.
        httparse::Error::Version => HandshakeError::UnsupportedHttpVersion,
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders { limit: max_headers },
        httparse::Error::HeaderName => HandshakeError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => HandshakeError::Malformed("invalid header value"),
        httparse::Error::NewLine => HandshakeError::Malformed("invalid line ending"),
        httparse::Error::Status => HandshakeError::Malformed("invalid status code"),
        httparse::Error::Token => HandshakeError::Malformed("invalid method or request target"),
    }
}

/// The header fields of a parsed head, owned: one buffer of names and
/// values, and where each one is.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Fields {
    bytes: Vec<u8>,
    /// Per field: the name's range in `bytes`; the value follows it up to `.1`.
    spans: Vec<(Range<usize>, usize)>,
}

impl Fields {
    pub(crate) fn new(headers: &[httparse::Header<'_>]) -> Self {
        let size = headers.iter().map(|h| h.name.len() + h.value.len()).sum();
        let mut fields = Fields {
            bytes: Vec::with_capacity(size),
            spans: Vec::with_capacity(headers.len()),
        };
        for header in headers {
            let start = fields.bytes.len();
            fields.bytes.extend_from_slice(header.name.as_bytes());
            let name_end = fields.bytes.len();
            // httparse already strips the whitespace around values.
            fields.bytes.extend_from_slice(trim(header.value));
            fields.spans.push((start..name_end, fields.bytes.len()));
        }
        fields
    }

    /// Every field in order, as (name, value).
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &[u8])> + '_ {
        self.spans.iter().map(|(name, value_end)| {
            let name_bytes = self.bytes.get(name.clone()).unwrap_or_default();
            let value = self.bytes.get(name.end..*value_end).unwrap_or_default();
            // Names are tokens (checked by httparse), so always ASCII.
            (core::str::from_utf8(name_bytes).unwrap_or_default(), value)
        })
    }

    /// Values of every field named `name` (ASCII case-insensitive), in order.
    pub(crate) fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The one value of a field that must appear at most once.
    pub(crate) fn get_unique(&self, name: &'static str) -> Result<Option<&[u8]>, HandshakeError> {
        let mut values = self.get_all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(HandshakeError::DuplicateHeader(name));
        }
        Ok(first)
    }

    /// Whether any `name` field lists `token` (RFC 9110 §5.6.1 comma lists,
    /// ASCII case-insensitive).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(list)
            .any(|item| item.eq_ignore_ascii_case(token.as_bytes()))
    }
}

/// RFC 9110 §5.6.3: optional whitespace is spaces and tabs.
pub(crate) fn trim(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

/// RFC 9110 §5.6.1: the items of a comma-separated list, trimmed, empty
/// items skipped.
pub(crate) fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|item| !item.is_empty())
}

/// Like [`list`], but commas inside quoted strings (RFC 9110 §5.6.4) do not
/// split: extension parameters may carry quoted values.
pub(crate) fn list_quoted(value: &[u8]) -> Vec<&[u8]> {
    let mut items = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &b) in value.iter().enumerate() {
        match (quoted, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, _, b'"') => quoted = !quoted,
            (false, _, b',') => {
                items.push(value.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(value.get(start..).unwrap_or_default());
    items
        .into_iter()
        .map(trim)
        .filter(|item| !item.is_empty())
        .collect()
}

/// A header value as text; non-UTF-8 fails as malformed with `what`.
pub(crate) fn text(value: &[u8], what: &'static str) -> Result<String, HandshakeError> {
    core::str::from_utf8(value)
        .map(String::from)
        .map_err(|_| HandshakeError::Malformed(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Duration;

    fn reader(max_head_bytes: usize, max_headers: usize) -> HeadReader {
        let config = HandshakeConfig::default()
            .max_head_bytes(max_head_bytes)
            .max_headers(max_headers)
            .timeout(Some(Duration::from_secs(1)));
        HeadReader::new(&config, Instant::ZERO, |_| Ok(()))
    }

    #[test]
    fn finds_the_end_incrementally() {
        let head = b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest";
        let mut r = reader(100, 10);
        for len in 0..24 {
            assert_eq!(r.find_end(Instant::ZERO, &head[..len]), Ok(None), "{len}");
        }
        assert_eq!(r.find_end(Instant::ZERO, &head[..24]), Ok(Some(24)));
        assert_eq!(r.header_slots(), 2);
    }

    #[test]
    fn accepts_bare_lf() {
        let mut r = reader(100, 10);
        assert_eq!(
            r.find_end(Instant::ZERO, b"GET / HTTP/1.1\nA: b\n\nx"),
            Ok(Some(21))
        );
    }

    #[test]
    fn limits() {
        let mut r = reader(10, 10);
        assert_eq!(r.find_end(Instant::ZERO, b"0123456789"), Ok(None));
        assert_eq!(
            r.find_end(Instant::ZERO, b"0123456789a"),
            Err(HandshakeError::HeadTooLarge { limit: 10 })
        );
        // Terminal.
        assert!(r.find_end(Instant::ZERO, b"").is_err());

        let mut r = reader(100, 1);
        assert_eq!(r.find_end(Instant::ZERO, b"GET\r\nA: 1\r\n"), Ok(None));
        assert_eq!(
            r.find_end(Instant::ZERO, b"GET\r\nA: 1\r\nB: 2\r\n"),
            Err(HandshakeError::TooManyHeaders { limit: 1 })
        );
    }

    #[test]
    fn shrunk_buffer_restarts() {
        let mut r = reader(100, 10);
        assert_eq!(r.find_end(Instant::ZERO, b"GET / HTTP/1.1\r\n"), Ok(None));
        assert_eq!(r.find_end(Instant::ZERO, b"\r\n\r\n"), Ok(Some(4)));
    }

    #[test]
    fn deadline() {
        let mut r = reader(100, 10);
        assert_eq!(r.poll_timeout(), Some(Instant::from_secs(1)));
        assert_eq!(r.handle_timeout(Instant::from_millis(999)), Ok(()));
        assert_eq!(r.find_end(Instant::from_millis(999), b"GET"), Ok(None));
        assert_eq!(
            r.find_end(Instant::from_secs(1), b"GET"),
            Err(HandshakeError::Timeout)
        );
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn lists() {
        let items: Vec<&[u8]> = list(b" a ,, b\t,").collect();
        assert_eq!(items, [&b"a"[..], b"b"]);
        assert_eq!(
            list_quoted(br#"x; p="1,2", y ;q, "#),
            [&br#"x; p="1,2""#[..], b"y ;q"]
        );
        assert_eq!(
            list_quoted(br#"x; p="a\"," , z"#),
            [&br#"x; p="a\",""#[..], b"z"]
        );
        assert_eq!(trim(b" \t "), b"");
    }
}
