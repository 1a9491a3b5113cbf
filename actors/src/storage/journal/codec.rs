//! The journal's byte formats: the machine's [`Journal`] snapshot, this node's
//! own proposal and block, and one own-vote log record. Every decoder is
//! bounded by its input and refuses trailing or missing bytes.

use spec::machine::{HeightStart, Journal};
use spec::params::Thresholds;
use spec::types::{Height, Step, Value};

use super::{JournalError, MAX_OWN_MESSAGE, OwnMessage, OwnProposal};

const MAGIC: &[u8; 8] = b"kalgoJ01";
/// Bound on every list in a decoded journal.
const MAX_ENTRIES: usize = 1 << 16;

/// An own-vote log record: round, step, value, then the wire message.
pub(super) fn encode_message(m: &OwnMessage) -> Vec<u8> {
    let mut o = Vec::with_capacity(40 + m.wire.len());
    o.extend_from_slice(&m.round.to_be_bytes());
    o.extend_from_slice(&m.step.0.to_be_bytes());
    o.extend_from_slice(&m.value.0);
    o.extend_from_slice(&m.wire);
    o
}

/// Decodes [`encode_message`] for `height` (the record's key), bounded.
pub(super) fn decode_message(height: Height, bytes: &[u8]) -> Result<OwnMessage, JournalError> {
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

/// An own proposal record: height, proposal length, proposal, block.
pub(super) fn encode_own(own: &OwnProposal) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(12 + own.proposal.len() + own.block.len());
    bytes.extend_from_slice(&own.height.to_be_bytes());
    bytes.extend_from_slice(&(own.proposal.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&own.proposal);
    bytes.extend_from_slice(&own.block);
    bytes
}

/// Decodes [`encode_own`], bounded by the record.
pub(super) fn decode_own(b: &[u8]) -> Result<OwnProposal, JournalError> {
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
    Ok(OwnProposal {
        height,
        proposal: proposal.to_vec(),
        block: block.to_vec(),
    })
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
