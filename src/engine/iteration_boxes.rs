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
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
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

    /// Moves `future` into a box from the free list (a new one when none is free, or when the
    /// free one's size does not fit) and returns a small future that runs it and gives the box
    /// back when it is done; dropped before the end, it frees the box with the future. Not an
    /// `async fn`: that would hold `future` inline in its own state, and so in the state of
    /// every user's task, which is what the box is for.
    pub fn run<F>(&self, future: F) -> Running<'_, T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let reused = self.lock().pop();
        let boxed = match reused {
            Some(mut boxed) => {
                boxed.set(future);
                boxed
            }
            None => ReusableBoxFuture::new(future),
        };
        Running {
            boxes: self,
            boxed: Some(boxed),
        }
    }

    /// Idle boxes now.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ReusableBoxFuture<'static, T>>> {
        // The list is consistent at every point a panic could leave it.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An iteration running in a box of [`IterationBoxes`]: two words and a pointer.
pub struct Running<'a, T> {
    boxes: &'a IterationBoxes<T>,
    boxed: Option<ReusableBoxFuture<'static, T>>,
}

impl<T: 'static> Future for Running<'_, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        let Some(boxed) = this.boxed.as_mut() else {
            panic!("an iteration polled after it ended");
        };
        let output = std::task::ready!(boxed.poll(cx));
        if let Some(boxed) = this.boxed.take() {
            let mut free = this.boxes.lock();
            if free.len() < this.boxes.keep {
                free.push(boxed);
            }
        }
        Poll::Ready(output)
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
    fn a_running_iteration_is_small_whatever_the_size_of_its_future() {
        let boxes = IterationBoxes::<usize>::new(4);
        let big = [7u8; 16 * 1024];
        let running = boxes.run(async move {
            tokio::task::yield_now().await;
            big.iter().map(|&b| usize::from(b)).sum()
        });
        assert!(std::mem::size_of_val(&running) <= 4 * std::mem::size_of::<usize>());
        assert_eq!(runtime().block_on(running), 7 * 16 * 1024);
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
