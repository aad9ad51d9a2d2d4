//! A one-thread executor for the `--api async` workloads: [`block_on_all`] runs many futures
//! on the calling thread, polling each only when its own waker fired, and parks the thread
//! while none is ready. Small on purpose: the figure is the engine's cost per submission, so
//! the executor adds one atomic flag and, at most, one unpark per wake.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

/// One future's waker: marks it ready and unparks the executor's thread.
struct TaskWaker {
    ready: AtomicBool,
    thread: Thread,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.ready.swap(true, Ordering::AcqRel) {
            self.thread.unpark();
        }
    }
}

/// A future of the executor.
pub type Task<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Runs every future of `tasks` to completion on this thread; their outputs in order.
pub fn block_on_all<'a, T>(tasks: Vec<Task<'a, T>>) -> Vec<T> {
    let thread = std::thread::current();
    let mut running: Vec<(Option<Task<'a, T>>, Arc<TaskWaker>)> = tasks
        .into_iter()
        .map(|task| {
            let waker = Arc::new(TaskWaker {
                ready: AtomicBool::new(true),
                thread: thread.clone(),
            });
            (Some(task), waker)
        })
        .collect();
    let mut outputs: Vec<Option<T>> = running.iter().map(|_| None).collect();
    let mut left = running.len();
    while left > 0 {
        let mut polled = false;
        for ((slot, waker), output) in running.iter_mut().zip(outputs.iter_mut()) {
            let Some(task) = slot else { continue };
            if !waker.ready.swap(false, Ordering::AcqRel) {
                continue;
            }
            polled = true;
            let task_waker = Waker::from(waker.clone());
            if let Poll::Ready(value) = task.as_mut().poll(&mut Context::from_waker(&task_waker)) {
                *output = Some(value);
                *slot = None;
                left -= 1;
            }
        }
        if !polled && left > 0 {
            // A wake after the flags were read unparks at once (the park token is kept).
            std::thread::park();
        }
    }
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where a pending [`Flag`] leaves its waker.
    type WakerSlot = Arc<parking_lot::Mutex<Option<Waker>>>;

    /// A future pending until a flag another thread sets, which then wakes it.
    struct Flag {
        set: Arc<AtomicBool>,
        waker: WakerSlot,
    }

    impl Future for Flag {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            *self.waker.lock() = Some(cx.waker().clone());
            if self.set.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    #[test]
    fn every_future_runs_to_completion_when_woken_from_another_thread() {
        // Goal: futures woken from other threads complete, and outputs keep their order.
        // Method: 32 async blocks each awaiting a flag set (and woken) by a thread.
        let flags: Vec<(Arc<AtomicBool>, WakerSlot)> = (0..32)
            .map(|_| (Arc::new(AtomicBool::new(false)), Arc::default()))
            .collect();
        let tasks: Vec<Task<'_, usize>> = flags
            .iter()
            .enumerate()
            .map(|(index, (set, waker))| {
                let flag = Flag {
                    set: set.clone(),
                    waker: waker.clone(),
                };
                Box::pin(async move {
                    flag.await;
                    index
                }) as Task<'_, usize>
            })
            .collect();
        let setter = {
            let flags = flags.clone();
            std::thread::spawn(move || {
                for (set, waker) in flags.iter().rev() {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                    set.store(true, Ordering::Release);
                    let waker = loop {
                        if let Some(waker) = waker.lock().take() {
                            break waker;
                        }
                        std::thread::yield_now();
                    };
                    waker.wake();
                }
            })
        };
        assert_eq!(block_on_all(tasks), (0..32).collect::<Vec<_>>());
        setter.join().unwrap();
    }
}
