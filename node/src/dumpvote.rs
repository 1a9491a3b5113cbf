//! `kalgo dumpvote --height H` (Kaleido §6.1): prints the votes this node cast at
//! height `H` as its consensus journal (`<datadir>/kalgo/consensus.redb`) holds
//! them. The journal keeps only the height in progress (it is a snapshot, not
//! Kaleido's per-height log), so earlier heights have nothing to show. Read it
//! while the node is stopped: a running node holds the file's lock.

use std::path::Path;

use actors::consensus::journal::JournalStore;

/// Why there is nothing to print.
#[derive(Debug, thiserror::Error)]
pub enum DumpVoteError {
    /// No journal file.
    #[error("{0} has no consensus journal")]
    NoJournal(std::path::PathBuf),
    /// The journal cannot be read (a running node holds its lock, or it is corrupt).
    #[error("{0}")]
    Journal(String),
    /// The journal holds another height.
    #[error(
        "no votes journaled for height {wanted}: the journal holds height {held} (only the height in progress is kept)"
    )]
    OtherHeight {
        /// Asked for.
        wanted: u64,
        /// In the journal.
        held: u64,
    },
    /// The journal is empty.
    #[error("the journal is empty")]
    Empty,
}

/// The votes of `height`, one line each: round, step, value.
pub fn dumpvote(datadir: &Path, height: u64) -> Result<String, DumpVoteError> {
    let path = datadir.join("kalgo").join("consensus.redb");
    if !path.exists() {
        return Err(DumpVoteError::NoJournal(path));
    }
    let store = JournalStore::open(&path).map_err(|e| DumpVoteError::Journal(e.to_string()))?;
    let journal = store
        .read()
        .map_err(|e| DumpVoteError::Journal(e.to_string()))?
        .ok_or(DumpVoteError::Empty)?;
    if journal.start.height != height {
        return Err(DumpVoteError::OtherHeight {
            wanted: height,
            held: journal.start.height,
        });
    }
    let hex = alloy_primitives::hex::encode;
    let mut out = format!(
        "height {height} parent 0x{} at round {} step {} (starting value 0x{})\n",
        hex(journal.start.parent.0),
        journal.round,
        journal.step,
        hex(journal.starting.0)
    );
    for (round, step, value) in &journal.cast {
        out.push_str(&format!(
            "vote height={height} round={round} step={step} value=0x{}\n",
            hex(value.0)
        ));
    }
    for round in &journal.proposed {
        out.push_str(&format!("proposed height={height} round={round}\n"));
    }
    Ok(out)
}
