//! Disk reads run off the async executor: an entry file whose read blocks
//! (a named pipe that nobody writes yet) must not stall other tasks of a
//! single-threaded runtime. Before the fix the read ran on the calling task,
//! so the task that would unblock it could never run.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;
use std::time::Duration;

use kestrel_lm::cache::{Cache, CacheConfig};

use super::{counted, key};

#[cfg(unix)]
#[test]
fn a_blocking_disk_read_does_not_stall_the_executor() {
    let dir = tempfile::tempdir().unwrap();
    let cache =
        Cache::new(CacheConfig { memory: false, ..CacheConfig::default() }.with_dir(dir.path().into())).unwrap();
    let k = key("fifo");
    let path = cache.entry_path(&k).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(made.success(), "mkfifo");

    let (done_tx, done_rx) = mpsc::channel();
    let fifo = path.clone();
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let outcome = runtime.block_on(async move {
            let calls = Arc::new(AtomicUsize::new(0));
            // Spawned first, so it runs first and reaches the disk read.
            let lookup = tokio::spawn(async move {
                cache.get_or_fetch(key("fifo"), counted(&calls, Duration::ZERO, "fetched")).await
            });
            // Runs only if the lookup yields the executor thread while it reads.
            let unblock = tokio::spawn(async move {
                let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
                pipe.write_all(b"not an entry").unwrap();
            });
            unblock.await.unwrap();
            lookup.await.unwrap()
        });
        let _ = done_tx.send(outcome.map(|r| r.completions[0].text.clone()));
    });

    let outcome = done_rx.recv_timeout(Duration::from_secs(10));
    if outcome.is_err() {
        // Stalled: release the blocked read so the worker thread can end.
        let mut pipe = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let _ = pipe.write_all(b"x");
        drop(pipe);
        let _ = worker.join();
        panic!("the disk read blocked the executor: the task that would unblock it never ran");
    }
    worker.join().unwrap();
    // The pipe's bytes are a corrupt entry: removed, then fetched.
    assert_eq!(outcome.unwrap().unwrap(), "fetched");
}
