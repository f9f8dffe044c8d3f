//! Files read, cut and hashed ahead of the repository writer. A full backup reads and hashes
//! every file, and on a day after the first nearly every chunk is one the repository has: the
//! run is reading and hashing, which one thread does at a fraction of the disk's and the CPU's
//! pace. Worker threads (one per core) each take the next file of the list, hash it
//! (`repository::hash_stream`) and hand the result over in the list's order; the writer's
//! thread only looks ids up and stores what is new.
//!
//! Memory stays bounded: a worker runs at most `WINDOW` files ahead of the writer and waits while
//! the files hashed ahead hold `HOLD_TOTAL` new bytes; a hashed file holds the bytes of its new
//! chunks, at most `HOLD_MAX`, until the writer takes it. A file
//! with more new bytes than that (a large new file: at most `HOLD_MAX` of it was read in vain),
//! a file that changed while read and any error are left to the writer's own path
//! (`Ahead::Yourself`), which reads again and words the warnings as a run always has. Unchanged
//! large files, what a full after the first mostly reads, are hashed ahead whole.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Seek;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Condvar, Mutex};
use std::thread::Scope;

use super::snapshot_backup::{same_while_read, Counting};
use crate::progress::ProgressHandle;
use crate::repository::hashed::{Hint, HintBuf};
use crate::repository::{hash_stream, ChunkKey, ChunkLookup, Hashed};

/// The new bytes a file hashed ahead may hold.
pub const HOLD_MAX: u64 = 8 << 20;
/// How many files a worker may be ahead of the writer: enough that a large file the writer
/// waits for does not leave the other workers idle.
const WINDOW: usize = 64;
/// The new bytes all files hashed ahead and not yet taken may hold before workers wait (the
/// writer's next file is always worked on, so this can be passed by what is in flight: at most
/// one `HOLD_MAX` per worker).
const HOLD_TOTAL: u64 = 48 << 20;

/// A file as a worker left it.
pub enum Ahead {
    /// Read once and unchanged meanwhile.
    Hashed(Hashed),
    /// For the writer's thread to read: too large, changed while read, or an error to report.
    Yourself,
}

/// How far the writer has come, and whether it still wants files.
struct Gate {
    taken: usize,
    stopped: bool,
    /// New bytes held by files hashed and not yet taken.
    held: u64,
}

/// The writer's end: `take(j)` gives the `j`th file of the list, in order.
pub struct ReadAhead<'a> {
    rx: Receiver<(usize, Ahead)>,
    early: BTreeMap<usize, Ahead>,
    gate: &'a (Mutex<Gate>, Condvar),
}

/// What the workers share.
pub struct Shared<'a> {
    next: AtomicUsize,
    gate: (Mutex<Gate>, Condvar),
    key: &'a ChunkKey,
    lookup: &'a (dyn ChunkLookup + Sync),
    progress: &'a ProgressHandle,
}

impl<'a> Shared<'a> {
    pub fn new(
        key: &'a ChunkKey,
        lookup: &'a (dyn ChunkLookup + Sync),
        progress: &'a ProgressHandle,
    ) -> Self {
        Shared {
            next: AtomicUsize::new(0),
            gate: (
                Mutex::new(Gate {
                    taken: 0,
                    stopped: false,
                    held: 0,
                }),
                Condvar::new(),
            ),
            key,
            lookup,
            progress,
        }
    }
}

impl<'a> ReadAhead<'a> {
    /// Starts one worker per core over `paths` (the files to read, in the writer's order), each
    /// with its hint (`hints[j]`: how the previous backup cut a file of the same size).
    pub fn start<'s>(
        s: &'s Scope<'s, '_>,
        shared: &'a Shared<'a>,
        paths: &'a [&'a Path],
        hints: &'a [Option<HintBuf>],
    ) -> ReadAhead<'a>
    where
        'a: 's,
    {
        let (tx, rx) = channel();
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
        for _ in 0..workers.min(paths.len()) {
            let tx = tx.clone();
            s.spawn(move || work(shared, paths, hints, tx));
        }
        ReadAhead {
            rx,
            early: BTreeMap::new(),
            gate: &shared.gate,
        }
    }

    /// The `j`th file (each asked for once, in increasing order).
    pub fn take(&mut self, j: usize) -> Ahead {
        {
            let (lock, cv) = self.gate;
            lock.lock().unwrap_or_else(|p| p.into_inner()).taken = j;
            cv.notify_all();
        }
        loop {
            if let Some(a) = self.early.remove(&j) {
                if let Ahead::Hashed(h) = &a {
                    let (lock, cv) = self.gate;
                    let mut g = lock.lock().unwrap_or_else(|p| p.into_inner());
                    g.held = g.held.saturating_sub(h.held());
                    cv.notify_all();
                }
                return a;
            }
            match self.rx.recv() {
                Ok((i, a)) => {
                    self.early.insert(i, a);
                }
                // Every worker is gone (one panicked, or all stopped): read it here.
                Err(_) => return Ahead::Yourself,
            }
        }
    }
}

impl Drop for ReadAhead<'_> {
    /// Workers waiting for the window go home, so the scope can end.
    fn drop(&mut self) {
        let (lock, cv) = self.gate;
        lock.lock().unwrap_or_else(|p| p.into_inner()).stopped = true;
        cv.notify_all();
    }
}

fn work(
    shared: &Shared<'_>,
    paths: &[&Path],
    hints: &[Option<HintBuf>],
    tx: Sender<(usize, Ahead)>,
) {
    let mut buf = Vec::new();
    loop {
        let j = shared.next.fetch_add(1, Ordering::Relaxed);
        if j >= paths.len() {
            return;
        }
        {
            let (lock, cv) = &shared.gate;
            let mut g = lock.lock().unwrap_or_else(|p| p.into_inner());
            // The writer's next file is always worked on; others wait for room.
            while !g.stopped && j > g.taken && (j >= g.taken + WINDOW || g.held >= HOLD_TOTAL) {
                g = cv.wait(g).unwrap_or_else(|p| p.into_inner());
            }
            if g.stopped {
                return;
            }
        }
        let hint = hints.get(j).and_then(Option::as_deref);
        let (ahead, back) = hash_file(shared, paths[j], hint, buf);
        buf = back;
        if let Ahead::Hashed(h) = &ahead {
            let (lock, _) = &shared.gate;
            lock.lock().unwrap_or_else(|p| p.into_inner()).held += h.held();
        }
        if tx.send((j, ahead)).is_err() {
            return;
        }
    }
}

fn hash_file(
    shared: &Shared<'_>,
    path: &Path,
    hint: Option<Hint>,
    buf: Vec<u8>,
) -> (Ahead, Vec<u8>) {
    let Ok(f) = File::open(path) else {
        return (Ahead::Yourself, buf);
    };
    let Ok(before) = f.metadata() else {
        return (Ahead::Yourself, buf);
    };
    // A hint is for a file of the length the previous backup saw (checked at the scan; here
    // again, as the file is opened).
    let hint =
        hint.filter(|h| h.iter().map(|&(_, len)| u64::from(len)).sum::<u64>() == before.len());
    let counting = Counting {
        inner: &f,
        progress: shared.progress,
    };
    let (res, buf) = hash_stream(counting, shared.key, shared.lookup, HOLD_MAX, buf, hint);
    let ahead = match res {
        Ok(Some(h)) if same_while_read(&before, h.size, f.metadata().ok().as_ref()) => {
            Ahead::Hashed(h)
        }
        // Too much new to hold, changed while read, unreadable or cancelled: the writer's path
        // reads (again), words the warning, or sees the cancel. What was read here is read
        // again there: the progress counts it once.
        Ok(_) | Err(_) => {
            let read = (&f).stream_position().unwrap_or(0);
            shared
                .progress
                .update(|p| p.bytes_done = p.bytes_done.saturating_sub(read));
            Ahead::Yourself
        }
    };
    (ahead, buf)
}
