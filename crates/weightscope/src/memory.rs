//! The `--max-memory` gate: a layer waits before being read until its estimated working
//! memory fits under the cap beside the layers in flight. A layer larger than the cap is
//! admitted alone (its share is clamped to the cap), so no layer waits forever.

use std::sync::{Condvar, Mutex};

/// Admits layers while their estimated memory fits under a cap.
pub(crate) struct MemoryGate {
    limit: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

impl MemoryGate {
    pub(crate) fn new(limit: usize) -> Self {
        MemoryGate {
            limit,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Wait until `want` bytes fit (or nothing else is in flight); returns the bytes held,
    /// to hand back to [`MemoryGate::release`].
    pub(crate) fn acquire(&self, want: usize) -> usize {
        let want = want.min(self.limit);
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used > 0 && *used + want > self.limit {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += want;
        want
    }

    pub(crate) fn release(&self, held: usize) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= held;
        self.freed.notify_all();
    }

    #[cfg(test)]
    fn used(&self) -> usize {
        *self.used.lock().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn admits_while_under_the_cap() {
        let g = MemoryGate::new(100);
        let a = g.acquire(40);
        let b = g.acquire(60);
        assert_eq!((a, b, g.used()), (40, 60, 100));
        g.release(a);
        g.release(b);
        assert_eq!(g.used(), 0);
    }

    #[test]
    fn a_layer_larger_than_the_cap_runs_alone() {
        let g = MemoryGate::new(100);
        // Clamped to the cap, admitted because nothing else is in flight.
        assert_eq!(g.acquire(1_000), 100);
        assert_eq!(g.used(), 100);
        g.release(100);
        assert_eq!(g.used(), 0);
    }

    #[test]
    fn waits_for_room_then_proceeds() {
        let g = Arc::new(MemoryGate::new(100));
        let held = g.acquire(70);
        let admitted = Arc::new(AtomicBool::new(false));
        let t = {
            let (g, admitted) = (g.clone(), admitted.clone());
            std::thread::spawn(move || {
                let h = g.acquire(50); // 70 + 50 > 100: must wait
                admitted.store(true, Ordering::SeqCst);
                g.release(h);
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!admitted.load(Ordering::SeqCst), "admitted over the cap");
        g.release(held);
        t.join().unwrap();
        assert!(admitted.load(Ordering::SeqCst));
        assert_eq!(g.used(), 0);
    }
}
