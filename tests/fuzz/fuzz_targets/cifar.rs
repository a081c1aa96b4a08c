#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)] // each target uses one of the checks
mod checks;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    checks::cifar(bytes, checks::scratch());
});
