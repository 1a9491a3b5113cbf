//! The network resource (ARCHITECTURE.md "actors — gossip"): a libp2p swarm over
//! TCP + noise + yamux with gossipsub topics for votes, proposals, blocks and
//! transactions, identify, and a request-response protocol for catch-up sync.
//!
//! - [`behaviour`]: the libp2p behaviour (topics, content-hash message ids,
//!   validation before forwarding, peer scoring, size and connection limits);
//! - [`codec`]: the bounded sync protocol `/kalgo/sync/1`;
//! - [`catch_up`]: when and from whom to catch up;
//! - [`recent`]: recent consensus messages, re-served to peers that arrive late;
//! - [`swarm`]: the swarm task, the owner of the network;
//! - [`actor`]: the actix side that routes inbound traffic to consensus and
//!   execution and their verdicts back.
//!
//! The swarm runs in its own tokio task. Everything talks to it by messages over
//! bounded channels: [`Command`]s in through a [`GossipHandle`] (never blocking the
//! caller: a full queue drops the command and says so), [`NetEvent`]s out to the
//! [`actor::GossipActor`]. When the actor is slow the outbound channel fills, the
//! task stops reading the network, and peers feel the back-pressure through TCP.
//!
//! Gossip validation: a message is forwarded to other peers only after consensus
//! (`HostCore::on_wire_batch`) or the transaction pool accepted it. A rejection
//! costs the sending peer score; below the graylist threshold its messages are
//! dropped unread and it is disconnected. Harmless misses (stale, duplicate,
//! buffered for the next height, already pooled) are ignored without penalty.

pub mod actor;
pub mod behaviour;
pub mod bucket;
pub mod catch_up;
pub mod codec;
pub mod enode;
pub mod rate;
pub mod recent;
pub mod swarm;
pub mod txbatch;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use libp2p::gossipsub::MessageId;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

pub use behaviour::NetTopic;
pub use codec::{SyncBlock, SyncResponse};

/// Capacity of the command channel into the swarm task.
pub const COMMAND_QUEUE: usize = 4096;
/// Capacity of the event channel out of the swarm task.
pub const EVENT_QUEUE: usize = 64;

/// Network settings of a node.
#[derive(Clone, Debug)]
pub struct GossipConfig {
    /// Listen address (`/ip4/0.0.0.0/tcp/38883`).
    pub listen: Multiaddr,
    /// Peers dialled at start and redialled when disconnected (each with `/p2p/<id>`).
    pub bootnodes: Vec<Multiaddr>,
    /// Most established connections.
    pub max_peers: u32,
    /// Network id: peers on another network are dropped.
    pub network_id: u64,
    /// Genesis hash: peers on another chain are dropped.
    pub genesis: [u8; 32],
    /// This node's head at start.
    pub head: (u64, [u8; 32]),
    /// Redial peers learned from identify (off with `--nodiscover`: bootnodes only).
    pub discover: bool,
    /// How long a peer one block ahead is tolerated before syncing from it.
    pub sync_lag: Duration,
    /// Kept equal to the number of connected peers (for `net_peerCount`).
    pub peer_count: Option<Arc<AtomicU64>>,
    /// The node's metrics, for what the swarm counts (gossip messages dropped
    /// for their sender's rate).
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Votes a second one peer may hand this node (`--p2p.gossiprate`); other
    /// topics are scaled from it ([`rate::topic_refill`]).
    pub gossip_rate: u32,
}

/// A gossip message waiting for a verdict.
#[derive(Clone, Debug)]
pub struct InboundMsg {
    /// Gossipsub message id (content hash).
    pub id: MessageId,
    /// The peer it came from.
    pub source: PeerId,
    pub topic: NetTopic,
    /// Its bytes (bounded by the topic's size limit).
    pub data: Vec<u8>,
}

/// What the swarm task reports to the gossip actor.
#[derive(Debug)]
pub enum NetEvent {
    /// Messages of the consensus topics, in arrival order.
    Consensus(Vec<InboundMsg>),
    /// Messages of the transactions topic, each a batch ([`txbatch`] encoding).
    Transactions(Vec<InboundMsg>),
    /// A sync response: blocks with certificates from `peer`, from the head + 1.
    SyncBlocks {
        /// The peer that served them.
        peer: PeerId,
        /// The blocks, in order.
        blocks: Vec<SyncBlock>,
    },
    /// A peer's recent consensus messages (answer to a `Recent` request): checked
    /// like gossip, verdicts not reported.
    Recent {
        /// The peer that answered.
        peer: PeerId,
        /// Its messages with their topic, not yet decoded.
        msgs: Vec<(spec::driver::Topic, Vec<u8>)>,
    },
    /// A newly connected peer's pending transactions (answer to a `Pool`
    /// request): a batch not yet decoded. Those the pool accepts are published
    /// on, so the rest of this node's side of the network gets them too.
    PeerPool {
        peer: PeerId,
        /// A transaction batch ([`txbatch`] encoding).
        batch: Vec<u8>,
    },
    /// A peer asks for this node's pending transactions: answer with
    /// [`Command::Serve`] and the same `id`.
    ServePool {
        /// The request's local id.
        id: u64,
    },
    /// A peer asks for blocks: answer with [`Command::Serve`] and the same `id`.
    ServeBlocks {
        /// The request's local id.
        id: u64,
        /// First block number.
        from: u64,
        /// How many (at most [`codec::MAX_SYNC_BLOCKS`]).
        count: u32,
    },
}

/// The verdict on one gossip message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and useful: forward it.
    Accept,
    /// Not useful (stale, duplicate, …): drop without penalty.
    Ignore,
    /// Invalid: drop and penalise the sender.
    Reject,
}

/// What the swarm task is asked to do.
#[derive(Debug)]
pub enum Command {
    /// Publish on a topic.
    Publish {
        /// The topic.
        topic: NetTopic,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Publish raw transactions (batched like own ones: [`txbatch::Outgoing`]).
    PublishTxs(Vec<Vec<u8>>),
    /// Publish on a topic and say whether any peer's send queue took it (the
    /// fuzz peer paces itself by this; the node's own traffic uses [`Command::Publish`]).
    PublishAcked {
        topic: NetTopic,
        data: Vec<u8>,
        /// Told once the message was queued for at least one peer, or why not.
        reply: oneshot::Sender<Result<(), PublishRefused>>,
    },
    /// Verdicts on inbound messages.
    Report(Vec<(MessageId, PeerId, Verdict)>),
    /// This node's head changed.
    LocalHead {
        /// Number.
        number: u64,
        /// Hash.
        hash: [u8; 32],
    },
    /// The blocks of a [`NetEvent::SyncBlocks`] (or the messages of a
    /// [`NetEvent::Recent`]) were processed.
    SyncDone {
        /// The peer that served them.
        peer: PeerId,
        /// What they came to (a peer that strikes out is disconnected).
        served: catch_up::Served,
    },
    /// The answer to a [`NetEvent::ServeBlocks`] or [`NetEvent::ServePool`].
    Serve {
        /// The request's id.
        id: u64,
        response: SyncResponse,
    },
    /// Dial a peer (`/p2p/<id>` required); it is redialled like a bootnode.
    Dial(Multiaddr),
    /// Report listen addresses and peers.
    Info(oneshot::Sender<NetInfo>),
    /// Disconnect a peer and stop redialling it (it may still dial in).
    Disconnect(PeerId),
    /// The operator bans a peer (`admin_banPeer`): its connections are closed
    /// and every new one, inbound or outbound, is denied until [`Command::Unban`].
    Ban(PeerId),
    /// Lifts an operator ban; a bootnode or known peer is redialled.
    Unban(PeerId),
}

/// The network as the swarm task sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetInfo {
    /// This node's peer id.
    pub peer_id: PeerId,
    /// Listen addresses (with `/p2p/<id>`).
    pub listen: Vec<Multiaddr>,
    /// Connected peers.
    pub peers: Vec<PeerId>,
    /// The remote address of each connected peer's first connection, and
    /// whether this node dialled it (`true`) or accepted it.
    pub peer_addrs: Vec<(PeerId, Multiaddr, bool)>,
    /// Peers disconnected for misbehaviour and refused for a while.
    pub banned: Vec<PeerId>,
    /// Peers banned by the operator (`admin_banPeer`) until unbanned.
    pub operator_banned: Vec<PeerId>,
    /// This node's head as last announced.
    pub head: u64,
    /// The highest head a connected peer announced.
    pub best_peer_head: Option<u64>,
}

/// Why a command was not queued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GossipError {
    /// The swarm task is behind: the command was dropped.
    #[error("gossip queue full")]
    Full,
    /// The swarm task has stopped.
    #[error("gossip stopped")]
    Closed,
}

/// Why a message given to [`Command::PublishAcked`] was not sent to anyone.
#[derive(Debug, thiserror::Error)]
pub enum PublishRefused {
    /// No connected peer is subscribed to the topic.
    #[error("no peer is subscribed to the topic")]
    NoPeers,
    /// Every subscribed peer's send queue is full: try again later.
    #[error("every peer's send queue is full")]
    QueuesFull,
    /// The same bytes were published before (message ids are content hashes).
    #[error("already published")]
    Duplicate,
    /// Anything else gossipsub refused: the message is over the transmit size
    /// (`MessageTooLarge`), signing or compressing it failed. Sending the same
    /// bytes again will not help.
    #[error("{0}")]
    Other(#[source] libp2p::gossipsub::PublishError),
}

/// A cheap, cloneable way to talk to the swarm task. Sends never wait: a full
/// queue is reported as [`GossipError::Full`] and the command is dropped.
#[derive(Clone, Debug)]
pub struct GossipHandle {
    tx: mpsc::Sender<Command>,
    peer_id: PeerId,
}

impl GossipHandle {
    /// A handle over a command channel (the swarm task owns the receiver).
    pub fn new(tx: mpsc::Sender<Command>, peer_id: PeerId) -> Self {
        Self { tx, peer_id }
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Queues a command.
    pub fn send(&self, cmd: Command) -> Result<(), GossipError> {
        self.tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => GossipError::Full,
            mpsc::error::TrySendError::Closed(_) => GossipError::Closed,
        })
    }

    /// Queues a command, waiting for room (for callers outside the actors, which
    /// must never wait on the network).
    pub async fn send_wait(&self, cmd: Command) -> Result<(), GossipError> {
        self.tx.send(cmd).await.map_err(|_| GossipError::Closed)
    }

    /// Publishes `data` on `topic`.
    pub fn publish(&self, topic: NetTopic, data: Vec<u8>) -> Result<(), GossipError> {
        self.send(Command::Publish { topic, data })
    }

    /// Publishes `data` on `topic`, waiting for room in the command queue and
    /// for the swarm to say whether a peer's send queue took it.
    pub async fn publish_acked(
        &self,
        topic: NetTopic,
        data: Vec<u8>,
    ) -> Result<Result<(), PublishRefused>, GossipError> {
        let (reply, rx) = oneshot::channel();
        self.send_wait(Command::PublishAcked { topic, data, reply })
            .await?;
        rx.await.map_err(|_| GossipError::Closed)
    }

    /// Asks for the swarm's listen addresses and peers.
    pub async fn info(&self) -> Result<NetInfo, GossipError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Info(tx))?;
        rx.await.map_err(|_| GossipError::Closed)
    }

    /// Announces this node's head.
    pub fn local_head(&self, number: u64, hash: [u8; 32]) -> Result<(), GossipError> {
        self.send(Command::LocalHead { number, hash })
    }
}

/// Why a `--bootnodes` entry was refused; the operator fixes the entry quoted.
#[derive(Debug, thiserror::Error)]
#[error("bootnode {entry:?}: {source}")]
pub struct BootnodeError {
    /// The entry as given.
    pub entry: String,
    /// Why it names no peer: not an enode URL, not a multiaddr, or a multiaddr
    /// without the `/p2p/<peer id>` the node needs to authenticate the peer.
    pub source: enode::PeerAddressError,
}

/// Parses a comma-separated bootnode list; each entry is an enode URL or a
/// multiaddr ending in `/p2p/<peer id>` ([`enode::parse_peer_address`]).
pub fn parse_bootnodes(list: &str) -> Result<Vec<Multiaddr>, BootnodeError> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let addr = enode::parse_peer_address(entry).map_err(|source| BootnodeError {
            entry: entry.to_string(),
            source,
        })?;
        out.push(addr);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
