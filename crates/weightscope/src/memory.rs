//! The `--max-memory` gate: a layer waits before being read until its estimated working
//! memory fits under the cap beside the layers in flight. A layer whose estimate alone is
//! over the cap is refused (the caller makes it an error row naming what it needs), so the
//! cap is a bound, and no layer waits forever.

use std::sync::{Condvar, Mutex};

/// The cap when none is given: 3/4 of the memory the kernel says is available
/// (`MemAvailable` in /proc/meminfo, which counts reclaimable cache), leaving room for the
/// process itself and the rest of the machine; 8 GiB where that is unknown.
pub fn default_cap() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| mem_available(&t))
        .map_or(DEFAULT_CAP_UNKNOWN, |avail| avail / 4 * 3)
}

/// The default cap where the available memory is unknown.
pub const DEFAULT_CAP_UNKNOWN: usize = 8 << 30;

/// `MemAvailable` of a /proc/meminfo text, in bytes.
fn mem_available(meminfo: &str) -> Option<usize> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

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

    /// Wait until `want` bytes fit beside the layers in flight; returns the bytes held, to
    /// hand back to [`MemoryGate::release`], or `None` at once when `want` alone exceeds the
    /// cap.
    pub(crate) fn acquire(&self, want: usize) -> Option<usize> {
        if want > self.limit {
            return None;
        }
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used > 0 && *used + want > self.limit {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += want;
        Some(want)
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
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
        let a = g.acquire(40).unwrap();
        let b = g.acquire(60).unwrap();
        assert_eq!((a, b, g.used()), (40, 60, 100));
        g.release(a);
        g.release(b);
        assert_eq!(g.used(), 0);
    }

    #[test]
    fn a_layer_larger_than_the_cap_is_refused() {
        let g = MemoryGate::new(100);
        assert_eq!(g.acquire(101), None);
        assert_eq!(g.used(), 0);
        assert_eq!(g.acquire(100), Some(100));
        g.release(100);
    }

    #[test]
    fn the_default_cap_is_three_quarters_of_mem_available() {
        let meminfo =
            "MemTotal:       16384000 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(mem_available(meminfo), Some(8_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        assert!(default_cap() > 0);
    }

    #[test]
    fn waits_for_room_then_proceeds() {
        let g = Arc::new(MemoryGate::new(100));
        let held = g.acquire(70).unwrap();
        let admitted = Arc::new(AtomicBool::new(false));
        let t = {
            let (g, admitted) = (g.clone(), admitted.clone());
            std::thread::spawn(move || {
                let h = g.acquire(50).unwrap(); // 70 + 50 > 100: must wait
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
