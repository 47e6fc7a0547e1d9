//! Time as the caller passes it: whole seconds since the Unix epoch.

use core::fmt;
use core::time::Duration;

/// A point in time, in whole seconds since 1970-01-01T00:00:00Z.
///
/// Core crates never read a clock: every function whose answer depends on time takes a
/// `UnixTime` from its caller. Arithmetic saturates instead of overflowing, so a hostile
/// `max-age` or `exp` cannot wrap a deadline into the past.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The epoch itself.
    pub const EPOCH: UnixTime = UnixTime(0);
    /// The latest representable time ("never").
    pub const MAX: UnixTime = UnixTime(u64::MAX);

    /// From seconds since the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        UnixTime(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at [`UnixTime::MAX`].
    pub fn saturating_add(self, d: Duration) -> Self {
        UnixTime(self.0.saturating_add(d.as_secs()))
    }

    /// `self + secs`, saturating.
    pub fn add_secs(self, secs: u64) -> Self {
        UnixTime(self.0.saturating_add(secs))
    }

    /// `self - d`, saturating at the epoch.
    pub fn saturating_sub(self, d: Duration) -> Self {
        UnixTime(self.0.saturating_sub(d.as_secs()))
    }

    /// How long after `earlier` this is; zero when it is not after (a clock that steps
    /// backwards counts as no time passing).
    pub fn since(self, earlier: UnixTime) -> Duration {
        Duration::from_secs(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturating_arithmetic() {
        assert_eq!(UnixTime::MAX.add_secs(1), UnixTime::MAX);
        assert_eq!(
            UnixTime(5).saturating_sub(Duration::from_secs(10)),
            UnixTime::EPOCH
        );
        assert_eq!(UnixTime(5).since(UnixTime(10)), Duration::ZERO);
        assert_eq!(UnixTime(10).since(UnixTime(4)), Duration::from_secs(6));
        assert_eq!(
            UnixTime(1).saturating_add(Duration::from_millis(2500)),
            UnixTime(3)
        );
    }
}
