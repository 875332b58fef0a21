//! Waking the open model's scheduler on time. Latency in the open model counts from each
//! arrival's scheduled time, so a late scheduler is reported as a slow server. Tokio's timer
//! rounds every deadline up to its next millisecond tick: arrivals left 0.6-1.3 ms late at the
//! median, several times the latency of a fast endpoint. A Linux timerfd armed with the exact
//! remaining time and awaited through tokio's reactor wakes the scheduler within microseconds,
//! on the runtime's own threads. A separate sleeping thread was as precise and cost about as
//! much; the timerfd needs no extra thread. The simulator's precise sleep (`precise_sleep`) serves
//! many concurrent sleepers from one thread and a heap; this serves one sleeper.

use std::time::Instant;

/// Sleeps until an instant with the best precision available: a timerfd on Linux, tokio's
/// timer where that cannot be had.
pub struct ArrivalTimer {
    #[cfg(target_os = "linux")]
    fd: Option<timerfd::TimerFd>,
}

impl ArrivalTimer {
    pub fn new() -> Self {
        ArrivalTimer {
            #[cfg(target_os = "linux")]
            fd: timerfd::TimerFd::new().ok(),
        }
    }

    /// An instant already past returns at once (both ways below check it).
    pub async fn sleep_until(&mut self, at: Instant) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            if fd.sleep_until(at).await.is_ok() {
                return;
            }
        }
        tokio::time::sleep_until(at.into()).await;
    }
}

impl Default for ArrivalTimer {
    fn default() -> Self {
        ArrivalTimer::new()
    }
}

#[cfg(target_os = "linux")]
mod timerfd {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::time::{Duration, Instant};
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    struct Fd(OwnedFd);

    impl AsRawFd for Fd {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_raw_fd()
        }
    }

    pub struct TimerFd(AsyncFd<Fd>);

    impl TimerFd {
        pub fn new() -> io::Result<Self> {
            // SAFETY: plain system call; the descriptor it returns is owned from here on.
            let raw = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a fresh descriptor nobody else owns.
            let fd = Fd(unsafe { OwnedFd::from_raw_fd(raw) });
            // SAFETY: `Fd` owns the descriptor, so it stays open and the same for as long as
            // the `AsyncFd` holding it lives.
            let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
            Ok(TimerFd(fd))
        }

        /// Arms the timer for `at` (one shot) and waits until it has expired.
        ///
        /// One system call per wait: the expiry count is never read. The descriptor is
        /// registered edge-triggered, so every expiry is an event of its own whatever the
        /// count says, and arming again resets the count. Whether this wait's expiry has come
        /// is asked of the clock (the timer runs on the same monotonic clock as `Instant`):
        /// an event left over from a cancelled wait wakes the task early, finds the instant
        /// not reached, and waits again.
        pub async fn sleep_until(&self, at: Instant) -> io::Result<()> {
            loop {
                let now = Instant::now();
                if at <= now {
                    return Ok(());
                }
                self.arm(at - now)?;
                let mut ready = self.0.readable().await?;
                // Cleared by hand, as no read saw `EAGAIN`; tokio keeps an event that came
                // after this one.
                ready.clear_ready();
                if Instant::now() >= at {
                    return Ok(());
                }
            }
        }

        fn arm(&self, after: Duration) -> io::Result<()> {
            // A zero value would disarm the timer instead of expiring at once.
            let after = after.max(Duration::from_nanos(1));
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: after.as_secs() as libc::time_t,
                    tv_nsec: after.subsec_nanos() as libc::c_long,
                },
            };
            let fd = self.0.get_ref().as_raw_fd();
            // SAFETY: `spec` is a valid itimerspec; the old value is not asked for.
            if unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn never_wakes_before_the_instant() {
        let mut timer = ArrivalTimer::new();
        for ms in [1u64, 3, 2, 5] {
            let at = Instant::now() + Duration::from_millis(ms);
            timer.sleep_until(at).await;
            assert!(Instant::now() >= at);
        }
        // An instant already past returns at once.
        timer.sleep_until(Instant::now()).await;
    }

    #[tokio::test]
    async fn a_cancelled_wait_does_not_cut_the_next_one_short() {
        let mut timer = ArrivalTimer::new();
        let soon = Instant::now() + Duration::from_millis(5);
        // Cancelled before its expiry, which then happens while nobody waits.
        let _ = tokio::time::timeout(Duration::from_millis(1), timer.sleep_until(soon)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        let at = Instant::now() + Duration::from_millis(20);
        timer.sleep_until(at).await;
        assert!(Instant::now() >= at);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_gets_the_timerfd() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { assert!(ArrivalTimer::new().fd.is_some()) });
    }
}
