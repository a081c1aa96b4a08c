//! CNN Workbench: load an image dataset, pick a CNN, train it on a background thread and watch
//! training and validation loss side by side, so overfitting becomes visible.
//!
//! The library holds everything; the binary only dispatches to the window ([`app::run_gui`]) or
//! a headless command ([`cli`]). Both train through the same engine ([`train::engine`]).

pub mod allocator;
pub mod app;
pub mod augment;
pub mod cli;
pub mod data;
pub mod error;
pub mod experiment;
pub mod model;
pub mod train;

/// Burn's CPU backend allocates and frees many short-lived buffers per step; mimalloc makes
/// training several times faster than the system allocator. Set here so the binary, the tests and
/// the benchmarks all use it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
