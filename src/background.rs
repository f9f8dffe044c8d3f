//! A background thread of `serve` (notifier, replication queue, log shipper) that runs until
//! told to stop: dropping its handle closes the stop channel and joins the thread, so whatever
//! the thread does on the way out (a last shipment, say) is done when the drop returns.

use std::thread::JoinHandle;

pub struct Background {
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// `stop` is the sending side of the channel whose closing the thread watches.
    pub fn new(stop: smol::channel::Sender<()>, thread: JoinHandle<()>) -> Background {
        Background {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
