//! `kalgo dumpvote --height H` (Kaleido §4.12, §6.1): prints what this node signed
//! at height `H` — every vote and proposal, from the own-vote log of its consensus
//! journal (`<datadir>/kalgo/consensus.redb`, the last
//! [`RETAINED_HEIGHTS`](actors::storage::journal::RETAINED_HEIGHTS) heights) —
//! and, when `H` is the height in progress, the machine's journal snapshot. Read
//! it while the node is stopped: a running node holds the file's lock.

use std::path::Path;

use actors::storage::journal::{JournalError, JournalStore};
use spec::codec::WireMessage;
use spec::types::Step;

/// Why there is nothing to print.
#[derive(Debug, thiserror::Error)]
pub enum DumpVoteError {
    /// No journal file.
    #[error("{0} has no consensus journal")]
    NoJournal(std::path::PathBuf),
    /// The journal cannot be read: a running node holds its lock (stop the node
    /// first), or it is corrupt.
    #[error("{0}")]
    Journal(#[source] JournalError),
    /// Nothing signed or journaled at that height.
    #[error("no votes logged for height {wanted} ({held})")]
    NotLogged {
        /// Asked for.
        wanted: u64,
        /// The heights the log holds.
        held: String,
    },
}

fn journal_err(e: JournalError) -> DumpVoteError {
    match e {
        JournalError::Missing(p) => DumpVoteError::NoJournal(p),
        e => DumpVoteError::Journal(e),
    }
}

/// What the node signed at `height`, one line each (`vote` / `proposal` with
/// round, step, value and the signed message's size), then the journal snapshot
/// if `height` is in progress.
pub fn dumpvote(datadir: &Path, height: u64) -> Result<String, DumpVoteError> {
    let store = JournalStore::open_datadir(datadir).map_err(journal_err)?;
    let hex = alloy_primitives::hex::encode;
    let mut out = String::new();
    let messages = store.own_messages(height, height).map_err(journal_err)?;
    for m in &messages {
        let kind = match WireMessage::decode(&m.wire) {
            Ok(WireMessage::Proposal(_)) => "proposal",
            Ok(WireMessage::Vote(_)) => "vote",
            _ if m.step == Step::PROPOSAL => "proposal",
            _ => "vote",
        };
        out.push_str(&format!(
            "{kind} height={height} round={} step={} value=0x{} signed_bytes={}\n",
            m.round,
            m.step,
            hex(m.value.0),
            m.wire.len()
        ));
    }
    if let Some(j) = store.read().map_err(journal_err)?
        && j.start.height == height
    {
        out.push_str(&format!(
            "in progress: parent 0x{} at round {} step {} (starting value 0x{}), {} votes cast\n",
            hex(j.start.parent.0),
            j.round,
            j.step,
            hex(j.starting.0),
            j.cast.len()
        ));
    }
    if out.is_empty() {
        let held = match store.own_heights().map_err(journal_err)? {
            Some((lo, hi)) => format!("the log holds heights {lo} to {hi}"),
            None => "the log is empty".to_string(),
        };
        return Err(DumpVoteError::NotLogged {
            wanted: height,
            held,
        });
    }
    Ok(out)
}
