//! Boxes for iterations of virtual users that park between them.
//!
//! An iteration's future is large: the scenario interpreter's holds every operation's state
//! machine nested in it, about 10 KiB. Where users park between iterations (the open model
//! waiting for arrivals, a closed model following `--stages`), keeping it inline in each user's
//! task would make 10,000 idle users hold 100 MB, so the iteration runs in a box. A new box per
//! iteration costs an allocation, a free and a 10 KiB copy on every request; these boxes are
//! taken from a free list instead and given back when the iteration ends. They number the users
//! that were ever busy at once (up to `keep`), not all users, and a warm run allocates nothing
//! per iteration (`tests/allocations.rs` counts it).

use std::future::Future;
use std::sync::Mutex;
use tokio_util::sync::ReusableBoxFuture;

/// A free list of boxes for futures with output `T`, shared by a group's virtual users.
pub struct IterationBoxes<T> {
    free: Mutex<Vec<ReusableBoxFuture<'static, T>>>,
    keep: usize,
}

impl<T: 'static> IterationBoxes<T> {
    /// Keeps at most `keep` idle boxes; a box given back beyond that is freed.
    pub fn new(keep: usize) -> Self {
        IterationBoxes {
            free: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// Runs `future` in a box from the free list (a new one when none is free, or when the
    /// free one's size does not fit) and gives the box back when it is done. Dropped before
    /// the end, the box is freed with the future.
    pub async fn run<F>(&self, future: F) -> T
    where
        F: Future<Output = T> + Send + 'static,
    {
        let reused = self.lock().pop();
        let mut boxed = match reused {
            Some(mut boxed) => {
                boxed.set(future);
                boxed
            }
            None => ReusableBoxFuture::new(future),
        };
        let output = (&mut boxed).await;
        let mut free = self.lock();
        if free.len() < self.keep {
            free.push(boxed);
        }
        output
    }

    /// Idle boxes now.
    pub fn idle(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ReusableBoxFuture<'static, T>>> {
        // The list is consistent at every point a panic could leave it.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn runs_the_future_and_keeps_its_box_for_the_next() {
        let boxes = IterationBoxes::<u64>::new(4);
        runtime().block_on(async {
            assert_eq!(boxes.run(async { 41 + 1 }).await, 42);
            assert_eq!(boxes.idle(), 1);
            let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            for n in 0..10 {
                let seen = std::sync::Arc::clone(&seen);
                let out = boxes
                    .run(async move {
                        tokio::task::yield_now().await;
                        seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                        n * 2
                    })
                    .await;
                assert_eq!(out, n * 2);
            }
            assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 45);
            assert_eq!(boxes.idle(), 1, "one user in turn: one box");
        });
    }

    #[test]
    fn as_many_boxes_as_users_busy_at_once_up_to_keep() {
        let boxes = std::sync::Arc::new(IterationBoxes::<()>::new(3));
        runtime().block_on(async {
            let gate = std::sync::Arc::new(tokio::sync::Notify::new());
            let mut users = tokio::task::JoinSet::new();
            for _ in 0..5 {
                let boxes = std::sync::Arc::clone(&boxes);
                let gate = std::sync::Arc::clone(&gate);
                users.spawn(async move {
                    boxes.run(async move { gate.notified().await }).await;
                });
            }
            // Every user is waiting inside its iteration: no box is idle.
            for _ in 0..5 {
                tokio::task::yield_now().await;
            }
            assert_eq!(boxes.idle(), 0);
            gate.notify_waiters();
            while users.join_next().await.is_some() {}
            assert_eq!(boxes.idle(), 3, "five were busy at once, three are kept");
        });
    }

    #[test]
    fn a_cancelled_iteration_does_not_give_its_box_back() {
        let boxes = IterationBoxes::<()>::new(4);
        runtime().block_on(async {
            let cancelled = tokio::time::timeout(
                std::time::Duration::from_millis(1),
                boxes.run(std::future::pending()),
            )
            .await;
            assert!(cancelled.is_err());
            assert_eq!(boxes.idle(), 0);
            boxes.run(async {}).await;
            assert_eq!(boxes.idle(), 1);
        });
    }
}
