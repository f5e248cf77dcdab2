//! The threads that serve the HTTP front's connections: one single-threaded
//! runtime per core, each waiting on its own connections. A connection is
//! handed to the thread serving the fewest, and from then on its requests
//! are read, answered and written on that one thread. On the node's shared
//! runtime the worker that saw a request arrive woke another to help, so a
//! cached answer cost a switch between threads about every fourth request.
//!
//! What a handler spawns runs on its connection's thread; its blocking work
//! (disk writes, hashing) still goes to that runtime's blocking pool. The
//! threads stop when the [`Fronts`] are dropped, dropping what they still
//! run.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The front threads, and how many connections each is serving.
pub struct Fronts {
    threads: Vec<Front>,
}

struct Front {
    runtime: Handle,
    open: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
}

/// A connection counted against its thread until it is dropped.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Fronts {
    /// Starts one thread per core (at least one).
    pub fn per_core() -> io::Result<Fronts> {
        Fronts::start(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    pub fn start(count: usize) -> io::Result<Fronts> {
        let threads = (0..count.max(1)).map(|index| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            std::thread::Builder::new().name(format!("http-front-{index}")).spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // Blocking work in flight finishes on its own; nobody waits for it.
                runtime.shutdown_background();
            })?;
            Ok(Front { runtime: handle, open: Arc::new(AtomicUsize::new(0)), stop: Some(stop) })
        });
        Ok(Fronts { threads: threads.collect::<io::Result<_>>()? })
    }

    /// Serves `connection` on the thread with the fewest connections open.
    pub fn serve<F>(&self, connection: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let front =
            self.threads.iter().min_by_key(|front| front.open.load(Ordering::Relaxed)).expect("one thread at least");
        front.open.fetch_add(1, Ordering::Relaxed);
        let open = Open(front.open.clone());
        front.runtime.spawn(async move {
            connection.await;
            drop(open);
        });
    }

    /// How many connections each thread is serving.
    pub fn open(&self) -> Vec<usize> {
        self.threads.iter().map(|front| front.open.load(Ordering::Relaxed)).collect()
    }
}

impl Drop for Fronts {
    fn drop(&mut self) {
        for front in &mut self.threads {
            if let Some(stop) = front.stop.take() {
                let _ = stop.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().to_string()
    }

    #[tokio::test]
    async fn a_connection_goes_to_the_thread_serving_the_fewest_and_is_let_go_when_done() {
        let fronts = Fronts::start(2).unwrap();
        let (first_done, first_ends) = oneshot::channel::<()>();
        let (first_at, first_name) = oneshot::channel();
        fronts.serve(async move {
            let _ = first_at.send(thread_name());
            let _ = first_ends.await;
        });
        let first = first_name.await.unwrap();
        let (second_at, second_name) = oneshot::channel();
        fronts.serve(async move {
            let _ = second_at.send(thread_name());
            std::future::pending::<()>().await
        });
        let second = second_name.await.unwrap();
        assert!(first.starts_with("http-front-") && second.starts_with("http-front-"));
        assert_ne!(first, second, "the second connection goes to the idle thread");
        assert_eq!(fronts.open(), vec![1, 1]);

        first_done.send(()).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while fronts.open().iter().sum::<usize>() != 1 {
            assert!(tokio::time::Instant::now() < deadline, "a finished connection is let go: {:?}", fronts.open());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (third_at, third_name) = oneshot::channel();
        fronts.serve(async move {
            let _ = third_at.send(thread_name());
        });
        assert_eq!(third_name.await.unwrap(), first, "the thread let go of one is the one with the fewest");
    }

    #[tokio::test]
    async fn dropping_the_fronts_drops_what_they_serve() {
        let fronts = Fronts::start(1).unwrap();
        let (held, released) = oneshot::channel::<()>();
        fronts.serve(async move {
            let _held = held;
            std::future::pending::<()>().await
        });
        drop(fronts);
        tokio::time::timeout(Duration::from_secs(5), released).await.expect("the connection was dropped").unwrap_err();
    }
}
