//! The libp2p behaviour of a node: gossipsub (topics, content-hash message ids,
//! application validation, peer scoring, size bounds), identify (network id
//! check, peers' listen addresses), the sync request-response protocol, the
//! operator's block list (`admin_banPeer`) and the connection limit (`--maxpeers`).

use std::collections::HashMap;
use std::time::Duration;

use alloy_primitives::keccak256;
use libp2p::gossipsub::{self, IdentTopic, MessageId, TopicHash};
use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{allow_block_list, connection_limits, identify, request_response};
use spec::codec::MAX_MESSAGE_BYTES;

use super::codec::{SYNC_PROTOCOL, SyncCodec};
use spec::driver::wire::{MAX_BLOCK_BYTES, Topic};

/// Largest gossiped transaction (the pool's own bound is checked again on entry).
pub const MAX_TX_BYTES: usize = 128 * 1024;
/// Time allowed for one sync request.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(20);

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

/// Why the behaviour could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BehaviourError {
    /// Gossipsub configuration.
    #[error("gossipsub: {0}")]
    Gossipsub(String),
}

/// Message ids are a hash of topic and content, so a vote relayed by several
/// peers is one message (deduplicated by gossipsub before validation).
fn content_id(message: &gossipsub::Message) -> MessageId {
    let mut buf = Vec::with_capacity(message.topic.as_str().len() + 1 + message.data.len());
    buf.extend_from_slice(message.topic.as_str().as_bytes());
    buf.push(0);
    buf.extend_from_slice(&message.data);
    MessageId::from(keccak256(&buf).0[..20].to_vec())
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

impl Behaviour {
    /// Builds the behaviour for `key` on network `network_id` with genesis `genesis`.
    pub fn new(
        key: &Keypair,
        network_id: u64,
        genesis: &[u8; 32],
        max_peers: u32,
    ) -> Result<Self, BehaviourError> {
        let mut cfg = gossipsub::ConfigBuilder::default();
        cfg.validation_mode(gossipsub::ValidationMode::Strict)
            .validate_messages()
            .message_id_fn(content_id)
            .heartbeat_interval(Duration::from_millis(700))
            .max_transmit_size(MAX_BLOCK_BYTES + 64 * 1024)
            .duplicate_cache_time(Duration::from_secs(120));
        for t in NetTopic::ALL {
            cfg.max_transmit_size_for_topic(t.max_bytes() + 1024, t.topic().hash());
        }
        let cfg = cfg
            .build()
            .map_err(|e| BehaviourError::Gossipsub(e.to_string()))?;
        let mut gossipsub =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), cfg)
                .map_err(|e| BehaviourError::Gossipsub(e.to_string()))?;
        let (params, thresholds) = score_params();
        gossipsub
            .with_peer_score(params, thresholds)
            .map_err(BehaviourError::Gossipsub)?;
        for t in NetTopic::ALL {
            gossipsub
                .subscribe(&t.topic())
                .map_err(|e| BehaviourError::Gossipsub(e.to_string()))?;
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
