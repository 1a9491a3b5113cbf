//! The libp2p behaviour of a node: gossipsub (topics, content-hash message ids,
//! application validation, peer scoring, size bounds), identify (network id
//! check, peers' listen addresses), the sync request-response protocol, the
//! operator's block list (`admin_banPeer`) and the connection limit (`--maxpeers`).

use std::collections::HashMap;
use std::time::Duration;

use alloy_primitives::Keccak256;
use libp2p::gossipsub::{self, IdentTopic, MessageId, TopicHash};
use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{allow_block_list, connection_limits, identify, request_response};
use spec::codec::MAX_MESSAGE_BYTES;

use super::codec::{SYNC_PROTOCOL, SyncCodec};
use spec::driver::wire::{MAX_BLOCK_BYTES, Topic};

/// Time allowed for one sync request.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(20);
/// Gossipsub heartbeat interval (mesh maintenance and gossip emission).
pub const HEARTBEAT: Duration = Duration::from_millis(700);
/// How long gossipsub remembers a message id to drop copies unread.
///
/// Every message a peer sends costs this node one entry (about 110 bytes with
/// the id and its expiry queue) for this long, whatever the verdict: a peer
/// signing far votes at 1.8k messages/s held 25 MiB here at 120 s. Copies
/// arrive within the message-cache window (history × heartbeat, 3.5 s) or
/// within a slow validation queue; a copy later than this is screened again by
/// consensus, which drops what it has already counted. (Gossipsub's peer
/// scoring keeps its own per-message delivery record for a fixed 120 s, about
/// 440 bytes each: see docs/verification.md, "Attacks by one peer".)
pub const DUPLICATE_CACHE: Duration = Duration::from_secs(30);

/// A gossipsub topic of the node.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum NetTopic {
    /// A consensus topic (votes, proposals, blocks).
    Consensus(Topic),
    /// Batches of raw signed transactions (an RLP list of EIP-2718 encodings,
    /// [`super::txbatch`]), `kalgo/txs/2`.
    Transactions,
}

impl NetTopic {
    /// Every topic a node subscribes to.
    pub const ALL: [NetTopic; 4] = [
        NetTopic::Consensus(Topic::Votes),
        NetTopic::Consensus(Topic::Proposals),
        NetTopic::Consensus(Topic::Blocks),
        NetTopic::Transactions,
    ];

    /// The gossipsub topic name.
    pub fn name(self) -> &'static str {
        match self {
            NetTopic::Consensus(t) => t.name(),
            NetTopic::Transactions => "kalgo/txs/2",
        }
    }

    /// The gossipsub topic.
    pub fn topic(self) -> IdentTopic {
        IdentTopic::new(self.name())
    }

    /// Largest message accepted on the topic.
    pub fn max_bytes(self) -> usize {
        match self {
            NetTopic::Consensus(Topic::Blocks) => MAX_BLOCK_BYTES,
            NetTopic::Consensus(_) => MAX_MESSAGE_BYTES,
            NetTopic::Transactions => super::txbatch::MAX_BATCH_BYTES,
        }
    }

    /// Topic hashes of every topic.
    pub fn by_hash() -> HashMap<TopicHash, NetTopic> {
        Self::ALL.iter().map(|t| (t.topic().hash(), *t)).collect()
    }
}

/// The identify protocol version: peers on another network or chain are dropped.
pub fn protocol_version(network_id: u64, genesis: &[u8; 32]) -> String {
    format!(
        "/kalgo/{network_id}/{}",
        alloy_primitives::hex::encode(&genesis[..8])
    )
}

/// The behaviour of a node.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Peers banned by the operator (`admin_banPeer`): their connections are
    /// denied, both ways, before any other protocol sees them.
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// `--maxpeers`.
    pub limits: connection_limits::Behaviour,
    /// Votes, proposals, blocks, transactions.
    pub gossipsub: gossipsub::Behaviour,
    /// Protocol version and listen addresses.
    pub identify: identify::Behaviour,
    /// Catch-up sync.
    pub sync: request_response::Behaviour<SyncCodec>,
}

/// Why the behaviour could not be built. Every case is a bug in this node's
/// fixed gossipsub set-up (the operator controls none of it): report it.
#[derive(Debug, thiserror::Error)]
pub enum BehaviourError {
    /// The gossipsub configuration builder refused [`gossip_config`]'s values
    /// (for instance a transmit size below a topic's bound).
    #[error("gossipsub: {0}")]
    Config(#[from] gossipsub::ConfigBuilderError),
    /// gossipsub refused the message authenticity for this configuration
    /// (its constructor reports only a fixed text).
    #[error("gossipsub: {0}")]
    Authenticity(&'static str),
    /// gossipsub refused the peer-score parameters of [`score_params`] (its
    /// validation reports only a text).
    #[error("gossipsub: {0}")]
    PeerScore(String),
    /// Subscribing to one of [`NetTopic::ALL`] failed.
    #[error("gossipsub: {0}")]
    Subscribe(#[from] gossipsub::SubscriptionError),
}

/// Message ids are a hash of topic and content, so a vote relayed by several
/// peers is one message (deduplicated by gossipsub before validation).
/// The id is the first 20 bytes of keccak-256(topic ‖ 0 ‖ data), hashed in
/// place (a proposal is up to a block's size, and every copy received is hashed).
fn content_id(message: &gossipsub::Message) -> MessageId {
    let mut hasher = Keccak256::new();
    hasher.update(message.topic.as_str().as_bytes());
    hasher.update([0u8]);
    hasher.update(&message.data);
    MessageId::from(hasher.finalize().0[..20].to_vec())
}

/// Peer scoring: a peer loses score for every message consensus or the pool
/// rejected (P4, squared, decaying over about 10 s); below the graylist threshold
/// its messages are dropped unread. Mesh-delivery penalties are off: consensus
/// traffic is bursty and small networks are normal.
fn score_params() -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let mut params = gossipsub::PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        app_specific_weight: 1.0,
        ..Default::default()
    };
    for t in NetTopic::ALL {
        let topic = gossipsub::TopicScoreParams {
            topic_weight: 1.0,
            time_in_mesh_weight: 0.01,
            time_in_mesh_quantum: Duration::from_secs(1),
            time_in_mesh_cap: 100.0,
            first_message_deliveries_weight: 0.5,
            first_message_deliveries_decay: 0.9,
            first_message_deliveries_cap: 50.0,
            mesh_message_deliveries_weight: 0.0,
            mesh_failure_penalty_weight: 0.0,
            invalid_message_deliveries_weight: -10.0,
            invalid_message_deliveries_decay: 0.9,
            ..Default::default()
        };
        params.topics.insert(t.topic().hash(), topic);
    }
    let thresholds = gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    };
    (params, thresholds)
}

/// The graylist threshold of [`score_params`]: below it a peer is disconnected.
pub const GRAYLIST: f64 = -80.0;

/// The gossipsub configuration: strict signatures, validation by the
/// application before forwarding, content ids, per-topic size bounds,
/// [`HEARTBEAT`] and [`DUPLICATE_CACHE`].
fn gossip_config() -> Result<gossipsub::Config, BehaviourError> {
    let mut cfg = gossipsub::ConfigBuilder::default();
    cfg.validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(content_id)
        .heartbeat_interval(HEARTBEAT)
        .max_transmit_size(MAX_BLOCK_BYTES + 64 * 1024)
        .duplicate_cache_time(DUPLICATE_CACHE);
    for t in NetTopic::ALL {
        cfg.max_transmit_size_for_topic(t.max_bytes() + 1024, t.topic().hash());
    }
    Ok(cfg.build()?)
}

impl Behaviour {
    /// Builds the behaviour for `key` on network `network_id` with genesis `genesis`.
    pub fn new(
        key: &Keypair,
        network_id: u64,
        genesis: &[u8; 32],
        max_peers: u32,
    ) -> Result<Self, BehaviourError> {
        let cfg = gossip_config()?;
        let mut gossipsub =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), cfg)
                .map_err(BehaviourError::Authenticity)?;
        let (params, thresholds) = score_params();
        gossipsub
            .with_peer_score(params, thresholds)
            .map_err(BehaviourError::PeerScore)?;
        for t in NetTopic::ALL {
            gossipsub.subscribe(&t.topic())?;
        }
        let identify = identify::Behaviour::new(
            identify::Config::new(protocol_version(network_id, genesis), key.public())
                .with_agent_version(format!("kalgo/{}", env!("CARGO_PKG_VERSION"))),
        );
        let sync = request_response::Behaviour::with_codec(
            SyncCodec,
            [(SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(SYNC_TIMEOUT)
                .with_max_concurrent_streams(64),
        );
        let limits = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_established(Some(max_peers.max(1)))
                .with_max_established_per_peer(Some(2))
                .with_max_pending_incoming(Some(max_peers.max(1))),
        );
        Ok(Self {
            blocked: allow_block_list::Behaviour::default(),
            limits,
            gossipsub,
            identify,
            sync,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The duplicate cache bounds what every message costs this node (one id
    /// per message for [`DUPLICATE_CACHE`]): it stays well below the 120 s it
    /// once had, yet outlives by far the window in which gossipsub itself
    /// re-advertises a message (history × heartbeat), so relayed copies are
    /// still dropped unread.
    #[test]
    fn the_duplicate_cache_is_short_but_covers_the_message_cache() {
        let cfg = gossip_config().expect("config builds");
        assert_eq!(cfg.duplicate_cache_time(), DUPLICATE_CACHE);
        assert_eq!(cfg.heartbeat_interval(), HEARTBEAT);
        let window = cfg.heartbeat_interval() * cfg.history_length() as u32;
        assert!(
            cfg.duplicate_cache_time() >= window * 5,
            "{:?} against a message-cache window of {window:?}",
            cfg.duplicate_cache_time()
        );
        assert!(cfg.duplicate_cache_time() <= Duration::from_secs(30));
    }

    /// Ids are what every version computes: keccak-256 of topic, a zero byte
    /// and the data, cut to 20 bytes (peers compare them in IHAVE, IWANT and
    /// IDONTWANT).
    #[test]
    fn a_message_id_is_keccak_of_topic_zero_and_data() {
        let topic = NetTopic::ALL[0].topic();
        let data = vec![0xabu8; 300_000];
        let message = gossipsub::Message {
            source: None,
            data: data.clone(),
            sequence_number: None,
            topic: topic.hash(),
        };
        let mut joined = topic.hash().as_str().as_bytes().to_vec();
        joined.push(0);
        joined.extend_from_slice(&data);
        let expected = alloy_primitives::keccak256(&joined).0[..20].to_vec();
        assert_eq!(content_id(&message), MessageId::from(expected));
        let other = gossipsub::Message {
            data: vec![0xab; 299_999],
            ..message
        };
        assert_ne!(
            content_id(&other),
            content_id(&gossipsub::Message {
                source: None,
                data,
                sequence_number: None,
                topic: topic.hash(),
            })
        );
    }
}
