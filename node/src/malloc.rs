//! The C allocator's settings for a long-running node.
//!
//! glibc serves a large allocation (from 128 KiB) with its own mapping and
//! unmaps it on free, but each such free raises that threshold to the freed
//! size (up to 32 MiB), after which blocks of that size come from the heap and
//! stay in the process when freed. A node handles many short-lived large
//! buffers (a 5 MiB request body, a gossip batch, a block, a batch answer), so
//! one burst of them left resident memory about twice its calm size
//! (`tests/tests/hostile.rs`). Fixing the threshold at its default keeps large
//! buffers mapped and returned on free, and turns off the adjustment.

/// The threshold for mapped allocations: glibc's default, kept fixed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Applies the settings unless the operator set the threshold through the
/// environment (`MALLOC_MMAP_THRESHOLD_`, which glibc reads itself). Call once,
/// first thing in `main`.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: `mallopt` only changes allocator parameters; it is called
        // before any other thread exists and takes no pointers.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}
