//! How much freed heap the process keeps. While the daemon records a burst
//! it keeps what it frees: by default glibc hands the top of a thread's
//! heap back once 128 KiB are free there, and SQLite frees a statement
//! journal after every statement, so recording paid for page faults and
//! cross-core TLB flushes on each one. At rest it goes back to glibc's
//! defaults and gives back what it holds.

/// Keeps freed heap, for a burst of work.
pub fn working() {
    set(32 << 20, 4 << 20);
}

/// glibc's default thresholds again (held fixed from now on: glibc no
/// longer raises them by itself), and the freed heap back to the system.
pub fn resting() {
    set(128 << 10, 128 << 10);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn set(trim: i32, mmap: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's thresholds, under glibc's own
    // lock; nothing else is required of the caller.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, trim);
        libc::mallopt(libc::M_MMAP_THRESHOLD, mmap);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = (trim, mmap);
}
