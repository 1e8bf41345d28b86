//! Handing freed heap memory back to the kernel after a burst of short-lived allocations.
//!
//! Reading a config of 50,000 VIPs allocates well over 100 MiB that is freed once the config
//! is resolved (TOML documents and raw tables; docs/PERFORMANCE.md has the heap profile).
//! glibc's malloc keeps most of that mapped (it returns memory only from the top of the heap),
//! so without this the daemon's RSS stays near that peak for its whole life.
//!
//! One of the crate's two `unsafe` modules (with `bgp::sockopt`): a call into libc that takes
//! an integer and touches nothing but the allocator's own state. nix does not wrap it.
#![allow(unsafe_code)]

/// Returns free heap pages to the kernel (glibc's `malloc_trim`); a no-op with other
/// allocators, which return large frees on their own. Cheap enough to call after every config
/// load: it walks the free lists once.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only touches the allocator's own free lists; 0 = keep no padding.
    unsafe {
        libc::malloc_trim(0);
    }
}
