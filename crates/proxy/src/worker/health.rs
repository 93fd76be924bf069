//! Whether a plugin's VM on a worker serves, is being rebuilt or is down, and how long to
//! wait before rebuilding one that keeps crashing or cannot be rebuilt: Envoy's
//! `FAIL_RELOAD` backoff (1 s, doubling, at most 10 s).

use std::time::{Duration, Instant};

/// The state of a slot's VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// The VM serves.
    Serving,
    /// A new VM is being built; requests that need it wait for it.
    Rebuilding,
    /// No VM serves: requests that need it fail with 503 (or go on without it when the
    /// plugin fails open) at once. `retry_at` is the next rebuild, none when the plugin's
    /// fail policy is `closed`.
    Down { retry_at: Option<Instant> },
}

/// The backoff between rebuilds of one slot's VM.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    /// Crashes and failed rebuilds in a row, each within [`Backoff::MAX`] of the last rebuild.
    failures: u32,
    last_rebuilt: Option<Instant>,
}

impl Backoff {
    /// The first wait.
    pub(crate) const BASE: Duration = Duration::from_secs(1);
    /// The longest wait (Envoy's default: ten times the base); a VM that served this long
    /// since its rebuild starts the count again.
    pub(crate) const MAX: Duration = Duration::from_secs(10);

    /// The wait before rebuilding a VM that crashed at `now`: none for a VM that served a
    /// while, longer and longer for one that keeps crashing soon after its rebuild.
    pub(crate) fn after_crash(&mut self, now: Instant) -> Duration {
        let soon = self
            .last_rebuilt
            .is_some_and(|rebuilt| now.duration_since(rebuilt) < Self::MAX);
        self.failures = if soon { self.failures + 1 } else { 0 };
        self.wait()
    }

    /// The wait before trying again after a rebuild failed.
    pub(crate) fn after_failed_rebuild(&mut self) -> Duration {
        self.failures += 1;
        self.wait()
    }

    /// How long ago the last rebuild was (zero before any).
    pub(crate) fn since_rebuilt(&self, now: Instant) -> Duration {
        self.last_rebuilt
            .map_or(Duration::ZERO, |rebuilt| now.duration_since(rebuilt))
    }

    /// A rebuild at `now` succeeded.
    pub(crate) fn rebuilt(&mut self, now: Instant) {
        self.last_rebuilt = Some(now);
    }

    fn wait(&self) -> Duration {
        match self.failures {
            0 => Duration::ZERO,
            n => Self::BASE
                .saturating_mul(1 << (n - 1).min(16))
                .min(Self::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vm_that_served_a_while_is_rebuilt_at_once() {
        let mut backoff = Backoff::default();
        let start = Instant::now();
        assert_eq!(backoff.after_crash(start), Duration::ZERO);
        backoff.rebuilt(start);
        let later = start + Backoff::MAX + Duration::from_millis(1);
        assert_eq!(backoff.after_crash(later), Duration::ZERO);
    }

    #[test]
    fn a_crash_loop_waits_longer_each_time_up_to_the_max() {
        let mut backoff = Backoff::default();
        let mut now = Instant::now();
        assert_eq!(backoff.after_crash(now), Duration::ZERO);
        let mut waits = Vec::new();
        for _ in 0..6 {
            backoff.rebuilt(now);
            now += Duration::from_millis(10);
            waits.push(backoff.after_crash(now).as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn failed_rebuilds_back_off_too() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.after_crash(Instant::now()), Duration::ZERO);
        assert_eq!(backoff.after_failed_rebuild(), Duration::from_secs(1));
        assert_eq!(backoff.after_failed_rebuild(), Duration::from_secs(2));
        for _ in 0..40 {
            backoff.after_failed_rebuild();
        }
        assert_eq!(backoff.after_failed_rebuild(), Backoff::MAX);
    }
}
