//! The timer table: one slot per timer kind; `poll_timeout` is its minimum.
//!
//! Two deadlines are stored (close, pong); the keepalive and idle deadlines
//! are derived from the time the last byte arrived, so they can never go
//! stale and cost no state.

use super::{Connection, State, from_millis};
use crate::Instant;

/// The kinds of timer. The order of [`Timer::ALL`] is the order in which
/// `handle_timeout` handles timers that are due together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Close sent (or, for a client, close handshake done and waiting for the
    /// server's TCP close): give up then.
    Close,
    /// A keepalive ping is out: the peer must show life by then.
    Pong,
    /// Nothing received for `idle_timeout`.
    Idle,
    /// Nothing received for `ping_interval`: send a keepalive ping.
    Ping,
}

impl Timer {
    pub(crate) const ALL: [Timer; 4] = [Timer::Close, Timer::Pong, Timer::Idle, Timer::Ping];
}

/// The stored deadlines; `Instant::MAX` means not armed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimerTable {
    close: Instant,
    pong: Instant,
}

impl Default for TimerTable {
    fn default() -> Self {
        TimerTable {
            close: Instant::MAX,
            pong: Instant::MAX,
        }
    }
}

impl TimerTable {
    pub(crate) fn set_close(&mut self, deadline: Instant) {
        self.close = deadline;
    }

    pub(crate) fn set_pong(&mut self, deadline: Instant) {
        self.pong = deadline;
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        match timer {
            Timer::Close => self.close = Instant::MAX,
            Timer::Pong => self.pong = Instant::MAX,
            Timer::Idle | Timer::Ping => {}
        }
    }

    pub(crate) fn stop_all(&mut self) {
        *self = TimerTable::default();
    }
}

impl Connection {
    /// The deadline of `timer`, if armed.
    pub(crate) fn deadline(&self, timer: Timer) -> Option<Instant> {
        let open = self.state == State::Open;
        let at = match timer {
            Timer::Close => self.timers.close,
            Timer::Pong => self.timers.pong,
            Timer::Idle if open && self.limits.idle_timeout > 0 => {
                self.last_received + from_millis(self.limits.idle_timeout)
            }
            // Not while a keepalive ping is due or unanswered.
            Timer::Ping
                if open
                    && self.limits.ping_interval > 0
                    && !self.keepalive_pending
                    && self.timers.pong == Instant::MAX =>
            {
                self.last_received + from_millis(self.limits.ping_interval)
            }
            Timer::Idle | Timer::Ping => Instant::MAX,
        };
        (at != Instant::MAX).then_some(at)
    }

    /// The earliest armed deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        Timer::ALL
            .into_iter()
            .filter_map(|t| self.deadline(t))
            .min()
    }
}
