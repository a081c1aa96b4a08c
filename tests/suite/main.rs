//! The integration tests, as one test binary: each module covers one area on real data or
//! fixtures, and `common` holds what several of them share. One binary links the library once,
//! where a binary per file linked the whole Burn stack again for each.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

mod augment;
mod cli;
mod crops;
mod datasets;
mod engine;
mod features;
mod fuzz_corpus;
mod gan;
mod gpu;
mod hostile;
mod hyperparameters;
mod lessons;
mod model_ui;
mod models_cli;
mod on_disk;
mod ray;
mod reliability;
mod ui;
mod weights;
