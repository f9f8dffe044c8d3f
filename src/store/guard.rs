//! redb may panic on a damaged file (its own docs: a plain open "may panic if it was corrupted
//! outside redb"). Every redb call of this module runs inside `guarded`, which turns such a panic
//! into `StoreError::Panicked` naming what was being done, and keeps the panic hook quiet about it:
//! a damaged log is reported once, as a typed error, never as a crash or a "panicked" line.

use super::StoreError;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Inside a guarded redb call on this thread: the hook stays silent.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Run `f` (redb calls); a panic inside becomes a typed error.
pub(super) fn guarded<T>(
    context: &'static str,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    install_hook();
    let was = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    result.unwrap_or_else(|payload| {
        let payload = match payload.downcast::<VisitorPanic>() {
            Ok(visitor) => resume_unwind(visitor.0),
            Err(payload) => payload,
        };
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(StoreError::Panicked { context, message })
    })
}

/// Run the caller's code (a visitor) from inside a guarded call: its panics are its own bugs,
/// not a damaged file, so they are reported by the usual hook and passed on unchanged.
pub(super) fn outside<T>(f: impl FnOnce() -> T) -> T {
    let was = GUARDED.with(|g| g.replace(false));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    result.unwrap_or_else(|payload| resume_unwind(Box::new(VisitorPanic(payload))))
}

/// A visitor's panic on its way out through `guarded`, which unwraps and re-raises it.
struct VisitorPanic(Box<dyn std::any::Any + Send>);
