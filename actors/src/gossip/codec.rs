//! The catch-up sync protocol `/kalgo/sync/1` (ARCHITECTURE.md "One block, end to
//! end", step 5): a request-response protocol with its own small binary encoding.
//!
//! - `Status` → the peer's head (number, hash) and genesis hash, so a node learns
//!   how far behind it is;
//! - `Blocks { from, count }` → up to `count` consecutive committed blocks from
//!   `from`, each with its certificate, as stored;
//! - `Recent` → the consensus messages (votes, proposals, blocks) the peer sent or
//!   accepted most recently, so a node that reaches the network's height after
//!   its proposal was gossiped still gets it (Kaleido's gossip loops re-send such
//!   data to lagging peers, §5.4). They are checked like gossiped ones;
//! - `Peers` → dialable addresses (`…/p2p/<id>`) of the peer's other peers, so a
//!   node that knows one bootnode meets the whole network instead of hanging off
//!   that one node (without it the network is a star around the bootnode, and
//!   losing the bootnode splits it). Asked on connecting and, while discovery
//!   has room for more peers, again every redial tick (one request per peer
//!   outstanding at most): a peer lists only the peers it has identified, so
//!   its first answer can miss those it meets a moment later;
//! - `Pool` → one transaction batch ([`super::txbatch`]) of the peer's pending
//!   transactions, asked for once per connection once the peer's status showed
//!   the same genesis, and answered once per connection: gossip sends a transaction
//!   once, so one pooled while its node had no peers (or sent into a partition)
//!   would otherwise reach nobody until that node proposed.
//!
//! Every read is bounded before it is parsed: a request is at most
//! [`MAX_REQUEST_BYTES`], a response at most [`MAX_RESPONSE_BYTES`]; a request asks
//! for at most [`MAX_SYNC_BLOCKS`] blocks, each block at most
//! [`MAX_BLOCK_BYTES`] and each certificate at most [`MAX_MESSAGE_BYTES`]. Decoding
//! never panics and rejects trailing bytes.

use std::io;

use libp2p::StreamProtocol;
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use spec::codec::MAX_MESSAGE_BYTES;

use super::txbatch::MAX_BATCH_BYTES;
use spec::driver::wire::{MAX_BLOCK_BYTES, Topic};

/// The libp2p protocol id of sync requests and responses.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/kalgo/sync/1");
/// Largest request read.
pub const MAX_REQUEST_BYTES: usize = 64;
/// Most messages in a `Recent` response.
pub const MAX_RECENT: usize = 1024;
/// Most blocks asked for, or served, in one request.
pub const MAX_SYNC_BLOCKS: u32 = 64;
/// Largest response read.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// A server stops adding blocks once a response holds this many bytes (it always
/// sends at least one block, which with its certificate fits [`MAX_RESPONSE_BYTES`]).
pub const SOFT_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

const TAG_STATUS: u8 = 1;
const TAG_BLOCKS: u8 = 2;
const TAG_UNAVAILABLE: u8 = 3;
const TAG_RECENT: u8 = 4;
const TAG_PEERS: u8 = 5;
const TAG_POOL: u8 = 6;

/// Most addresses in a `Peers` response.
pub const MAX_PEER_ADDRS: usize = 32;
/// Largest address (multiaddr bytes) in a `Peers` response.
pub const MAX_PEER_ADDR_BYTES: usize = 256;

/// A sync request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncRequest {
    /// The peer's head.
    Status,
    /// Committed blocks `from ..` (at most `count`, at most [`MAX_SYNC_BLOCKS`]).
    Blocks {
        /// First block number.
        from: u64,
        count: u32,
    },
    /// The peer's recent consensus messages.
    Recent,
    /// Addresses of the peer's other peers.
    Peers,
    /// The peer's pending transactions.
    Pool,
}

/// A peer's head as announced by a status response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// Head block number.
    pub head: u64,
    /// Head block hash.
    pub hash: [u8; 32],
    /// Genesis block hash (a peer on another chain is dropped).
    pub genesis: [u8; 32],
}

/// One committed block as served: the block in the blocks-topic encoding
/// (spec's block framing, `spec::driver::wire::frame_block`) and its encoded certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncBlock {
    /// `encode_block` bytes.
    pub block: Vec<u8>,
    /// `WireMessage::Certificate` bytes.
    pub certificate: Vec<u8>,
}

/// A sync response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncResponse {
    /// Answer to [`SyncRequest::Status`].
    Status(PeerStatus),
    /// Answer to [`SyncRequest::Blocks`]: consecutive blocks from `from` (possibly
    /// fewer than asked for).
    Blocks(Vec<SyncBlock>),
    /// The server will not answer now (busy, or nothing to serve).
    Unavailable,
    /// Answer to [`SyncRequest::Recent`]: consensus messages, newest first.
    Recent(Vec<(Topic, Vec<u8>)>),
    /// Answer to [`SyncRequest::Peers`]: multiaddr bytes (at most
    /// [`MAX_PEER_ADDRS`], each at most [`MAX_PEER_ADDR_BYTES`]; the receiver
    /// parses and checks them).
    Peers(Vec<Vec<u8>>),
    /// Answer to [`SyncRequest::Pool`]: a transaction batch (at most
    /// [`MAX_BATCH_BYTES`]; the receiver decodes it with [`super::txbatch::decode`]).
    Pool(Vec<u8>),
}

fn topic_tag(t: Topic) -> u8 {
    match t {
        Topic::Votes => 1,
        Topic::Proposals => 2,
        Topic::Blocks => 3,
    }
}

fn tag_topic(tag: u8) -> Option<Topic> {
    match tag {
        1 => Some(Topic::Votes),
        2 => Some(Topic::Proposals),
        3 => Some(Topic::Blocks),
        _ => None,
    }
}

/// Largest message of a consensus topic.
pub fn topic_max_bytes(t: Topic) -> usize {
    match t {
        Topic::Blocks => MAX_BLOCK_BYTES,
        Topic::Votes | Topic::Proposals => MAX_MESSAGE_BYTES,
    }
}

/// Why bytes are not a sync message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncDecodeError {
    /// Empty input.
    #[error("empty message")]
    Empty,
    /// Unknown tag byte.
    #[error("unknown tag {0}")]
    UnknownTag(u8),
    /// Input ended early.
    #[error("truncated")]
    Truncated,
    /// Bytes left over.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// A count or length is above its bound.
    #[error("{0} above its bound")]
    Bound(&'static str),
}

impl From<SyncDecodeError> for io::Error {
    fn from(e: SyncDecodeError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SyncDecodeError> {
        if self.0.len() < n {
            return Err(SyncDecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, SyncDecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, SyncDecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn b32(&mut self) -> Result<[u8; 32], SyncDecodeError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
    fn bytes(&mut self, max: usize, what: &'static str) -> Result<Vec<u8>, SyncDecodeError> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(SyncDecodeError::Bound(what));
        }
        Ok(self.take(len)?.to_vec())
    }
    fn finish(self) -> Result<(), SyncDecodeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(SyncDecodeError::Trailing(self.0.len()))
        }
    }
}

impl SyncRequest {
    /// The encoding: tag, then `from` (BE64) and `count` (BE32) for blocks.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            SyncRequest::Status => vec![TAG_STATUS],
            SyncRequest::Recent => vec![TAG_RECENT],
            SyncRequest::Peers => vec![TAG_PEERS],
            SyncRequest::Pool => vec![TAG_POOL],
            SyncRequest::Blocks { from, count } => {
                let mut out = vec![TAG_BLOCKS];
                out.extend_from_slice(&from.to_be_bytes());
                out.extend_from_slice(&count.to_be_bytes());
                out
            }
        }
    }

    /// Decodes [`Self::encode`]; `count` must be 1..=[`MAX_SYNC_BLOCKS`].
    pub fn decode(bytes: &[u8]) -> Result<Self, SyncDecodeError> {
        let (&tag, rest) = bytes.split_first().ok_or(SyncDecodeError::Empty)?;
        let mut r = Reader(rest);
        let req = match tag {
            TAG_STATUS => SyncRequest::Status,
            TAG_RECENT => SyncRequest::Recent,
            TAG_PEERS => SyncRequest::Peers,
            TAG_POOL => SyncRequest::Pool,
            TAG_BLOCKS => {
                let from = r.u64()?;
                let count = r.u32()?;
                if count == 0 || count > MAX_SYNC_BLOCKS {
                    return Err(SyncDecodeError::Bound("block count"));
                }
                SyncRequest::Blocks { from, count }
            }
            other => return Err(SyncDecodeError::UnknownTag(other)),
        };
        r.finish()?;
        Ok(req)
    }
}

impl SyncResponse {
    /// The encoding: tag, then the status fields, or a BE32 block count and per
    /// block a BE32-length-prefixed block and certificate.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            SyncResponse::Status(s) => {
                let mut out = vec![TAG_STATUS];
                out.extend_from_slice(&s.head.to_be_bytes());
                out.extend_from_slice(&s.hash);
                out.extend_from_slice(&s.genesis);
                out
            }
            SyncResponse::Blocks(blocks) => {
                let size: usize = blocks
                    .iter()
                    .map(|b| 8 + b.block.len() + b.certificate.len())
                    .sum();
                let mut out = Vec::with_capacity(5 + size);
                out.push(TAG_BLOCKS);
                out.extend_from_slice(&(blocks.len() as u32).to_be_bytes());
                for b in blocks {
                    out.extend_from_slice(&(b.block.len() as u32).to_be_bytes());
                    out.extend_from_slice(&b.block);
                    out.extend_from_slice(&(b.certificate.len() as u32).to_be_bytes());
                    out.extend_from_slice(&b.certificate);
                }
                out
            }
            SyncResponse::Unavailable => vec![TAG_UNAVAILABLE],
            SyncResponse::Recent(msgs) => {
                let size: usize = msgs.iter().map(|(_, m)| 5 + m.len()).sum();
                let mut out = Vec::with_capacity(5 + size);
                out.push(TAG_RECENT);
                out.extend_from_slice(&(msgs.len() as u32).to_be_bytes());
                for (topic, m) in msgs {
                    out.push(topic_tag(*topic));
                    out.extend_from_slice(&(m.len() as u32).to_be_bytes());
                    out.extend_from_slice(m);
                }
                out
            }
            SyncResponse::Peers(addrs) => {
                let mut out = vec![TAG_PEERS];
                out.extend_from_slice(&(addrs.len() as u32).to_be_bytes());
                for a in addrs {
                    out.extend_from_slice(&(a.len() as u32).to_be_bytes());
                    out.extend_from_slice(a);
                }
                out
            }
            SyncResponse::Pool(batch) => {
                let mut out = Vec::with_capacity(5 + batch.len());
                out.push(TAG_POOL);
                out.extend_from_slice(&(batch.len() as u32).to_be_bytes());
                out.extend_from_slice(batch);
                out
            }
        }
    }

    /// Decodes [`Self::encode`] with every bound of the module docs.
    pub fn decode(bytes: &[u8]) -> Result<Self, SyncDecodeError> {
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(SyncDecodeError::Bound("response size"));
        }
        let (&tag, rest) = bytes.split_first().ok_or(SyncDecodeError::Empty)?;
        let mut r = Reader(rest);
        let resp = match tag {
            TAG_STATUS => SyncResponse::Status(PeerStatus {
                head: r.u64()?,
                hash: r.b32()?,
                genesis: r.b32()?,
            }),
            TAG_BLOCKS => {
                let n = r.u32()?;
                if n > MAX_SYNC_BLOCKS {
                    return Err(SyncDecodeError::Bound("block count"));
                }
                let mut blocks = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let block = r.bytes(MAX_BLOCK_BYTES, "block size")?;
                    let certificate = r.bytes(MAX_MESSAGE_BYTES, "certificate size")?;
                    blocks.push(SyncBlock { block, certificate });
                }
                SyncResponse::Blocks(blocks)
            }
            TAG_UNAVAILABLE => SyncResponse::Unavailable,
            TAG_RECENT => {
                let n = r.u32()? as usize;
                if n > MAX_RECENT {
                    return Err(SyncDecodeError::Bound("message count"));
                }
                let mut msgs = Vec::with_capacity(n);
                for _ in 0..n {
                    let tag = r.take(1)?[0];
                    let topic = tag_topic(tag).ok_or(SyncDecodeError::UnknownTag(tag))?;
                    msgs.push((topic, r.bytes(topic_max_bytes(topic), "message size")?));
                }
                SyncResponse::Recent(msgs)
            }
            TAG_PEERS => {
                let n = r.u32()? as usize;
                if n > MAX_PEER_ADDRS {
                    return Err(SyncDecodeError::Bound("address count"));
                }
                let mut addrs = Vec::with_capacity(n);
                for _ in 0..n {
                    addrs.push(r.bytes(MAX_PEER_ADDR_BYTES, "address size")?);
                }
                SyncResponse::Peers(addrs)
            }
            TAG_POOL => SyncResponse::Pool(r.bytes(MAX_BATCH_BYTES, "transaction batch size")?),
            other => return Err(SyncDecodeError::UnknownTag(other)),
        };
        r.finish()?;
        Ok(resp)
    }
}

/// Reads the whole stream, failing once it exceeds `max` bytes.
async fn read_bounded<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(max as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "sync message above its size bound",
        ));
    }
    Ok(buf)
}

/// The request-response codec of [`SYNC_PROTOCOL`]: one message per stream,
/// written whole and closed.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCodec;

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_bounded(io, MAX_REQUEST_BYTES).await?;
        Ok(SyncRequest::decode(&bytes)?)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_bounded(io, MAX_RESPONSE_BYTES).await?;
        Ok(SyncResponse::decode(&bytes)?)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&req.encode()).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        resp: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&resp.encode()).await?;
        io.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bounds_hold() {
        for req in [
            SyncRequest::Status,
            SyncRequest::Recent,
            SyncRequest::Peers,
            SyncRequest::Pool,
            SyncRequest::Blocks { from: 7, count: 1 },
            SyncRequest::Blocks {
                from: u64::MAX,
                count: MAX_SYNC_BLOCKS,
            },
        ] {
            assert_eq!(SyncRequest::decode(&req.encode()), Ok(req));
        }
        let too_many = SyncRequest::Blocks {
            from: 1,
            count: MAX_SYNC_BLOCKS + 1,
        }
        .encode();
        assert_eq!(
            SyncRequest::decode(&too_many),
            Err(SyncDecodeError::Bound("block count"))
        );
        let zero = SyncRequest::Blocks { from: 1, count: 0 }.encode();
        assert!(SyncRequest::decode(&zero).is_err());
        assert_eq!(SyncRequest::decode(&[]), Err(SyncDecodeError::Empty));
        assert_eq!(
            SyncRequest::decode(&[TAG_STATUS, 0]),
            Err(SyncDecodeError::Trailing(1))
        );
        assert_eq!(
            SyncRequest::decode(&[TAG_BLOCKS, 0, 0]),
            Err(SyncDecodeError::Truncated)
        );
        assert_eq!(
            SyncRequest::decode(&[9]),
            Err(SyncDecodeError::UnknownTag(9))
        );
    }

    #[test]
    fn responses_round_trip_and_reject_oversized_fields() {
        let status = SyncResponse::Status(PeerStatus {
            head: 42,
            hash: [1; 32],
            genesis: [2; 32],
        });
        let blocks = SyncResponse::Blocks(vec![
            SyncBlock {
                block: vec![1, 2, 3],
                certificate: vec![4, 5],
            },
            SyncBlock {
                block: vec![],
                certificate: vec![6],
            },
        ]);
        let recent = SyncResponse::Recent(vec![
            (Topic::Votes, vec![1; 40]),
            (Topic::Blocks, vec![2; 100]),
            (Topic::Proposals, vec![]),
        ]);
        let peers = SyncResponse::Peers(vec![vec![4, 127, 0, 0, 1], vec![]]);
        let pool = SyncResponse::Pool(vec![0xc0]);
        for resp in [
            status,
            blocks,
            SyncResponse::Unavailable,
            recent,
            peers,
            pool,
        ] {
            assert_eq!(SyncResponse::decode(&resp.encode()), Ok(resp));
        }
        // A block count above the bound is rejected before any allocation.
        let mut many = vec![TAG_BLOCKS];
        many.extend_from_slice(&(MAX_SYNC_BLOCKS + 1).to_be_bytes());
        assert_eq!(
            SyncResponse::decode(&many),
            Err(SyncDecodeError::Bound("block count"))
        );
        // A length prefix above the block bound is rejected, not trusted.
        let mut huge = vec![TAG_BLOCKS];
        huge.extend_from_slice(&1u32.to_be_bytes());
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            SyncResponse::decode(&huge),
            Err(SyncDecodeError::Bound("block size"))
        );
        // Recent: bounded count, known topics only.
        let mut many = vec![TAG_RECENT];
        many.extend_from_slice(&(MAX_RECENT as u32 + 1).to_be_bytes());
        assert_eq!(
            SyncResponse::decode(&many),
            Err(SyncDecodeError::Bound("message count"))
        );
        let mut odd = vec![TAG_RECENT];
        odd.extend_from_slice(&1u32.to_be_bytes());
        odd.push(9);
        assert_eq!(
            SyncResponse::decode(&odd),
            Err(SyncDecodeError::UnknownTag(9))
        );
        // Peers: bounded count and address size.
        let mut many = vec![TAG_PEERS];
        many.extend_from_slice(&(MAX_PEER_ADDRS as u32 + 1).to_be_bytes());
        assert_eq!(
            SyncResponse::decode(&many),
            Err(SyncDecodeError::Bound("address count"))
        );
        let long = SyncResponse::Peers(vec![vec![0; MAX_PEER_ADDR_BYTES + 1]]).encode();
        assert_eq!(
            SyncResponse::decode(&long),
            Err(SyncDecodeError::Bound("address size"))
        );
        // Pool: one batch, bounded like a gossiped one.
        let big = SyncResponse::Pool(vec![0; MAX_BATCH_BYTES + 1]).encode();
        assert_eq!(
            SyncResponse::decode(&big),
            Err(SyncDecodeError::Bound("transaction batch size"))
        );
        // A length prefix past the end is truncation.
        let mut short = vec![TAG_BLOCKS];
        short.extend_from_slice(&1u32.to_be_bytes());
        short.extend_from_slice(&10u32.to_be_bytes());
        short.extend_from_slice(&[0; 3]);
        assert_eq!(
            SyncResponse::decode(&short),
            Err(SyncDecodeError::Truncated)
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A deterministic sweep of short inputs (every tag, every prefix length).
        let mut state = 0x1234_5678_u32;
        for len in 0..200usize {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state >> 24) as u8
                })
                .collect();
            for tag in 0..8u8 {
                let mut b = bytes.clone();
                if let Some(first) = b.first_mut() {
                    *first = tag;
                }
                let _ = SyncRequest::decode(&b);
                let _ = SyncResponse::decode(&b);
            }
        }
    }
}
