//! The global allocator: a bump arena for a process that lives a few milliseconds.
//!
//! musl's malloc hands memory back to the kernel eagerly: one http probe made ~60 mmap/munmap
//! calls, a third of its system time (strace -c), plus the page faults of re-mapping. A probe
//! allocates a few hundred KiB in all and then exits, so freeing is wasted work. This
//! allocator bumps a pointer through a 4 MiB arena in .bss (zero pages cost nothing until
//! touched), gives back only the most recent block (which makes Vec growth in place cheap),
//! and falls back to the system allocator if the arena runs out. So a run's memory grows with
//! everything it allocates, up to the 4 MiB arena (pages only as touched), and beyond that is
//! managed by the system allocator: hostile peers are bounded by the probes' own limits.
//!
//! Long-lived modes (`wait`, `run`) break the premise: what they allocate per attempt or per
//! signal would pile up in the arena. They call [`long_lived`] first; from then on every new
//! block comes from the system allocator, which frees, and only what was allocated before
//! stays in the arena (it is freed to nowhere, which is fine: it was start-up state).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const ARENA_SIZE: usize = 4 * 1024 * 1024;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; ARENA_SIZE]>);

// SAFETY: the arena is only handed out in disjoint blocks claimed with atomic operations.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_SIZE]));

/// Offset of the first free byte of [`ARENA`].
static TOP: AtomicUsize = AtomicUsize::new(0);

/// Set by [`long_lived`]: no more bump allocation.
static LONG_LIVED: AtomicBool = AtomicBool::new(false);

/// Switches the process to the system allocator for every allocation from now on: for modes
/// that live for minutes or days, where a never-freeing arena would grow with every attempt.
pub fn long_lived() {
    LONG_LIVED.store(true, Ordering::Relaxed);
}

/// Bump allocation in [`ARENA`], with the system allocator behind it. There is one arena, so
/// every `Bump` value shares it.
pub struct Bump;

impl Bump {
    fn base() -> usize {
        ARENA.0.get() as usize
    }

    fn owns(ptr: *mut u8) -> bool {
        let p = ptr as usize;
        p >= Self::base() && p < Self::base() + ARENA_SIZE
    }
}

// SAFETY: every block returned lies inside the arena (or comes from System), is aligned as
// asked, and is claimed by a successful compare-exchange, so no two live blocks overlap.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if LONG_LIVED.load(Ordering::Relaxed) {
            return unsafe { System.alloc(layout) };
        }
        let base = Self::base();
        let mut top = TOP.load(Ordering::Relaxed);
        loop {
            let start = (base + top).next_multiple_of(layout.align()) - base;
            let end = match start.checked_add(layout.size()) {
                Some(end) if end <= ARENA_SIZE => end,
                // Arena exhausted (or a huge block): the system allocator takes over.
                _ => return unsafe { System.alloc(layout) },
            };
            // Acquire: pairs with the Release of a dealloc that handed this memory back, so
            // the previous owner's accesses happen before ours.
            match TOP.compare_exchange_weak(top, end, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return (base + start) as *mut u8,
                Err(current) => top = current,
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !Self::owns(ptr) {
            return unsafe { System.dealloc(ptr, layout) };
        }
        // Only the most recent block can be given back; the rest is reclaimed at exit.
        let end = ptr as usize - Self::base() + layout.size();
        let _ = TOP.compare_exchange(
            end,
            ptr as usize - Self::base(),
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if Self::owns(ptr) {
            // The most recent block grows (or shrinks) in place when the arena has room.
            let start = ptr as usize - Self::base();
            let old_end = start + layout.size();
            if let Some(new_end) = start.checked_add(new_size) {
                if new_end <= ARENA_SIZE
                    && !LONG_LIVED.load(Ordering::Relaxed)
                    && TOP
                        .compare_exchange(old_end, new_end, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    return ptr;
                }
            }
        } else {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees new_size and the alignment form a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_disjoint_and_the_last_one_grows_in_place() {
        // Other test threads allocate from the same arena meanwhile: only check what holds
        // regardless (alignment, no overlap, contents kept, fallback).
        let bump = Bump;
        unsafe {
            let a = bump.alloc(Layout::from_size_align(10, 8).unwrap());
            let b = bump.alloc(Layout::from_size_align(100, 64).unwrap());
            assert_eq!(b as usize % 64, 0);
            assert!(b as usize >= a as usize + 10 || (b as usize) + 100 <= a as usize);
            b.write_bytes(7, 100);
            let grown = bump.realloc(b, Layout::from_size_align(100, 64).unwrap(), 1000);
            assert_eq!(*grown.add(99), 7, "contents survive growth");
            let huge = bump.alloc(Layout::from_size_align(ARENA_SIZE * 2, 8).unwrap());
            assert!(
                !huge.is_null() && !Bump::owns(huge),
                "falls back to the system allocator"
            );
            bump.dealloc(huge, Layout::from_size_align(ARENA_SIZE * 2, 8).unwrap());
        }
    }
}
