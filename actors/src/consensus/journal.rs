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
use spec::machine::{HeightStart, Journal};
use spec::params::Thresholds;
use spec::types::{Height, Round, Step, Value};

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

/// What one [`JournalStore::commit`] makes durable (the driver's
/// `Effect::Persist`); empty parts are left as they are.
pub use spec::driver::Durable as Pending;
/// This node's own proposal and block at a height, and one message it signed:
/// the driver's types, stored as they are.
pub use spec::driver::{OwnMessage, OwnProposal};

/// An own-vote log record: round, step, value, then the wire message.
fn encode_message(m: &OwnMessage) -> Vec<u8> {
    let mut o = Vec::with_capacity(40 + m.wire.len());
    o.extend_from_slice(&m.round.to_be_bytes());
    o.extend_from_slice(&m.step.0.to_be_bytes());
    o.extend_from_slice(&m.value.0);
    o.extend_from_slice(&m.wire);
    o
}

/// Decodes [`encode_message`] for `height` (the record's key), bounded.
fn decode_message(height: Height, bytes: &[u8]) -> Result<OwnMessage, JournalError> {
    if bytes.len() > 40 + MAX_OWN_MESSAGE {
        return Err(JournalError::Corrupt("own message too large"));
    }
    let mut r = Reader(bytes);
    let round = r.u32()?;
    let step = Step(r.u32()?);
    let value = r.value()?;
    Ok(OwnMessage {
        height,
        round,
        step,
        value,
        wire: r.0.to_vec(),
    })
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

fn encode_own(own: &OwnProposal) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(12 + own.proposal.len() + own.block.len());
    bytes.extend_from_slice(&own.height.to_be_bytes());
    bytes.extend_from_slice(&(own.proposal.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&own.proposal);
    bytes.extend_from_slice(&own.block);
    bytes
}

/// Every message in the own-vote log of the (stopped) node at `datadir`, in
/// height and signing order (for tests and tools).
pub fn read_vote_log(datadir: &Path) -> Result<Vec<OwnMessage>, JournalError> {
    JournalStore::open_datadir(datadir)?.own_messages(0, Height::MAX)
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

    fn msg(height: Height, round: Round, step: u32, v: u8) -> OwnMessage {
        OwnMessage {
            height,
            round,
            step: Step(step),
            value: Value([v; 32]),
            wire: vec![v; 100],
        }
    }

    #[test]
    /// Attack (a long stall): every online node used to exit once one height
    /// held 4,096 own messages (≈2.3 h of next votes at 2λ = 200 ms), and again
    /// on every restart. The log is bounded by slots: it reads back any number.
    fn a_long_height_is_read_back_and_still_refuses_a_second_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = JournalStore::open(&dir.path().join("j.redb")).expect("open");
        let slots: Vec<(u32, u32)> = (0..5000u32).map(|i| (i / 100 + 1, i % 100 + 2)).collect();
        for batch in slots.chunks(500) {
            let messages = batch.iter().map(|&(r, st)| msg(9, r, st, 7)).collect();
            s.commit(&Pending {
                messages,
                ..Pending::default()
            })
            .expect("log");
        }
        assert_eq!(s.own_messages(9, 9).expect("read").len(), 5000);
        assert_eq!(s.own_slots(9).expect("slots").len(), 5000);
        let err = s
            .commit(&Pending {
                messages: vec![msg(9, 50, 2, 8)],
                ..Pending::default()
            })
            .expect_err("a second value at a logged slot");
        assert!(matches!(
            err,
            JournalError::Conflict {
                height: 9,
                round: 50,
                ..
            }
        ));
    }

    #[test]
    fn own_vote_log_appends_dedups_refuses_conflicts_and_prunes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = JournalStore::open(&dir.path().join("j.redb")).expect("open");
        assert_eq!(s.own_heights().expect("heights"), None);
        let write = |messages: Vec<OwnMessage>| {
            s.commit(&Pending {
                messages,
                ..Pending::default()
            })
        };
        write(vec![msg(5, 1, 1, 7), msg(5, 1, 2, 7), msg(5, 1, 3, 7)]).expect("log");
        // The same vote again (a re-send after a restart) is not a second entry.
        write(vec![msg(5, 1, 2, 7)]).expect("same vote");
        assert_eq!(s.own_messages(5, 5).expect("read").len(), 3);
        // A different value at a logged (height, round, step) is refused, and the
        // whole write with it (the journal snapshot too).
        let j = Journal {
            start: HeightStart {
                height: 5,
                parent: Value([3; 32]),
                thresholds: Thresholds::uniform(5),
            },
            round: 1,
            step: Step(4),
            starting: Value([4; 32]),
            cast: vec![],
            proposed: vec![],
            soft_certified: vec![],
        };
        let err = s
            .commit(&Pending {
                journal: Some(j),
                messages: vec![msg(5, 1, 4, 9), msg(5, 1, 3, 8)],
                ..Pending::default()
            })
            .expect_err("conflict");
        assert!(matches!(
            err,
            JournalError::Conflict {
                height: 5,
                round: 1,
                step: Step(3),
                ..
            }
        ));
        assert!(s.read().expect("read").is_none(), "journal not written");
        let logged = s.own_messages(0, u64::MAX).expect("read");
        assert_eq!(
            logged,
            vec![msg(5, 1, 1, 7), msg(5, 1, 2, 7), msg(5, 1, 3, 7)]
        );
        // Another round is another key.
        write(vec![msg(5, 2, 3, 8)]).expect("next round");
        assert_eq!(s.own_messages(5, 5).expect("read").len(), 4);
        // Old heights are pruned once a height RETAINED_HEIGHTS above them is logged.
        write(vec![msg(6, 1, 2, 1)]).expect("h6");
        write(vec![msg(5 + RETAINED_HEIGHTS, 1, 2, 1)]).expect("far");
        assert_eq!(
            s.own_heights().expect("heights"),
            Some((6, 5 + RETAINED_HEIGHTS))
        );
        assert!(s.own_messages(0, 5).expect("read").is_empty());
        drop(s);
        // Read back from a data directory.
        let datadir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            read_vote_log(datadir.path()),
            Err(JournalError::Missing(_))
        ));
        std::fs::create_dir_all(datadir.path().join("kalgo")).expect("mkdir");
        let s = JournalStore::open(&datadir.path().join("kalgo/consensus.redb")).expect("open");
        write_one(&s, msg(3, 1, 2, 1));
        drop(s);
        assert_eq!(
            read_vote_log(datadir.path()).expect("log"),
            vec![msg(3, 1, 2, 1)]
        );
    }

    fn write_one(s: &JournalStore, m: OwnMessage) {
        s.commit(&Pending {
            messages: vec![m],
            ..Pending::default()
        })
        .expect("write");
    }
}
