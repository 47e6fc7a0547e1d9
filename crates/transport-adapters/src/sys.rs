//! The one place this crate reads the system clock and the operating system's random
//! source. Every core crate takes `now` and entropy as arguments; the adapters get them
//! here, so a test (or a deterministic simulation) knows exactly what is real.

use mcp_oauth_common::UnixTime;

/// Seconds since the Unix epoch, from the system clock (0 if the clock is before 1970).
#[must_use]
pub fn now() -> UnixTime {
    UnixTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// The operating system's random source, as a [`rand_core::CryptoRng`] for the core
/// crates' `entropy` arguments. It panics only if the OS source fails, which it does not
/// on the platforms tokio supports (see [`try_fill`] where a failure must become an error).
#[must_use]
pub fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// Fills `buf` from the operating system's random source.
///
/// # Errors
///
/// When the OS source fails; callers must then refuse the operation (codes, ids,
/// secrets and tokens must never be predictable).
pub fn try_fill(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(buf)
}

/// `N` bytes from the operating system's random source, `None` when it fails.
#[must_use]
pub fn random<const N: usize>() -> Option<[u8; N]> {
    let mut b = [0u8; N];
    try_fill(&mut b).ok()?;
    Some(b)
}

/// Time on a monotonic clock since its first reading in this process (for rate limits
/// and session idleness, which must not jump with the wall clock).
#[must_use]
pub fn monotonic() -> std::time::Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// Now on tokio's clock, for arming tokio timers (the accept loop's idle timeout); tokio's
/// clock can be paused in tests.
#[cfg(feature = "serve")]
pub(crate) fn timer_now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}
