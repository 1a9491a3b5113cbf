//! `kalgo fuzzpeer` (hidden; for tests and operators probing their own network): a
//! hostile peer built on the node's own gossip module. It joins a network through
//! `--bootnodes` and publishes, on every topic, in this order:
//!
//! 1. far-future votes and proposals (well formed, height ≥ 10⁹: Kaleido's B1
//!    crashed on these; here they are dropped before any state lookup);
//! 2. votes for the network's next height with forged credentials and signatures
//!    (they fail authentication: the sender loses score);
//! 3. random bytes on the vote, proposal, block and transaction topics.
//!
//! Each message waits for room in a peer's send queue (gossipsub drops what does
//! not fit), so what is reported as published did leave this peer. Publishing
//! stops early once no peer is left to publish to.
//!
//! A healthy network keeps committing and disconnects this peer once its score
//! falls below the graylist threshold. Deterministic for a given `--seed`.
//!
//! With `--sync-lie` it publishes nothing and instead lies to sync: it listens on
//! `--listen-addr`/`--port`, claims head 2⁶⁴−1 to every peer and answers every
//! blocks request with "unavailable", for `--lie-for` seconds. A lagging node that
//! always asked the highest announced head would never catch up.
//!
//! With `--tx-spam N` it publishes instead N transaction batches of 4,095
//! well-signed transfers from an unfunded account and one valid transfer from
//! `--spam-key` (nonces from `--spam-nonce`): a node that forwarded a batch for
//! its one good transaction made every node recover 4,096 senders for one fee.

use std::time::{Duration, Instant};

use actors::gossip::{
    BootnodeError, Command, GossipConfig, GossipError, GossipHandle, NetEvent, NetTopic,
    PublishRefused, SyncResponse, parse_bootnodes, swarm,
};
use actors::storage::Store;
use clap::Args;
use libp2p::identity::Keypair;
use libp2p::multiaddr::{Multiaddr, Protocol};
use spec::codec::{Credential, FsSignature, ProposalMsg, VoteMsg, WireMessage};
use spec::driver::Topic;
use spec::types::{MinerId, Step, Value};

use crate::config::NodeConfig;

/// Flags of `kalgo fuzzpeer`.
#[derive(Args, Debug)]
pub struct FuzzPeerArgs {
    /// Far-future votes and proposals to publish.
    #[arg(long, default_value_t = 2000)]
    pub far: u32,
    /// Forged votes for the next height.
    #[arg(long, default_value_t = 200)]
    pub forged: u32,
    /// Random-byte messages.
    #[arg(long, default_value_t = 2000)]
    pub garbage: u32,
    /// Seed of the message generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Publish nothing; claim head 2⁶⁴−1 and refuse every blocks request.
    #[arg(long)]
    pub sync_lie: bool,
    /// How long `--sync-lie` keeps lying, in seconds.
    #[arg(long, default_value_t = 600)]
    pub lie_for: u64,
    /// Publish nothing else; this many batches of 4,095 useless transactions
    /// and one valid one.
    #[arg(long, value_name = "BATCHES")]
    pub tx_spam: Option<u32>,
    /// `--tx-spam`: the funded key (32 bytes, hex) that signs each batch's valid
    /// transfer.
    #[arg(long, value_name = "HEX")]
    pub spam_key: Option<alloy_primitives::B256>,
    /// `--tx-spam`: the funded key's next nonce.
    #[arg(long, default_value_t = 0)]
    pub spam_nonce: u64,
    /// `--tx-spam`: the chain id to sign for.
    #[arg(long, default_value_t = 1337)]
    pub spam_chain_id: u64,
    /// `--tx-spam`: gas price of every transfer, in wei.
    #[arg(long, default_value_t = 10_000_000_000)]
    pub spam_gas_price: u128,
}

/// Why the fuzz peer stopped early.
#[derive(Debug, thiserror::Error)]
pub enum FuzzPeerError {
    /// The data directory's chain store could not be opened or read (a node
    /// running on it holds the lock: point `--datadir` at a copy).
    #[error("{0}")]
    Store(#[from] actors::execution::state::StorageError),
    /// The data directory has no genesis block.
    #[error("the data directory has no genesis: run `kalgo init` first")]
    NoGenesis,
    /// A `--bootnodes` entry is invalid.
    #[error("{0}")]
    Bootnode(#[from] BootnodeError),
    /// The tokio runtime could not be built (threads or file descriptors
    /// exhausted).
    #[error("{0}")]
    Runtime(#[source] std::io::Error),
    /// The network could not start.
    #[error("{0}")]
    Network(#[from] swarm::StartError),
    /// The gossip task stopped or its queue is full.
    #[error("{0}")]
    Gossip(#[from] GossipError),
    /// gossipsub refused a message for a reason retrying does not fix (too
    /// large, signing failed).
    #[error("publish: {0}")]
    Publish(#[source] libp2p::gossipsub::PublishError),
    /// No peer within the time allowed.
    #[error("no peer connected within {0:?}")]
    NoPeer(Duration),
    /// `--tx-spam` without `--spam-key`, or a key that is not a secp256k1 key.
    #[error("--tx-spam needs --spam-key, a valid secp256k1 secret key")]
    SpamKey,
    /// Signing a spam transfer failed.
    #[error("{0}")]
    Sign(#[from] crate::loadtest::sign::SignError),
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in out.iter_mut() {
            *b = self.next() as u8;
        }
        out
    }
    fn vec(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % max.max(1);
        (0..len).map(|_| self.next() as u8).collect()
    }
    fn credential(&mut self) -> Credential {
        Credential {
            output: self.bytes(),
            proof: self.bytes(),
        }
    }
    fn signature(&mut self) -> FsSignature {
        FsSignature {
            sub_key: self.bytes(),
            sub_key_sig: self.bytes(),
            sig: self.bytes(),
        }
    }
    fn vote(&mut self, height: u64) -> Vec<u8> {
        WireMessage::Vote(VoteMsg {
            height,
            round: 1 + (self.next() % 3) as u32,
            step: Step(2 + (self.next() % 4) as u32),
            value: Value(self.bytes()),
            voter: MinerId(self.bytes()),
            credential: self.credential(),
            signature: self.signature(),
        })
        .encode()
    }
    fn proposal(&mut self, height: u64) -> Vec<u8> {
        WireMessage::Proposal(ProposalMsg {
            height,
            round: 1,
            value: Value(self.bytes()),
            proposer: MinerId(self.bytes()),
            credential: self.credential(),
            seed: self.credential(),
            signature: self.signature(),
        })
        .encode()
    }
}

/// The three kinds of hostile message, published in this order.
#[derive(Clone, Copy, Debug)]
enum Kind {
    FarFuture,
    Forged,
    Garbage,
}

/// How long the fuzz peer keeps trying while its send queues are full.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(60);
/// The pause before retrying a message no peer's send queue took.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(20);

impl Rng {
    /// The `i`-th message of `kind`; `next_height` is the network's next height.
    fn message(&mut self, kind: Kind, i: u32, next_height: u64) -> (NetTopic, Vec<u8>) {
        let votes = NetTopic::Consensus(Topic::Votes);
        let proposals = NetTopic::Consensus(Topic::Proposals);
        match kind {
            Kind::FarFuture => {
                let h = 1_000_000_000 + u64::from(i);
                if i.is_multiple_of(2) {
                    (votes, self.vote(h))
                } else {
                    (proposals, self.proposal(h))
                }
            }
            Kind::Forged => (votes, self.vote(next_height)),
            Kind::Garbage => {
                let topics = [
                    votes,
                    proposals,
                    NetTopic::Consensus(Topic::Blocks),
                    NetTopic::Transactions,
                ];
                (topics[i as usize % topics.len()], self.vec(2048))
            }
        }
    }
}

/// Runs the fuzz peer against the network of `cfg`'s data directory (which must
/// hold the network's genesis: `kalgo init`) and reports what it published.
pub fn run(cfg: &NodeConfig, args: &FuzzPeerArgs) -> Result<String, FuzzPeerError> {
    let store = Store::open(&cfg.node.datadir.join("kalgo").join("chaindata.redb"))?;
    let genesis = store.canonical_hash(0)?.ok_or(FuzzPeerError::NoGenesis)?;
    drop(store);
    let bootnodes = parse_bootnodes(&cfg.p2p.bootnodes.join(","))?;
    // A liar must be reachable where the operator says (it is dialled); the
    // publishing peer dials out and needs no fixed port.
    let listen = match args.sync_lie {
        true => Multiaddr::from(cfg.p2p.listen_addr).with(Protocol::Tcp(cfg.p2p.port)),
        false => Multiaddr::empty()
            .with(Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST))
            .with(Protocol::Tcp(0)),
    };
    let net = GossipConfig {
        listen,
        bootnodes,
        max_peers: cfg.p2p.maxpeers,
        network_id: cfg.p2p.networkid,
        genesis: genesis.0,
        head: (0, genesis.0),
        discover: false,
        sync_lag: Duration::from_secs(3600),
        peer_count: None,
        metrics: None,
        gossip_rate: actors::gossip::rate::DEFAULT_GOSSIP_RATE,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(FuzzPeerError::Runtime)?;
    rt.block_on(async move {
        let (handle, mut events) = swarm::spawn(Keypair::generate_ed25519(), net)?;
        if args.sync_lie {
            return lie_to_sync(&handle, &mut events, Duration::from_secs(args.lie_for)).await;
        }
        // Drain (and drop) whatever the network sends us.
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let wait = Duration::from_secs(30);
        let start = Instant::now();
        let next_height = loop {
            let info = handle.info().await?;
            if let (false, Some(h)) = (info.peers.is_empty(), info.best_peer_head) {
                break h + 1;
            }
            if start.elapsed() > wait {
                return Err(FuzzPeerError::NoPeer(wait));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Let the subscriptions cross before publishing.
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Some(batches) = args.tx_spam {
            return spam_transactions(&handle, args, batches).await;
        }
        let mut rng = Rng(args.seed.max(1));
        let plan = [
            (Kind::FarFuture, args.far),
            (Kind::Forged, args.forged),
            (Kind::Garbage, args.garbage),
        ];
        let mut sent = [0u32; 3];
        let mut queue_full_waits = 0u64;
        let mut stopped = "every message was published";
        let deadline = Instant::now() + PUBLISH_DEADLINE;
        'plan: for (k, (kind, count)) in plan.into_iter().enumerate() {
            for i in 0..count {
                // A refused message is replaced by a fresh one of the same kind:
                // the same bytes would be a duplicate (ids are content hashes).
                loop {
                    let (topic, data) = rng.message(kind, i, next_height);
                    match handle.publish_acked(topic, data).await? {
                        Ok(()) => {
                            sent[k] += 1;
                            break;
                        }
                        Err(PublishRefused::NoPeers) => {
                            stopped = "stopped early: no peer left to publish to";
                            break 'plan;
                        }
                        Err(PublishRefused::Other(e)) => {
                            return Err(FuzzPeerError::Publish(e));
                        }
                        Err(PublishRefused::QueuesFull | PublishRefused::Duplicate) => {
                            if Instant::now() > deadline {
                                stopped = "stopped early: the send queues stayed full";
                                break 'plan;
                            }
                            queue_full_waits += 1;
                            tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let info = handle.info().await?;
        Ok(format!(
            "published {} messages: {}/{} far-future, {}/{} forged for height {next_height}, {}/{} random; {stopped}; paused {queue_full_waits} times for a full send queue; connected peers now: {}\n",
            sent.iter().sum::<u32>(),
            sent[0],
            args.far,
            sent[1],
            args.forged,
            sent[2],
            args.garbage,
            info.peers.len()
        ))
    })
}

/// `--sync-lie`: claims head 2⁶⁴−1 (the status every peer polls) and answers
/// every blocks or pool request with "unavailable" until `duration` has passed.
async fn lie_to_sync(
    handle: &GossipHandle,
    events: &mut tokio::sync::mpsc::Receiver<NetEvent>,
    duration: Duration,
) -> Result<String, FuzzPeerError> {
    handle.send(Command::LocalHead {
        number: u64::MAX,
        hash: [0xff; 32],
    })?;
    let deadline = tokio::time::Instant::now() + duration;
    let mut refused = 0u64;
    loop {
        let event = match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) | Err(_) => break,
        };
        let id = match event {
            NetEvent::ServeBlocks { id, .. } => {
                refused += 1;
                id
            }
            NetEvent::ServePool { id } => id,
            _ => continue,
        };
        handle
            .send_wait(Command::Serve {
                id,
                response: SyncResponse::Unavailable,
            })
            .await?;
    }
    Ok(format!(
        "claimed head {} for {duration:?}; refused {refused} blocks requests\n",
        u64::MAX
    ))
}

/// `--tx-spam`: `batches` batches of 4,095 transfers from an unfunded key
/// (signed once, the same in every batch) and one valid transfer from
/// `--spam-key`, each batch distinct by its valid transfer.
async fn spam_transactions(
    handle: &GossipHandle,
    args: &FuzzPeerArgs,
    batches: u32,
) -> Result<String, FuzzPeerError> {
    use crate::loadtest::sign::{Key, Signer, TransferParams, transfer};
    use actors::gossip::txbatch::{self, MAX_BATCH_TXS};
    let funded = args
        .spam_key
        .as_ref()
        .and_then(Key::from_bytes)
        .ok_or(FuzzPeerError::SpamKey)?;
    let unfunded = Key::from_bytes(&alloy_primitives::keccak256(args.seed.to_be_bytes()))
        .ok_or(FuzzPeerError::SpamKey)?;
    let signer = Signer::default();
    let params = TransferParams {
        chain_id: args.spam_chain_id,
        gas_price: args.spam_gas_price,
        to: alloy_primitives::Address::repeat_byte(0x5a),
        value: alloy_primitives::U256::from(1),
    };
    let mut useless = Vec::with_capacity(MAX_BATCH_TXS - 1);
    for nonce in 0..(MAX_BATCH_TXS as u64 - 1) {
        useless.push(transfer(&signer, &unfunded, nonce, &params)?.1);
    }
    let mut sent = 0u32;
    let mut stopped = "every batch was published";
    let deadline = Instant::now() + PUBLISH_DEADLINE;
    'batches: for i in 0..batches {
        let (_, valid) = transfer(&signer, &funded, args.spam_nonce + u64::from(i), &params)?;
        let mut txs = useless.clone();
        txs.push(valid);
        let batch = txbatch::encode(&txs);
        loop {
            match handle
                .publish_acked(NetTopic::Transactions, batch.clone())
                .await?
            {
                Ok(()) => {
                    sent += 1;
                    break;
                }
                Err(PublishRefused::NoPeers) => {
                    stopped = "stopped early: no peer left to publish to";
                    break 'batches;
                }
                Err(PublishRefused::Other(e)) => return Err(FuzzPeerError::Publish(e)),
                Err(PublishRefused::QueuesFull | PublishRefused::Duplicate) => {
                    if Instant::now() > deadline {
                        stopped = "stopped early: the send queues stayed full";
                        break 'batches;
                    }
                    tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let info = handle.info().await?;
    Ok(format!(
        "published {sent}/{batches} transaction batches of {MAX_BATCH_TXS} ({stopped}); connected peers now: {}\n",
        info.peers.len()
    ))
}
