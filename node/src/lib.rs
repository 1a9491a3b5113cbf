//! The library behind the `kalgo` binary: CLI commands, configuration, keys and key
//! files, genesis tools, the JSON-RPC server, the console, metrics and the wiring of
//! the actors. `main.rs` only parses the command line and calls into it; the fuzz
//! targets reach the JSON-RPC parameter parsing through it. It holds no protocol
//! logic (that is `spec`'s).

pub mod cmd;
pub mod config;
pub mod console;
pub mod geth_config;
pub mod geth_flags;
pub mod keys;
pub mod loadtest;
pub mod malloc;
pub mod metrics;
pub mod rpc;
pub mod run;
