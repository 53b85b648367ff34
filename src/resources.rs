//! Resource use of this process: peak resident memory (Linux `VmHWM`), and how its large
//! buffers get their memory (transparent huge pages, an allocator that keeps freed memory):
//! in a process that allocates a grid of hundreds of megabytes and a chunk buffer per read,
//! first-touch page faults cost as much as the gridding itself when every 4 KiB page is
//! faulted and zeroed on its own.

/// Huge-page size the buffers are aligned to when advising the kernel (x86-64 and aarch64
/// Linux default, 2 MiB).
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Tunes glibc's allocator for this process (call once, before threads start): freed heap
/// memory is kept for reuse instead of returned to the kernel (`M_TRIM_THRESHOLD`), and only
/// allocations of 64 MiB or more are given their own mapping (`M_MMAP_THRESHOLD`), so the
/// per-chunk buffers of a run are recycled without new page faults. A no-op elsewhere.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads
    // exist and a refused setting (return 0) leaves glibc's defaults in place.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
    }
}

/// A vector of `n` copies of `value` whose memory the kernel is asked, before it is first
/// touched, to back with transparent huge pages (Linux `madvise(MADV_HUGEPAGE)`; honoured
/// when THP is `always` or `madvise`, ignored otherwise): one fault per 2 MiB instead of per
/// 4 KiB for grids and images.
pub fn huge_vec<T: Copy>(n: usize, value: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise_huge_pages(&mut v);
    v.resize(n, value);
    v
}

/// A vector of `n` zero values whose memory comes zeroed from the allocator (untouched
/// pages: the kernel zeroes each on first touch, so nothing is written twice), advised to be
/// backed by huge pages (see [`huge_vec`]).
pub fn zeroed_huge_vec<T: bytemuck::Zeroable>(n: usize) -> Vec<T> {
    let Ok(layout) = std::alloc::Layout::array::<T>(n) else {
        panic!(
            "{n} elements of {} bytes overflow the address space",
            std::mem::size_of::<T>()
        );
    };
    if layout.size() == 0 {
        return (0..n).map(|_| T::zeroed()).collect();
    }
    // SAFETY: the layout has non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `ptr` was allocated by the global allocator with the layout of `n` values of
    // `T`, and all-zero bytes are a valid `T` (`Zeroable`), so the `n` values are initialised.
    let mut v = unsafe { Vec::from_raw_parts(ptr, n, n) };
    advise_huge_pages(&mut v);
    v
}

/// Reserves room for `n` elements in `v` and advises the kernel to back the new, untouched
/// capacity with huge pages (see [`huge_vec`]).
pub fn reserve_huge<T>(v: &mut Vec<T>, n: usize) {
    if v.capacity() < n {
        v.reserve(n - v.len());
        advise_huge_pages(v);
    }
}

/// `madvise(MADV_HUGEPAGE)` over the whole 2 MiB pages inside `v`'s allocation.
fn advise_huge_pages<T>(v: &mut Vec<T>) {
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < 2 * HUGE_PAGE_BYTES {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let start = v.as_mut_ptr() as usize;
        let first = start.next_multiple_of(HUGE_PAGE_BYTES);
        let end = (start + bytes) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
        if end > first {
            // SAFETY: [first, end) lies inside `v`'s allocation, which stays mapped for the
            // call; MADV_HUGEPAGE only changes how the kernel backs those pages, never their
            // contents, and an error (e.g. THP not built in) is harmless and ignored.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
}

/// Peak resident set size of this process so far, bytes: `VmHWM` of `/proc/self/status`
/// (Linux, proc(5)). `None` where it cannot be read (other systems).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

/// `VmHWM` of a `/proc/PID/status` text, bytes (the kernel reports it in kB = 1024 bytes).
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut it = line["VmHWM:".len()..].split_whitespace();
    let kb: u64 = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") | None => Some(kb * 1024),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vm_hwm() {
        let s = "Name:\trimager\nVmPeak:\t  200 kB\nVmHWM:\t    1536 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(s), Some(1536 * 1024));
        assert_eq!(parse_vm_hwm("VmRSS: 5 kB\n"), None);
    }

    #[test]
    fn peak_grows_with_a_touched_allocation() {
        let Some(before) = peak_rss_bytes() else {
            return; // not Linux
        };
        let v = vec![1u8; 64 << 20];
        std::hint::black_box(&v);
        let after = peak_rss_bytes().unwrap();
        assert!(after >= before.max(64 << 20), "{before} -> {after}");
    }
}
