//! The stop signals: Ctrl-C (SIGINT) from a terminal, SIGTERM from Kubernetes, `docker stop`,
//! `timeout` or a CI cancellation, SIGHUP from a dropped ssh session. The first one stops the
//! run the same way whichever it is (stop, grace period, summary, report, cleanup); a second
//! one quits at once, after removing the temporary files (`temp_files`). The exit code says
//! which signal it was, as a shell would: 128 + its number (130, 143, 129).

use std::sync::atomic::{AtomicI32, Ordering};
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The first stop signal received, 0 while none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Handlers for the stop signals. Installed before any work, so that a signal arriving during
/// preflight or setup is kept for the load phase instead of killing the process.
pub struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    pub fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> i32 {
        tokio::select! {
            _ = self.int.recv() => libc::SIGINT,
            _ = self.term.recv() => libc::SIGTERM,
            _ = self.hup.recv() => libc::SIGHUP,
        }
    }

    /// Resolves at the first stop signal; from then on a second one removes the temporary
    /// files and exits at once.
    pub async fn first(mut self) {
        let signo = self.next().await;
        RECEIVED.store(signo, Ordering::Relaxed);
        eprintln!(
            "orysim: stopping on {} ({} again to quit at once)",
            name(signo),
            name(signo)
        );
        tokio::spawn(async move {
            self.next().await;
            crate::temp_files::remove_all();
            std::process::exit(i32::from(exit_code(signo)));
        });
    }
}

/// The first stop signal received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

/// How messages name a signal.
pub fn name(signo: i32) -> &'static str {
    match signo {
        libc::SIGINT => "Ctrl-C",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// The exit code of a run stopped by `signo`: 128 + the signal's number, as shells report a
/// process the signal killed (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
pub fn exit_code(signo: i32) -> u8 {
    u8::try_from(128 + signo).unwrap_or(130)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_those_a_shell_reports() {
        assert_eq!(exit_code(libc::SIGINT), 130);
        assert_eq!(exit_code(libc::SIGTERM), 143);
        assert_eq!(exit_code(libc::SIGHUP), 129);
    }
}
