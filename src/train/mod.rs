//! Training: the settings ([`TrainConfig`]), the loop ([`engine`]), the thread that runs it
//! ([`worker`]) and what they say to the rest of the program ([`message`]).

pub mod backbone;
mod control;
pub mod engine;
mod features;
pub mod gan;
pub mod gpu;
pub mod lr_finder;
pub mod message;
mod prefetch;
pub mod queue;
pub mod ray;
pub mod session;
pub mod warm;
pub mod worker;
