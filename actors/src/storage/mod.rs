//! The storage room: everything this node keeps on disk, and the only code that
//! opens a redb table.
//!
//! - the chain database (`chaindata.redb`): its layout (`tables`), its one
//!   writer [`Store`] (held by the execution service, which commits each block in
//!   one fsynced transaction) and the read handle [`ChainReader`] that JSON-RPC,
//!   the consensus committee and tools read through;
//! - [`state_at::StateAt`]: the state after any stored block, read through the
//!   persistent tries;
//! - the consensus journal (`consensus.redb`, [`journal`]): the own-vote log
//!   written before a vote leaves the node (crash safety);
//! - one mapping of redb's errors into each database's error type.
//!
//! What is stored is decided elsewhere: execution builds and validates blocks,
//! consensus decides which one is certified. This room only keeps and returns
//! bytes and records, each write all or nothing.

mod chain;
pub mod journal;
mod reader;
pub(crate) mod redb_error;
pub mod state_at;
mod tables;

pub use chain::{BlockCommit, Store};
pub use reader::{ChainReader, StoreState};
pub use tables::{Head, NODE_CACHE_BYTES, STORE_CACHE_BYTES, TxLocation};
