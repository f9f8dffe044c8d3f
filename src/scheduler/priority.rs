//! `[scheduler] nice` and `ioprio_idle`: a run lowers its own CPU and I/O priority so the
//! machine's real work comes first. The tools a run spawns (pg_dump, compressors) inherit both.
//!
//! Linux keeps both per thread, so a run with a priority gets a thread of its own: lowering a
//! pooled thread could not be undone without privileges, and would slow later, unrelated work.

use crate::config::Config;

/// What a run's thread is lowered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// 1..=19; `None` = unchanged.
    pub nice: Option<i32>,
    pub io_idle: bool,
}

impl Priority {
    pub fn of(config: &Config) -> Option<Priority> {
        let p = Priority {
            nice: config.nice,
            io_idle: config.ioprio_idle,
        };
        (p.nice.is_some() || p.io_idle).then_some(p)
    }

    /// Lower the calling thread. A refusal is logged, not fatal: the backup matters more.
    pub fn apply_to_this_thread(self) {
        // SAFETY: plain syscalls on the calling thread's own id; no memory is passed.
        let tid = unsafe { libc::gettid() };
        if let Some(nice) = self.nice {
            let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                log::warn!(target: "scheduler", "nice {nice} not applied to the run: {e}");
            }
        }
        if self.io_idle {
            // ioprio_set(IOPRIO_WHO_PROCESS, tid, IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT)
            const IOPRIO_WHO_PROCESS: libc::c_long = 1;
            const IOPRIO_IDLE: libc::c_long = 3 << 13;
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_ioprio_set,
                    IOPRIO_WHO_PROCESS,
                    tid as libc::c_long,
                    IOPRIO_IDLE,
                )
            };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                log::warn!(target: "scheduler", "idle I/O class not applied to the run: {e}");
            }
        }
    }
}

/// Run `f` off the async threads: on the blocking pool, and with `priority` on a thread of its
/// own, lowered first, that the pool thread waits for.
pub async fn run_blocking<T: Send + 'static>(
    priority: Option<Priority>,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let Some(priority) = priority else {
        return smol::unblock(f).await;
    };
    smol::unblock(move || {
        let mut job = Some(f);
        let lowered = std::thread::scope(|scope| {
            let spawned = std::thread::Builder::new()
                .name("backupd-run".into())
                .spawn_scoped(scope, || {
                    priority.apply_to_this_thread();
                    job.take().map(|f| f())
                });
            match spawned {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(e) => {
                    log::warn!(target: "scheduler", "no thread for a lowered run ({e}): it runs unlowered");
                    None
                }
            }
        });
        match lowered {
            Some(value) => value,
            // the thread could not be made: `f` was never taken, so it runs here
            None => (job.take().expect("not run on the failed thread"))(),
        }
    })
    .await
}
