//! The memory allocator's settings for the program.
//!
//! A training step frees tens of megabytes of activations and gradients that the next step
//! allocates again. mimalloc hands freed memory back to the system after its purge delay, and
//! memory mapped again costs a page fault and a page of zeros per 4 KiB: 4–11 % of the CPU time
//! of the deeper CNN, ResNet-small and the GAN step on the development machine. A longer delay
//! keeps the memory mapped from one step to the next and still returns it ten seconds after a
//! run ends (measured in benches/README.md).
//!
//! mimalloc reads its options from the environment when the process starts, and this crate
//! allows no unsafe code to call its option setter afterwards; so [`settle`] starts the program
//! again with the option in its environment (Unix `exec`: the same process id, arguments,
//! standard streams and working directory), unless it is already set.

/// The environment variable mimalloc reads its purge delay (milliseconds) from.
pub const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// The purge delay the program runs with unless the environment says otherwise.
pub const PURGE_DELAY_MS: u32 = 10_000;

/// What [`settle`] should do given the purge delay variable's value: `Some(value)` to start
/// again with the variable set to `value`, `None` to go on (already set, even to something
/// else: a person's own setting wins).
pub fn wanted_purge_delay(current: Option<&std::ffi::OsStr>) -> Option<String> {
    match current {
        Some(_) => None,
        None => Some(PURGE_DELAY_MS.to_string()),
    }
}

/// Starts the program again with [`PURGE_DELAY_MS`] in its environment when the variable is
/// not set (on Unix); returns when it does not, or when that fails (the program then runs with
/// mimalloc's default).
pub fn settle() {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let Some(value) = wanted_purge_delay(std::env::var_os(PURGE_DELAY_VAR).as_deref()) else {
            return;
        };
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            command.arg0(arg0);
        }
        // Only returns if the program could not be started again.
        let _ = command.args(args).env(PURGE_DELAY_VAR, value).exec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_is_set_only_when_missing() {
        assert_eq!(wanted_purge_delay(None), Some("10000".to_string()));
        assert_eq!(wanted_purge_delay(Some("-1".as_ref())), None);
        assert_eq!(wanted_purge_delay(Some("10000".as_ref())), None);
    }
}
