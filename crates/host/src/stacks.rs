//! Fiber stacks kept for reuse ([`StackPool`]). Every guest call runs on a fiber, and a host
//! function that hands data back calls the guest's allocator on a fiber of its own (nested
//! in the call's). A store keeps one stack for its next call, so without a pool each nested
//! call would map and unmap a fresh stack; the pool keeps the stacks wasmtime lets go of.
//!
//! A stack is one anonymous mapping: a guard page (no access) at its low end, then the
//! stack, which grows down from its top. The mapping is written by nothing but the fiber
//! running on it; the pool only hands whole mappings around. Written by hand because
//! wasmtime's own pooling allocator pools stacks only together with memories and tables
//! under fixed limits, which the VMs do not have.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use wasmtime::{StackCreator, StackMemory};

/// Most stacks kept unused (a stack is virtual memory until a fiber touches its pages).
const MOST_KEPT: usize = 64;

/// The stacks no fiber uses now, for the next one.
#[derive(Default, Clone)]
pub(crate) struct StackPool {
    free: Arc<Mutex<Vec<Mapping>>>,
}

// SAFETY: every stack handed out is a mapping of its own, of the size asked, page aligned,
// with a guard page below it; a stack goes back to the pool only when wasmtime drops it.
unsafe impl StackCreator for StackPool {
    fn new_stack(&self, size: usize, zeroed: bool) -> wasmtime::Result<Box<dyn StackMemory>> {
        let reused = {
            let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
            free.iter()
                .position(|m| m.size == size)
                .map(|at| free.swap_remove(at))
        };
        let mapping = match reused {
            Some(mapping) => {
                if zeroed {
                    mapping.zero();
                }
                mapping
            }
            None => Mapping::new(size)?,
        };
        Ok(Box::new(PooledStack {
            mapping: Some(mapping),
            pool: self.clone(),
        }))
    }
}

/// A stack lent to a fiber; back to the pool when wasmtime drops it.
struct PooledStack {
    mapping: Option<Mapping>,
    pool: StackPool,
}

impl PooledStack {
    fn mapping(&self) -> &Mapping {
        // Set at creation, taken only in `drop`.
        self.mapping.as_ref().expect("a lent stack has its mapping")
    }
}

// SAFETY: the addresses are those of the mapping this stack owns until it is dropped.
unsafe impl StackMemory for PooledStack {
    fn top(&self) -> *mut u8 {
        let m = self.mapping();
        (m.base + m.guard + m.size) as *mut u8
    }

    fn range(&self) -> Range<usize> {
        let m = self.mapping();
        m.base + m.guard..m.base + m.guard + m.size
    }

    fn guard_range(&self) -> Range<*mut u8> {
        let m = self.mapping();
        m.base as *mut u8..(m.base + m.guard) as *mut u8
    }
}

impl Drop for PooledStack {
    fn drop(&mut self) {
        let Some(mapping) = self.mapping.take() else {
            return;
        };
        let mut free = self.pool.free.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() < MOST_KEPT {
            free.push(mapping);
        }
    }
}

/// One anonymous mapping: `guard` bytes of no access, then `size` bytes of stack.
struct Mapping {
    base: usize,
    guard: usize,
    size: usize,
}

impl Mapping {
    fn new(size: usize) -> wasmtime::Result<Mapping> {
        let guard = page_size();
        let size = size.div_ceil(guard) * guard;
        let len = size + guard;
        // SAFETY: a new private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            wasmtime::bail!(
                "cannot map a fiber stack of {len} bytes: {}",
                std::io::Error::last_os_error()
            );
        }
        let mapping = Mapping {
            base: base as usize,
            guard,
            size,
        };
        // SAFETY: the first page of the mapping made above.
        if unsafe { libc::mprotect(base, guard, libc::PROT_NONE) } != 0 {
            wasmtime::bail!(
                "cannot protect a fiber stack's guard page: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(mapping)
    }

    /// Zeroes the stack (for a reuse asked to start zeroed).
    fn zero(&self) {
        // SAFETY: the stack part of this mapping, which no fiber uses while it is pooled.
        unsafe { std::ptr::write_bytes((self.base + self.guard) as *mut u8, 0, self.size) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the whole mapping made in `new`, used by nothing once dropped.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.guard + self.size) };
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(4096).max(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_let_go_is_lent_again() {
        let pool = StackPool::default();
        let first = pool.new_stack(64 << 10, false).expect("a stack");
        let top = first.top();
        assert_eq!(first.range().len(), 64 << 10);
        assert_eq!(first.guard_range().end as usize, first.range().start);
        drop(first);
        let again = pool.new_stack(64 << 10, true).expect("a stack");
        assert_eq!(again.top(), top, "the pooled mapping");
        // The whole stack is writable.
        let range = again.range();
        unsafe { std::ptr::write_bytes(range.start as *mut u8, 1, range.len()) };
        let other = pool.new_stack(64 << 10, false).expect("another stack");
        assert_ne!(other.top(), top, "one stack is lent to one fiber at a time");
    }
}
