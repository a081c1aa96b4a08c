//! What several benchmarks share: the process's resident memory, read from `/proc`.

/// `VmRSS` and `VmHWM` (peak) of this process in bytes, from `/proc/self/status`.
pub fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets the peak-RSS counter (Linux), so each measurement has its own peak.
pub fn reset_peak() {
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        eprintln!("(cannot reset the peak-memory counter; peaks include earlier phases)");
    }
}
