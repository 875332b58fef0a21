//! The stop signals: Ctrl-C (SIGINT) from a terminal, SIGTERM from Kubernetes, `docker stop`,
//! `timeout` or a CI cancellation, SIGHUP from a dropped ssh session. The first one stops the
//! run the same way whichever it is (stop, grace period, summary, report, cleanup); a second
//! one quits at once, after removing the temporary files (`temp_files`). The exit code says
//! which signal it was, as a shell would: 128 + its number (130, 143, 129).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::Notify;

/// The first stop signal received, 0 while none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The stop signals, watched from installation to exit: the first one is kept until the run
/// asks for it (a signal during preflight or setup stops the load as soon as it starts), and a
/// second one quits at any point, during teardown and cleanup too.
pub struct StopSignals {
    first: Arc<Notify>,
}

impl StopSignals {
    /// Installs the handlers; must be called within the runtime.
    pub fn install() -> std::io::Result<StopSignals> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let first = Arc::new(Notify::new());
        let notify = Arc::clone(&first);
        tokio::spawn(async move {
            let signo = next(&mut int, &mut term, &mut hup).await;
            RECEIVED.store(signo, Ordering::Relaxed);
            eprintln!(
                "orysim: stopping on {} ({} again to quit at once)",
                name(signo),
                name(signo)
            );
            // Kept as a permit when the run is not waiting yet.
            notify.notify_one();
            next(&mut int, &mut term, &mut hup).await;
            crate::temp_files::remove_all();
            std::process::exit(i32::from(exit_code(signo)));
        });
        Ok(StopSignals { first })
    }

    /// Resolves at the first stop signal (at once if it came already).
    pub async fn first(self) {
        self.first.notified().await;
    }
}

async fn next(int: &mut Signal, term: &mut Signal, hup: &mut Signal) -> i32 {
    tokio::select! {
        _ = int.recv() => libc::SIGINT,
        _ = term.recv() => libc::SIGTERM,
        _ = hup.recv() => libc::SIGHUP,
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
