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

    /// The earliest armed deadline: the minimum of [`deadline`](Self::deadline)
    /// over every timer, computed without going through each (it is asked
    /// for on every `Output::Wait`).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let mut at = self.timers.close.min(self.timers.pong);
        if self.state == State::Open {
            if self.limits.idle_timeout > 0 {
                at = at.min(self.last_received + from_millis(self.limits.idle_timeout));
            }
            if self.limits.ping_interval > 0
                && !self.keepalive_pending
                && self.timers.pong == Instant::MAX
            {
                at = at.min(self.last_received + from_millis(self.limits.ping_interval));
            }
        }
        (at != Instant::MAX).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Duration};

    /// `next_deadline` is the minimum of the per-timer deadlines, in every
    /// combination of settings and states it distinguishes.
    #[test]
    fn next_deadline_is_the_minimum_of_the_timers() {
        let secs = |s| Some(Duration::from_secs(s));
        for (ping, idle) in [
            (None, None),
            (secs(5), None),
            (None, secs(7)),
            (secs(5), secs(3)),
        ] {
            let config = Config::default().ping_interval(ping).idle_timeout(idle);
            let mut conn = Connection::server(config, Instant::ZERO + Duration::from_secs(1));
            for step in 0..4 {
                let expected = Timer::ALL
                    .into_iter()
                    .filter_map(|t| conn.deadline(t))
                    .min();
                assert_eq!(
                    conn.next_deadline(),
                    expected,
                    "{ping:?} {idle:?} step {step}"
                );
                match step {
                    0 => conn.keepalive_pending = true,
                    1 => {
                        conn.keepalive_pending = false;
                        conn.timers.set_pong(Instant::ZERO + Duration::from_secs(9));
                    }
                    _ => {
                        conn.timers
                            .set_close(Instant::ZERO + Duration::from_secs(2));
                        conn.state = State::CloseSent;
                    }
                }
            }
        }
    }
}
