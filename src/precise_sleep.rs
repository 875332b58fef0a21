//! A precise sleep for the waits whose lateness would be measured: the simulator's injected
//! latency (its ground truth) and, in the open model, the think time between two steps (a
//! late wake-up there is charged to the next step's corrected latency). Tokio's timer wheel
//! has a resolution of one millisecond and rounds every deadline up, which would add 0–1 ms to
//! each such wait. One background thread instead sleeps until the earliest deadline with the
//! OS's high-resolution timer and wakes each waiting task.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

type Waiter = (Instant, oneshot::Sender<()>);

fn timer() -> Option<&'static mpsc::Sender<Waiter>> {
    static TIMER: OnceLock<Option<mpsc::Sender<Waiter>>> = OnceLock::new();
    TIMER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Waiter>();
            std::thread::Builder::new()
                .name("orysim-precise-sleep".into())
                .spawn(move || run(rx))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

fn run(rx: mpsc::Receiver<Waiter>) {
    let mut heap: BinaryHeap<(Reverse<Instant>, u64)> = BinaryHeap::new();
    let mut waiters = std::collections::HashMap::new();
    let mut seq = 0u64;
    loop {
        let now = Instant::now();
        while let Some(&(Reverse(at), id)) = heap.peek() {
            if at > now {
                break;
            }
            heap.pop();
            if let Some(tx) = waiters.remove(&id) {
                let _: Result<(), ()> = oneshot::Sender::send(tx, ());
            }
        }
        let next = match heap.peek() {
            Some(&(Reverse(at), _)) => rx.recv_timeout(at.saturating_duration_since(now)),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok((at, tx)) => {
                seq += 1;
                heap.push((Reverse(at), seq));
                waiters.insert(seq, tx);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Sleeps until `deadline`, to within the OS timer's precision (tens of microseconds).
pub async fn sleep_until(deadline: Instant) {
    let (tx, rx) = oneshot::channel();
    match timer() {
        Some(timer) if timer.send((deadline, tx)).is_ok() => {
            let _ = rx.await;
        }
        // No timer thread: fall back to tokio's millisecond timer.
        _ => tokio::time::sleep_until(deadline.into()).await,
    }
}

/// Sleeps for `d` from now.
pub async fn sleep(d: Duration) {
    sleep_until(Instant::now() + d).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeps_are_precise_to_well_under_a_millisecond() {
        let mut overshoots = Vec::new();
        for _ in 0..30 {
            let start = Instant::now();
            sleep(Duration::from_millis(5)).await;
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(5), "woke early: {took:?}");
            overshoots.push(took - Duration::from_millis(5));
        }
        // The median, not the worst: on a shared 2-core machine a few wake-ups are delayed by
        // whatever else runs, which says nothing about the timer. Tokio's wheel rounds each
        // deadline up to its next millisecond tick; this timer typically overshoots ~0.1 ms.
        overshoots.sort();
        let median = overshoots[overshoots.len() / 2];
        assert!(
            median < Duration::from_millis(1),
            "median overshoot {median:?}"
        );
    }

    #[tokio::test]
    async fn many_concurrent_sleepers_wake_in_deadline_order() {
        let start = Instant::now();
        let tasks: Vec<_> = (0..50u64)
            .rev()
            .map(|i| {
                tokio::spawn(async move {
                    sleep_until(start + Duration::from_millis(i)).await;
                    Instant::now()
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().rev().enumerate() {
            let woke = t.await.unwrap();
            assert!(woke >= start + Duration::from_millis(i as u64));
        }
    }
}
