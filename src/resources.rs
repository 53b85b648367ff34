//! Resource use of this process: peak resident memory (Linux `VmHWM`).

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
