//! Caller-supplied time: the core never reads a clock.
//!
//! An [`Instant`] is a count of microseconds since an epoch the caller picks
//! (process start, `UNIX_EPOCH`, zero in a test). Only differences matter.
//! Arithmetic saturates: nothing here can panic or wrap.

use core::fmt;
use core::ops::{Add, Sub};
pub use core::time::Duration;

/// A point in time, in microseconds since an epoch chosen by the caller.
///
/// The connection compares instants only with each other, so any monotonic
/// source works: `std::time::Instant` minus a start instant, a virtual clock in
/// a simulation, or a hardware tick counter on an embedded target.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);
    /// The largest representable instant; used as "never".
    pub const MAX: Instant = Instant(u64::MAX);

    /// An instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    /// An instant `millis` milliseconds after the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1_000))
    }

    /// An instant `secs` seconds after the epoch (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Instant(secs.saturating_mul(1_000_000))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The time elapsed since the epoch.
    pub const fn since_epoch(self) -> Duration {
        Duration::from_micros(self.0)
    }

    /// `self - earlier`, or zero if `earlier` is later than `self`.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_micros(d)))
    }

    /// `self - d`, saturating at [`Instant::ZERO`].
    pub fn saturating_sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(duration_micros(d)))
    }
}

/// A duration in whole microseconds, saturating at `u64::MAX`.
pub(crate) fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating addition.
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturating subtraction.
    fn sub(self, d: Duration) -> Instant {
        self.saturating_sub(d)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating difference: zero if `rhs` is later.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Instant({}.{:06}s)",
            self.0 / 1_000_000,
            self.0 % 1_000_000
        )
    }
}

#[cfg(feature = "std")]
impl Instant {
    /// Converts a `std::time::Instant` relative to `epoch` (saturating at zero).
    ///
    /// A convenience for std drivers: keep one `epoch = std::time::Instant::now()`
    /// per process and pass `Instant::from_std(epoch, std::time::Instant::now())`.
    pub fn from_std(epoch: std::time::Instant, now: std::time::Instant) -> Instant {
        Instant(duration_micros(now.saturating_duration_since(epoch)))
    }

    /// The `std::time::Instant` this instant stands for, given the same `epoch`.
    pub fn to_std(self, epoch: std::time::Instant) -> std::time::Instant {
        epoch
            .checked_add(Duration::from_micros(self.0))
            .unwrap_or(epoch + Duration::from_secs(86_400 * 365 * 30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(Instant::ZERO - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(Instant::ZERO - Instant::from_secs(5), Duration::ZERO);
        assert_eq!(
            Instant::from_secs(5) - Instant::from_secs(2),
            Duration::from_secs(3)
        );
        assert_eq!(Instant::from_millis(1500).as_micros(), 1_500_000);
        assert_eq!(Instant::ZERO + Duration::MAX, Instant::MAX);
    }
}
