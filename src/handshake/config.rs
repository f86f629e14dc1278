//! Limits and deadline shared by both roles of the handshake.

use crate::Duration;

/// Limits and deadline for reading a handshake head (either role).
///
/// ```
/// use wsmachine::Duration;
/// use wsmachine::handshake::HandshakeConfig;
///
/// let config = HandshakeConfig::default()
///     .max_head_bytes(4096)
///     .max_headers(32)
///     .timeout(Some(Duration::from_secs(5)));
/// assert_eq!(config.max_head_bytes, 4096);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeConfig {
    /// The largest head (request or status line, headers and the blank line)
    /// accepted, in bytes; a longer head fails with `431`. Default 8192.
    ///
    /// The limit is enforced as bytes arrive, so a peer cannot make the caller
    /// buffer more than this (plus one read) before the handshake fails.
    pub max_head_bytes: usize,
    /// The most header fields accepted; more fail with `431`. Default 64.
    pub max_headers: usize,
    /// How long the peer has to deliver a complete head, counted from the
    /// `now` given to the constructor; `None` disables the deadline.
    /// Default 10 s.
    pub timeout: Option<Duration>,
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        HandshakeConfig {
            max_head_bytes: 8192,
            max_headers: 64,
            timeout: Some(Duration::from_secs(10)),
        }
    }
}

impl HandshakeConfig {
    /// Sets [`max_head_bytes`](Self::max_head_bytes).
    #[must_use]
    pub fn max_head_bytes(mut self, bytes: usize) -> Self {
        self.max_head_bytes = bytes;
        self
    }

    /// Sets [`max_headers`](Self::max_headers).
    #[must_use]
    pub fn max_headers(mut self, headers: usize) -> Self {
        self.max_headers = headers;
        self
    }

    /// Sets [`timeout`](Self::timeout).
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}
