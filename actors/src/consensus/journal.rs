//! The consensus journal (Kaleido §4.12 "Crash recovery", fixed): the machine's
//! [`Journal`] made durable — fsynced — before the vote or proposal it precedes
//! leaves the node, so a restarted node never casts a different vote in a
//! (round, step) it voted in before.
//!
//! Kept in its own small redb file (`<datadir>/kalgo/consensus.redb`, table
//! `consensus_journal`) holding only the journal of the height in progress: unlike
//! Kaleido's append-only per-height message log, the machine's journal is a
//! snapshot, replaced on every write.

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use spec::machine::{HeightStart, Journal};
use spec::params::Thresholds;
use spec::types::{Step, Value};

const JOURNAL: TableDefinition<&str, &[u8]> = TableDefinition::new("consensus_journal");
const KEY: &str = "current";
/// The node's own proposal and block of the height in progress.
const OWN_KEY: &str = "own-proposal";
const MAGIC: &[u8; 8] = b"kalgoJ01";
/// Bound on every list in a decoded journal.
const MAX_ENTRIES: usize = 1 << 16;

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// redb failed.
    #[error("journal database: {0}")]
    Database(String),
    /// The stored bytes do not decode.
    #[error("journal is corrupt: {0}")]
    Corrupt(&'static str),
}

macro_rules! db_errors {
    ($($ty:ty),*) => {$(
        impl From<$ty> for JournalError {
            fn from(e: $ty) -> Self {
                JournalError::Database(e.to_string())
            }
        }
    )*};
}
db_errors!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// This node's own proposal and block at a height, as sent on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnProposal {
    /// The height proposed at.
    pub height: u64,
    /// The encoded proposal message.
    pub proposal: Vec<u8>,
    /// The encoded block.
    pub block: Vec<u8>,
}

/// The durable journal.
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

    /// Replaces the journal, durably (fsync) before returning.
    pub fn write(&self, journal: &Journal) -> Result<(), JournalError> {
        let bytes = encode(journal);
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        {
            let mut t = tx.open_table(JOURNAL)?;
            t.insert(KEY, bytes.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Durably records this node's own proposal and block (wire encodings) before
    /// they are broadcast, so that after a crash the node still has the block its
    /// votes may certify (a lone miner has no peer to fetch it from).
    pub fn write_own(&self, own: &OwnProposal) -> Result<(), JournalError> {
        let mut bytes = Vec::with_capacity(12 + own.proposal.len() + own.block.len());
        bytes.extend_from_slice(&own.height.to_be_bytes());
        bytes.extend_from_slice(&(own.proposal.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&own.proposal);
        bytes.extend_from_slice(&own.block);
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        {
            let mut t = tx.open_table(JOURNAL)?;
            t.insert(OWN_KEY, bytes.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The own proposal last written, if any.
    pub fn read_own(&self) -> Result<Option<OwnProposal>, JournalError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(JOURNAL)?;
        let Some(v) = t.get(OWN_KEY)? else {
            return Ok(None);
        };
        let b = v.value();
        let corrupt = || JournalError::Corrupt("own proposal");
        let height = b
            .get(..8)
            .and_then(|x| <[u8; 8]>::try_from(x).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(corrupt)?;
        let len = b
            .get(8..12)
            .and_then(|x| <[u8; 4]>::try_from(x).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(corrupt)? as usize;
        let proposal = b.get(12..12usize.saturating_add(len)).ok_or_else(corrupt)?;
        let block = b.get(12 + len..).ok_or_else(corrupt)?;
        Ok(Some(OwnProposal {
            height,
            proposal: proposal.to_vec(),
            block: block.to_vec(),
        }))
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

/// Encodes a journal: magic, the height start, position, starting value and the
/// three lists, all big-endian with u32 counts.
pub fn encode(j: &Journal) -> Vec<u8> {
    let mut o = Vec::with_capacity(160 + 40 * j.cast.len());
    o.extend_from_slice(MAGIC);
    o.extend_from_slice(&j.start.height.to_be_bytes());
    o.extend_from_slice(&j.start.parent.0);
    for t in [
        j.start.thresholds.soft,
        j.start.thresholds.cert,
        j.start.thresholds.next,
    ] {
        o.extend_from_slice(&t.to_be_bytes());
    }
    o.extend_from_slice(&j.round.to_be_bytes());
    o.extend_from_slice(&j.step.0.to_be_bytes());
    o.extend_from_slice(&j.starting.0);
    let count = |o: &mut Vec<u8>, n: usize| o.extend_from_slice(&(n as u32).to_be_bytes());
    count(&mut o, j.cast.len());
    for (r, s, v) in &j.cast {
        o.extend_from_slice(&r.to_be_bytes());
        o.extend_from_slice(&s.0.to_be_bytes());
        o.extend_from_slice(&v.0);
    }
    count(&mut o, j.proposed.len());
    for r in &j.proposed {
        o.extend_from_slice(&r.to_be_bytes());
    }
    count(&mut o, j.soft_certified.len());
    for (r, v) in &j.soft_certified {
        o.extend_from_slice(&r.to_be_bytes());
        o.extend_from_slice(&v.0);
    }
    o
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], JournalError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(JournalError::Corrupt("truncated"))?;
        self.0 = rest;
        Ok(*head)
    }
    fn u32(&mut self) -> Result<u32, JournalError> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, JournalError> {
        Ok(u64::from_be_bytes(self.take()?))
    }
    fn value(&mut self) -> Result<Value, JournalError> {
        Ok(Value(self.take()?))
    }
    fn count(&mut self) -> Result<usize, JournalError> {
        let n = self.u32()? as usize;
        if n > MAX_ENTRIES {
            return Err(JournalError::Corrupt("list too long"));
        }
        Ok(n)
    }
}

/// Decodes [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Journal, JournalError> {
    let mut r = Reader(bytes);
    if &r.take::<8>()? != MAGIC {
        return Err(JournalError::Corrupt("bad magic"));
    }
    let height = r.u64()?;
    let parent = r.value()?;
    let thresholds = Thresholds {
        soft: r.u64()?,
        cert: r.u64()?,
        next: r.u64()?,
    };
    let round = r.u32()?;
    let step = Step(r.u32()?);
    let starting = r.value()?;
    let mut cast = Vec::new();
    for _ in 0..r.count()? {
        cast.push((r.u32()?, Step(r.u32()?), r.value()?));
    }
    let mut proposed = Vec::new();
    for _ in 0..r.count()? {
        proposed.push(r.u32()?);
    }
    let mut soft_certified = Vec::new();
    for _ in 0..r.count()? {
        soft_certified.push((r.u32()?, r.value()?));
    }
    if !r.0.is_empty() {
        return Err(JournalError::Corrupt("trailing bytes"));
    }
    Ok(Journal {
        start: HeightStart {
            height,
            parent,
            thresholds,
        },
        round,
        step,
        starting,
        cast,
        proposed,
        soft_certified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_roundtrip_and_durable_store() {
        let j = Journal {
            start: HeightStart {
                height: 9,
                parent: Value([3; 32]),
                thresholds: Thresholds::uniform(5),
            },
            round: 2,
            step: Step(5),
            starting: Value([4; 32]),
            cast: vec![(1, Step(2), Value([1; 32])), (2, Step(4), Value([2; 32]))],
            proposed: vec![1, 2],
            soft_certified: vec![(1, Value([1; 32]))],
        };
        let bytes = encode(&j);
        assert_eq!(decode(&bytes).ok(), Some(j.clone()));
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode(b"nonsense").is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.redb");
        {
            let s = JournalStore::open(&path).expect("open");
            assert!(s.read().expect("read").is_none());
            s.write(&j).expect("write");
        }
        let s = JournalStore::open(&path).expect("reopen");
        assert_eq!(s.read().expect("read"), Some(j));
    }
}
