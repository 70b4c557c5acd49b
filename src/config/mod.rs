//! Configuration: the flags an operator sets (`flags`), and the settings
//! each part of the server is built with, resolved from them once at start
//! (`settings`). What only start-up can tell (the address the TURN server
//! actually bound, a secret made up because none was given) is passed to
//! those builders as an argument; nothing writes back into the flags.

mod flags;
mod settings;

pub use flags::{Config, LogFormat};
