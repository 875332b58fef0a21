//! The file descriptors a run needs, checked against `RLIMIT_NOFILE` before any load. A run
//! that runs out of descriptors mid-way fails every new connection at once; 1024, a common
//! default soft limit, is reached by `-c 1000` against the built-in simulator. So, as most load
//! tools do, the soft limit is raised to the hard one when that is enough, and a run the hard
//! limit cannot hold is refused with the fix named instead of being started.

use crate::config::{RunConfig, Target};
use crate::scenario::model::split_users;

/// Descriptors the process uses whatever the load: standard streams, the runtime's event and
/// timer descriptors, the simulator's listeners, ledger files, the report, the preflight probes.
const BASE: u64 = 64;

/// An estimate from above of the descriptors `cfg` needs at its peak: each virtual user may
/// hold a keep-alive connection to each endpoint its group calls (two per service), and the
/// in-process simulator holds the other end of each.
pub fn need(cfg: &RunConfig) -> u64 {
    let groups = &cfg.scenario.groups;
    let connections: u64 = groups
        .iter()
        .zip(split_users(cfg.concurrency, groups.len()))
        .map(|(g, users)| users as u64 * 2 * g.services().len() as u64)
        .sum();
    let sides = match cfg.target {
        Target::BuiltinSimulator => 2,
        Target::Remote(_) => 1,
    };
    BASE + connections.saturating_mul(sides)
}

/// The process's descriptor limits (soft, hard).
#[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every platform.
fn limits() -> std::io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((lim.rlim_cur as u64, lim.rlim_max as u64))
}

fn set_soft(soft: u64, hard: u64) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Makes sure `need` descriptors are allowed: raises the soft limit when the hard one allows
/// it, else one line naming the limit and the fix.
#[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every platform.
pub fn ensure(need: u64) -> Result<(), String> {
    let Ok((soft, hard)) = limits() else {
        return Ok(()); // Nothing known to compare with: the run finds out itself.
    };
    if need <= soft {
        return Ok(());
    }
    let infinite = hard == libc::RLIM_INFINITY as u64;
    if need <= hard || infinite {
        // Up to the hard limit, as other load tools do; an unlimited hard limit still has the
        // kernel's per-process ceiling, so only what is needed is asked for then.
        let target = if infinite { need.max(soft) } else { hard };
        if set_soft(target, hard).is_ok() {
            return Ok(());
        }
    }
    Err(format!(
        "this run needs about {need} file descriptors but RLIMIT_NOFILE allows {soft} (hard limit {}): raise it (`ulimit -n {need}`, or LimitNOFILE/nofile for a service or container) or lower --concurrency/--max-vus",
        if infinite { "unlimited".to_string() } else { hard.to_string() }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unnecessary_cast)]
    fn what_the_limits_allow_passes_and_what_they_cannot_is_refused_with_the_fix() {
        let (soft, hard) = limits().unwrap();
        assert!(ensure(soft.min(1024)).is_ok());
        if hard != libc::RLIM_INFINITY as u64 {
            let err = ensure(hard + 1).unwrap_err();
            assert!(err.contains("RLIMIT_NOFILE"), "{err}");
            assert!(err.contains(&format!("ulimit -n {}", hard + 1)), "{err}");
            assert!(!err.contains('\n'));
        }
    }
}
