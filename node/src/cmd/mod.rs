//! The `kalgo` subcommands other than running a node: each module parses its
//! arguments and does its one job.

pub mod account;
pub mod dev;
pub mod dumpvote;
pub mod fuzzpeer;
pub mod genesis;
pub mod makeminerkey;
pub mod simulate;
