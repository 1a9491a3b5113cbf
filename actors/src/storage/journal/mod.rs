//! The consensus journal (Kaleido §4.12 "Crash recovery", fixed): the machine's
//! [`Journal`] made durable — fsynced — before the vote or proposal it precedes
//! leaves the node, so a restarted node never casts a different vote in a
//! (round, step) it voted in before.
//!
//! Kept in its own small redb file (`<datadir>/kalgo/consensus.redb`):
//!
//! - table `consensus_journal`: the machine's journal of the height in progress (a
//!   snapshot, replaced on every write) and this node's own proposal and block;
//! - table `own_votes`: the **own-vote log**, every vote and proposal this node
//!   signed, keyed by (height, sequence), for the last [`RETAINED_HEIGHTS`] heights
//!   (Kaleido kept a per-height message log, §4.12; `kalgo dumpvote` prints it).
//!
//! Everything the host has to make durable before something leaves the node is
//! written by one [`JournalStore::commit`]: one fsynced redb transaction holding
//! the journal snapshot, the own proposal and the signed messages. That write
//! refuses ([`JournalError::Conflict`]) a message for a (height, round, step) the
//! log already holds with a different value: the host treats it as fatal, so a
//! second, different vote is never sent (honest non-equivocation, invariant S3,
//! enforced below the machine as well).

use std::collections::BTreeMap;
use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use spec::machine::Journal;
use spec::types::{Height, Round, Step, Value};

mod codec;

pub use codec::{decode, encode};
use codec::{decode_message, encode_message, encode_own};

const JOURNAL: TableDefinition<&str, &[u8]> = TableDefinition::new("consensus_journal");
/// The own-vote log: (height, sequence at that height) → [`OwnMessage`] record.
const OWN_VOTES: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("own_votes");
/// How many heights of the own-vote log are kept (older ones are pruned as new
/// heights are written): about 1.5 KB per height with a fixed committee.
pub const RETAINED_HEIGHTS: u64 = 20_000;
/// Bound on one stored message (a wire vote or proposal is far smaller).
const MAX_OWN_MESSAGE: usize = 64 * 1024;
/// A height's own-vote slots: the value signed at each (round, step).
type Slots = BTreeMap<(Round, Step), Value>;
const KEY: &str = "current";
/// The node's own proposal and block of the height in progress.
const OWN_KEY: &str = "own-proposal";

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// redb failed.
    #[error("journal database: {0}")]
    Database(String),
    /// The stored bytes do not decode.
    #[error("journal is corrupt: {0}")]
    Corrupt(&'static str),
    /// About to sign a second, different message for a (height, round, step) this
    /// node already signed: refused, nothing was written or sent.
    #[error(
        "refusing to equivocate: already signed 0x{} at height {height} round {round} step {step}, now asked to sign 0x{}", alloy_primitives::hex::encode(recorded.0), alloy_primitives::hex::encode(refused.0)
    )]
    Conflict {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// Step.
        step: Step,
        /// The value in the log.
        recorded: Value,
        /// The different value refused.
        refused: Value,
    },
    /// The database file is missing.
    #[error("{0} does not exist")]
    Missing(std::path::PathBuf),
}

crate::storage::redb_error::redb_errors_into!(JournalError::Database);

/// What one [`JournalStore::commit`] makes durable (the driver's
/// `Effect::Persist`); empty parts are left as they are.
pub use spec::driver::Durable as Pending;
/// This node's own proposal and block at a height, and one message it signed:
/// the driver's types, stored as they are.
pub use spec::driver::{OwnMessage, OwnProposal};

/// The journal's redb file: the machine's journal, the own proposal and the own-vote log
/// (see the module docs).
pub struct JournalStore {
    db: Database,
}

impl std::fmt::Debug for JournalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalStore").finish_non_exhaustive()
    }
}

impl JournalStore {
    /// Opens or creates the journal file.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(JOURNAL)?;
        tx.commit()?;
        Ok(Self { db })
    }

    /// Opens the journal of a node's data directory (`<datadir>/kalgo/consensus.redb`)
    /// without creating it. The node must be stopped (a running node holds the lock).
    pub fn open_datadir(datadir: &Path) -> Result<Self, JournalError> {
        let path = datadir.join("kalgo").join("consensus.redb");
        if !path.exists() {
            return Err(JournalError::Missing(path));
        }
        Self::open(&path)
    }

    /// Replaces the journal, durably (fsync) before returning.
    pub fn write(&self, journal: &Journal) -> Result<(), JournalError> {
        self.commit(&Pending {
            journal: Some(journal.clone()),
            ..Pending::default()
        })
    }

    /// Durably records this node's own proposal and block (wire encodings) before
    /// they are broadcast, so that after a crash the node still has the block its
    /// votes may certify (a lone miner has no peer to fetch it from).
    pub fn write_own(&self, own: &OwnProposal) -> Result<(), JournalError> {
        self.commit(&Pending {
            own: Some(own.clone()),
            ..Pending::default()
        })
    }

    /// Writes `pending` in one transaction, durably (fsync) before returning: the
    /// journal snapshot, the own proposal, and each signed message appended to the
    /// own-vote log — unless the log already holds it (same height, round, step
    /// and value: a re-send after a restart), or holds a *different* value for its
    /// (height, round, step): then nothing at all is written and the answer is
    /// [`JournalError::Conflict`]. Heights older than [`RETAINED_HEIGHTS`] below
    /// a newly logged height are pruned in the same transaction.
    pub fn commit(&self, pending: &Pending) -> Result<(), JournalError> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        {
            let mut t = tx.open_table(JOURNAL)?;
            if let Some(j) = &pending.journal {
                t.insert(KEY, encode(j).as_slice())?;
            }
            if let Some(own) = &pending.own {
                t.insert(OWN_KEY, encode_own(own).as_slice())?;
            }
        }
        if !pending.messages.is_empty() {
            let mut log = tx.open_table(OWN_VOTES)?;
            // The slots of the height last looked at, read once per height and
            // transaction (a restart re-sends every own message of a long height
            // in one transaction: a scan per message would be quadratic).
            let mut slots: Option<(Height, Slots, u32)> = None;
            for m in &pending.messages {
                if m.wire.len() > MAX_OWN_MESSAGE {
                    return Err(JournalError::Corrupt("own message too large"));
                }
                let (_, known, next) = match &mut slots {
                    Some(s) if s.0 == m.height => s,
                    other => {
                        let mut known = BTreeMap::new();
                        let mut next: u32 = 0;
                        for entry in log.range((m.height, 0)..=(m.height, u32::MAX))? {
                            let (k, v) = entry?;
                            let old = decode_message(m.height, v.value())?;
                            next = k.value().1.saturating_add(1);
                            known.insert((old.round, old.step), old.value);
                        }
                        other.insert((m.height, known, next))
                    }
                };
                match known.get(&(m.round, m.step)) {
                    Some(old) if *old != m.value => {
                        // Dropping `tx` aborts it: nothing of `pending` is kept.
                        return Err(JournalError::Conflict {
                            height: m.height,
                            round: m.round,
                            step: m.step,
                            recorded: *old,
                            refused: m.value,
                        });
                    }
                    Some(_) => continue,
                    None => {}
                }
                log.insert((m.height, *next), encode_message(m).as_slice())?;
                known.insert((m.round, m.step), m.value);
                if *next == 0 && m.height >= RETAINED_HEIGHTS {
                    // Keep heights m.height − RETAINED_HEIGHTS + 1 ..= m.height.
                    let cut = m.height - RETAINED_HEIGHTS + 1;
                    log.retain_in((0, 0)..(cut, 0), |_, _| false)?;
                }
                *next = next.saturating_add(1);
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The own-vote log from `from` to `to` (inclusive), in height and signing order.
    pub fn own_messages(&self, from: Height, to: Height) -> Result<Vec<OwnMessage>, JournalError> {
        let tx = self.db.begin_read()?;
        let log = match tx.open_table(OWN_VOTES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for entry in log.range((from, 0)..=(to, u32::MAX))? {
            let (k, v) = entry?;
            let (h, _) = k.value();
            out.push(decode_message(h, v.value())?);
        }
        Ok(out)
    }

    /// What the own-vote log holds for one height, in signing order: what the
    /// driver must never sign differently. Not capped by a count: the log holds
    /// at most one message per (round, step), since [`Self::commit`] refuses a
    /// second value and skips a copy, so a long stall grows it by slots, and a
    /// restart after one still reads it.
    pub fn own_slots(&self, height: Height) -> Result<Vec<OwnMessage>, JournalError> {
        self.own_messages(height, height)
    }

    /// The lowest and highest heights in the own-vote log, if any.
    pub fn own_heights(&self) -> Result<Option<(Height, Height)>, JournalError> {
        let tx = self.db.begin_read()?;
        let log = match tx.open_table(OWN_VOTES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let first = log.first()?.map(|(k, _)| k.value().0);
        let last = log.last()?.map(|(k, _)| k.value().0);
        Ok(first.zip(last))
    }

    /// The own proposal last written, if any.
    pub fn read_own(&self) -> Result<Option<OwnProposal>, JournalError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(JOURNAL)?;
        let Some(v) = t.get(OWN_KEY)? else {
            return Ok(None);
        };
        codec::decode_own(v.value()).map(Some)
    }

    /// The last journal written, if any.
    pub fn read(&self) -> Result<Option<Journal>, JournalError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(JOURNAL)?;
        match t.get(KEY)? {
            Some(v) => decode(v.value()).map(Some),
            None => Ok(None),
        }
    }
}

/// Every message in the own-vote log of the (stopped) node at `datadir`, in
/// height and signing order (for tests and tools).
pub fn read_vote_log(datadir: &Path) -> Result<Vec<OwnMessage>, JournalError> {
    JournalStore::open_datadir(datadir)?.own_messages(0, Height::MAX)
}

#[cfg(test)]
mod tests;
