//! The swarm task: the one owner of the libp2p swarm. It turns [`Command`]s into
//! swarm calls and swarm events into [`NetEvent`]s (module docs of
//! [`crate::gossip`]), polls peers' heads and drives catch-up sync
//! ([`SyncState`]), serves sync requests (the blocks themselves come from
//! execution through the gossip actor) and keeps bootnodes and known peers dialled.
//!
//! Back-pressure: at most [`OUTBOX`] events wait for the event channel; while
//! they wait, the swarm is not polled (commands still are, so own votes leave).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use libp2p::TransportError;
use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId, TopicHash};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify, noise, tcp, yamux};
use tokio::sync::mpsc;

use super::behaviour::{Behaviour, BehaviourError, BehaviourEvent, GRAYLIST, protocol_version};
use super::catch_up::{Served, SyncState, SyncTimers};
use super::codec::{
    MAX_PEER_ADDR_BYTES, MAX_PEER_ADDRS, MAX_RECENT, MAX_SYNC_BLOCKS, PeerStatus,
    SOFT_RESPONSE_BYTES, SyncRequest, SyncResponse,
};
use super::rate::{self, GossipRates, Intake, RequestRates};
use super::recent::Recent;
use super::txbatch;
use super::{
    COMMAND_QUEUE, Command, EVENT_QUEUE, GossipConfig, GossipHandle, InboundMsg, NetEvent, NetInfo,
    NetTopic, PublishRefused, Verdict,
};
use crate::metrics::Metrics;
use spec::driver::Topic;

/// Events waiting for the event channel before the swarm stops being polled.
pub const OUTBOX: usize = 4;
/// Gossip messages handed over in one batch at most.
pub const MAX_BATCH: usize = 512;
/// Transaction batches ([`txbatch`]) handed over at once at most.
pub const MAX_TX_MESSAGES: usize = 8;
/// Sync requests served at once; more are answered `Unavailable`.
pub const MAX_SERVING: usize = 8;
/// Sync requests of one peer served at once.
pub const MAX_SERVING_PER_PEER: usize = 2;
/// Known peers (from identify) remembered for redialling.
pub const MAX_KNOWN: usize = 128;
/// Consensus messages remembered while they wait for a verdict (to keep the
/// accepted ones in [`Recent`]).
pub const MAX_PENDING: usize = 8192;
const TICK: Duration = Duration::from_millis(250);
const STATUS_EVERY: Duration = Duration::from_secs(1);
const REDIAL_EVERY: Duration = Duration::from_secs(3);
const SYNC_BACKOFF: Duration = Duration::from_secs(2);
const SYNC_STALE: Duration = Duration::from_secs(60);
/// A claimed head not refreshed by a status answer for this long is ignored
/// (statuses are polled every [`STATUS_EVERY`]).
const CLAIM_TTL: Duration = Duration::from_secs(10);
const PEER_BAN: Duration = Duration::from_secs(300);
/// How long a request handed to the actors may wait for its answer.
const SERVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the swarm could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The noise handshake configuration could not be derived from the node key
    /// (a key type noise cannot use): check or regenerate the node key.
    #[error("transport: {0}")]
    Transport(#[from] noise::Error),
    /// Behaviour set-up.
    #[error(transparent)]
    Behaviour(#[from] BehaviourError),
    /// The listen address was refused: not a TCP address, or the port is taken or
    /// not allowed. Change `--listen-addr`/`--port` or stop the other process.
    #[error("cannot listen on {0}: {1}")]
    Listen(Multiaddr, #[source] TransportError<std::io::Error>),
}

/// The peer id at the end of a multiaddr (`/p2p/<id>`).
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last()? {
        Protocol::P2p(id) => Some(id),
        _ => None,
    }
}

/// Starts the swarm task on the current tokio runtime. Returns the handle to talk
/// to it and the receiver of its events.
pub fn spawn(
    key: Keypair,
    cfg: GossipConfig,
) -> Result<(GossipHandle, mpsc::Receiver<NetEvent>), StartError> {
    let peer_id = key.public().to_peer_id();
    let network_id = cfg.network_id;
    let genesis = cfg.genesis;
    let max_peers = cfg.max_peers;
    let behaviour = Behaviour::new(&key, network_id, &genesis, max_peers)?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|_| behaviour)
        .map_err(|e: std::convert::Infallible| -> StartError { match e {} })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    swarm
        .listen_on(cfg.listen.clone())
        .map_err(|e| StartError::Listen(cfg.listen.clone(), e))?;
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
    let now = Instant::now();
    let mut net = Net {
        swarm,
        topics: NetTopic::by_hash(),
        sync: SyncState::new(
            cfg.head.0,
            SyncTimers {
                lag: cfg.sync_lag,
                backoff: SYNC_BACKOFF,
                stale: SYNC_STALE,
                claim_ttl: CLAIM_TTL,
            },
        ),
        head: cfg.head,
        genesis,
        protocol: protocol_version(network_id, &genesis),
        bootnodes: cfg.bootnodes.clone(),
        discover: cfg.discover,
        max_peers,
        known: HashMap::new(),
        banned: HashMap::new(),
        outbox: VecDeque::new(),
        consensus_batch: Vec::new(),
        tx_batch: Vec::new(),
        tx_out: txbatch::Outgoing::default(),
        recent: Recent::default(),
        pending: HashMap::new(),
        requests: HashMap::new(),
        status_sent: HashMap::new(),
        serving: HashMap::new(),
        pool_asked: HashSet::new(),
        pool_served: HashSet::new(),
        rates: RequestRates::default(),
        gossip_rates: GossipRates::new(cfg.gossip_rate),
        metrics: cfg.metrics.clone(),
        peers_asked: HashMap::new(),
        next_serve: 0,
        last_redial: now,
        peer_count: cfg.peer_count.clone(),
        peer_addrs: HashMap::new(),
    };
    net.redial();
    tokio::spawn(net.run(cmd_rx, ev_tx));
    Ok((GossipHandle::new(cmd_tx, peer_id), ev_rx))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestKind {
    Status,
    Blocks,
    Recent,
    Peers,
    Pool,
}

struct Net {
    swarm: Swarm<Behaviour>,
    topics: HashMap<TopicHash, NetTopic>,
    sync: SyncState,
    head: (u64, [u8; 32]),
    genesis: [u8; 32],
    protocol: String,
    bootnodes: Vec<Multiaddr>,
    discover: bool,
    max_peers: u32,
    known: HashMap<PeerId, Multiaddr>,
    banned: HashMap<PeerId, Instant>,
    outbox: VecDeque<NetEvent>,
    consensus_batch: Vec<InboundMsg>,
    tx_batch: Vec<InboundMsg>,
    /// Own transactions waiting to be published as one batch.
    tx_out: txbatch::Outgoing,
    recent: Recent,
    pending: HashMap<MessageId, (Topic, Vec<u8>)>,
    requests: HashMap<OutboundRequestId, (PeerId, RequestKind)>,
    status_sent: HashMap<PeerId, Instant>,
    /// Requests handed to the actors to answer, with when they came: one whose
    /// answer never comes (a dropped command) is given up after [`SERVE_TIMEOUT`].
    serving: HashMap<u64, (ResponseChannel<SyncResponse>, Instant, PeerId)>,
    /// Connected peers asked for their pending transactions (once per connection,
    /// after their status showed the same genesis).
    pool_asked: HashSet<PeerId>,
    /// Connected peers whose pending-transaction request was taken (one each per
    /// connection: the answer costs this node an encoding of up to a MiB).
    pool_served: HashSet<PeerId>,
    /// Each peer's rates of served sync requests.
    rates: RequestRates,
    /// Each peer's rates of gossip messages, per topic.
    gossip_rates: GossipRates,
    /// Where messages dropped for their sender's rate are counted.
    metrics: Option<std::sync::Arc<Metrics>>,
    /// Connected peers with a `Peers` request outstanding, and its id: at most one
    /// each, so re-asking on every redial tick never piles requests onto a peer
    /// that answers slowly.
    peers_asked: HashMap<PeerId, OutboundRequestId>,
    next_serve: u64,
    last_redial: Instant,
    peer_count: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// Remote address of each connected peer (first connection) and whether we dialled.
    peer_addrs: HashMap<PeerId, (Multiaddr, bool)>,
}

impl Net {
    async fn run(mut self, mut cmds: mpsc::Receiver<Command>, events: mpsc::Sender<NetEvent>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tx_tick = tokio::time::interval(txbatch::FLUSH_AFTER / 2);
        tx_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let batched = !self.consensus_batch.is_empty() || !self.tx_batch.is_empty();
            tokio::select! {
                biased;
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                permit = events.reserve(), if !self.outbox.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(ev) = self.outbox.pop_front() {
                            permit.send(ev);
                        }
                    }
                    Err(_) => break,
                },
                ev = self.swarm.select_next_some(), if self.outbox.len() < OUTBOX => {
                    self.on_swarm_event(ev);
                }
                _ = std::future::ready(()), if batched && self.outbox.len() < OUTBOX => {
                    self.flush();
                }
                _ = tx_tick.tick(), if !self.tx_out.is_empty() => {
                    if let Some(batch) = self.tx_out.due(Instant::now()) {
                        self.publish(NetTopic::Transactions, batch);
                    }
                }
                _ = tick.tick() => self.on_tick(),
            }
        }
        tracing::debug!("gossip task stopped");
    }

    fn set_peer_count(&self, peers: usize) {
        if let Some(c) = &self.peer_count {
            c.store(peers as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn flush(&mut self) {
        if !self.consensus_batch.is_empty() {
            let batch = std::mem::take(&mut self.consensus_batch);
            self.outbox.push_back(NetEvent::Consensus(batch));
        }
        if !self.tx_batch.is_empty() {
            let batch = std::mem::take(&mut self.tx_batch);
            self.outbox.push_back(NetEvent::Transactions(batch));
        }
    }

    /// Publishes, logging what gossipsub refused (the node's own traffic).
    fn publish(&mut self, topic: NetTopic, data: Vec<u8>) {
        match self.try_publish(topic, data) {
            Ok(()) | Err(PublishRefused::Duplicate) => {}
            Err(PublishRefused::NoPeers) => {
                tracing::debug!(topic = topic.name(), "publish: no peers yet");
            }
            Err(e) => tracing::warn!(topic = topic.name(), error = %e, "publish failed"),
        }
    }

    fn try_publish(&mut self, topic: NetTopic, data: Vec<u8>) -> Result<(), PublishRefused> {
        let gs = &mut self.swarm.behaviour_mut().gossipsub;
        match gs.publish(topic.topic(), data) {
            Ok(_) => Ok(()),
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Err(PublishRefused::NoPeers),
            Err(gossipsub::PublishError::AllQueuesFull(_)) => Err(PublishRefused::QueuesFull),
            Err(gossipsub::PublishError::Duplicate) => Err(PublishRefused::Duplicate),
            Err(e) => Err(PublishRefused::Other(e)),
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish {
                topic: NetTopic::Transactions,
                data,
            } => {
                if let Some(batch) = self.tx_out.push(data, Instant::now()) {
                    self.publish(NetTopic::Transactions, batch);
                }
            }
            Command::Publish { topic, data } => {
                if let NetTopic::Consensus(t) = topic {
                    self.recent.push(t, data.clone());
                }
                self.publish(topic, data);
            }
            Command::PublishTxs(txs) => {
                let now = Instant::now();
                for raw in txs {
                    if let Some(batch) = self.tx_out.push(raw, now) {
                        self.publish(NetTopic::Transactions, batch);
                    }
                }
            }
            Command::PublishAcked { topic, data, reply } => {
                // Not batched and not kept for late joiners: the caller paces
                // itself by the answer (a dropped receiver is its loss).
                let _ = reply.send(self.try_publish(topic, data));
            }
            Command::Report(verdicts) => {
                for (id, source, verdict) in verdicts {
                    if let Some((topic, data)) = self.pending.remove(&id)
                        && verdict == Verdict::Accept
                    {
                        self.recent.push(topic, data);
                    }
                    let acceptance = match verdict {
                        Verdict::Accept => MessageAcceptance::Accept,
                        Verdict::Ignore => MessageAcceptance::Ignore,
                        Verdict::Reject => MessageAcceptance::Reject,
                    };
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(&id, &source, acceptance);
                    if verdict == Verdict::Reject {
                        self.check_score(source);
                    }
                }
            }
            Command::LocalHead { number, hash } => {
                if number >= self.head.0 {
                    self.head = (number, hash);
                }
                self.sync.on_local_head(number);
            }
            Command::SyncDone { peer, served } => {
                self.sync_done(peer, served, Instant::now());
                if served == Served::Progress
                    && self.sync.best_peer_head() <= Some(self.sync.local() + 1)
                {
                    // Caught up: the height in progress was gossiped while we synced.
                    self.request(peer, SyncRequest::Recent, RequestKind::Recent);
                }
                self.request_blocks();
            }
            Command::Dial(addr) => {
                if peer_of(&addr).is_some() && !self.bootnodes.contains(&addr) {
                    self.bootnodes.push(addr);
                    self.redial();
                }
            }
            Command::Info(reply) => {
                let me = *self.swarm.local_peer_id();
                let info = NetInfo {
                    peer_id: me,
                    listen: self
                        .swarm
                        .listeners()
                        .map(|a| a.clone().with(Protocol::P2p(me)))
                        .collect(),
                    peers: self.swarm.connected_peers().copied().collect(),
                    peer_addrs: self
                        .peer_addrs
                        .iter()
                        .map(|(p, (a, out))| (*p, a.clone(), *out))
                        .collect(),
                    banned: self.banned.keys().copied().collect(),
                    operator_banned: self
                        .swarm
                        .behaviour()
                        .blocked
                        .blocked_peers()
                        .iter()
                        .copied()
                        .collect(),
                    head: self.head.0,
                    best_peer_head: self.sync.best_peer_head(),
                };
                let _ = reply.send(info);
            }
            Command::Disconnect(peer) => {
                self.bootnodes.retain(|a| peer_of(a) != Some(peer));
                self.known.remove(&peer);
                if self.swarm.disconnect_peer_id(peer).is_ok() {
                    tracing::info!(%peer, "disconnecting peer on request");
                }
            }
            Command::Ban(peer) => {
                // Closes every connection to it and denies new ones (both ways).
                if self.swarm.behaviour_mut().blocked.block_peer(peer) {
                    tracing::info!(%peer, "peer banned by the operator");
                }
            }
            Command::Unban(peer) => {
                if self.swarm.behaviour_mut().blocked.unblock_peer(peer) {
                    tracing::info!(%peer, "operator ban lifted");
                    self.redial();
                }
            }
            Command::Serve { id, response } => {
                if let Some((channel, ..)) = self.serving.remove(&id) {
                    // A closed stream is the peer's loss; nothing to do.
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, response);
                }
            }
        }
    }

    /// Disconnects a peer whose score fell below the graylist threshold.
    fn check_score(&mut self, peer: PeerId) {
        let score = self.swarm.behaviour().gossipsub.peer_score(&peer);
        if score.is_some_and(|s| s < GRAYLIST) {
            self.ban(peer, "score below graylist");
        }
    }

    fn ban(&mut self, peer: PeerId, why: &str) {
        if self
            .banned
            .insert(peer, Instant::now() + PEER_BAN)
            .is_none()
        {
            tracing::warn!(%peer, why, "disconnecting peer");
        }
        self.known.remove(&peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    /// Books the outcome of a blocks request; a peer that served invalid data,
    /// or struck out by refusing or failing to serve what it claimed, is
    /// disconnected and scored down.
    fn sync_done(&mut self, peer: PeerId, served: Served, now: Instant) {
        if !self.sync.on_done(peer, served, now) {
            return;
        }
        let why = match served {
            Served::Invalid => "invalid sync blocks",
            _ => "claimed blocks it does not serve",
        };
        tracing::warn!(%peer, why, "sync: peer struck out");
        let gs = &mut self.swarm.behaviour_mut().gossipsub;
        gs.set_application_score(&peer, GRAYLIST * 2.0);
        self.ban(peer, why);
    }

    fn is_banned(&mut self, peer: &PeerId) -> bool {
        let now = Instant::now();
        self.banned.retain(|_, until| *until > now);
        self.banned.contains_key(peer)
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let due = self
                .status_sent
                .get(&peer)
                .is_none_or(|t| now.saturating_duration_since(*t) >= STATUS_EVERY);
            if due {
                self.request_status(peer);
            }
        }
        self.request_blocks();
        self.serving
            .retain(|_, (_, since, _)| now.saturating_duration_since(*since) < SERVE_TIMEOUT);
        if now.saturating_duration_since(self.last_redial) >= REDIAL_EVERY {
            self.last_redial = now;
            self.refresh_peer_lists();
            self.redial();
        }
    }

    /// With discovery on and room for more peers, asks every connected peer
    /// without an outstanding request for its peers again. A peer's list holds
    /// only the peers it has identified so far: one asked once, on connecting,
    /// may have answered before it met the rest of the network (a bootnode that
    /// a second joiner reaches a moment later), and those peers would stay
    /// unknown here for as long as the connection lasts.
    fn refresh_peer_lists(&mut self) {
        if !self.discover {
            return;
        }
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        if peers.len() >= self.max_peers as usize {
            return;
        }
        for peer in peers {
            self.ask_for_peers(peer);
        }
    }

    /// Sends `peer` a `Peers` request unless one to it is still outstanding.
    fn ask_for_peers(&mut self, peer: PeerId) {
        if self.peers_asked.contains_key(&peer) {
            return;
        }
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, SyncRequest::Peers);
        self.requests.insert(id, (peer, RequestKind::Peers));
        self.peers_asked.insert(peer, id);
    }

    /// Forgets an outbound request once it is answered or failed.
    fn take_request(&mut self, id: OutboundRequestId) -> Option<(PeerId, RequestKind)> {
        let (peer, kind) = self.requests.remove(&id)?;
        if kind == RequestKind::Peers && self.peers_asked.get(&peer) == Some(&id) {
            self.peers_asked.remove(&peer);
        }
        Some((peer, kind))
    }

    fn request(&mut self, peer: PeerId, req: SyncRequest, kind: RequestKind) {
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, req);
        self.requests.insert(id, (peer, kind));
    }

    fn request_status(&mut self, peer: PeerId) {
        self.status_sent.insert(peer, Instant::now());
        self.request(peer, SyncRequest::Status, RequestKind::Status);
    }

    fn request_blocks(&mut self) {
        if let Some(w) = self.sync.next_request(Instant::now()) {
            tracing::info!(peer = %w.peer, from = w.from, count = w.count, "sync: requesting blocks");
            let id = self.swarm.behaviour_mut().sync.send_request(
                &w.peer,
                SyncRequest::Blocks {
                    from: w.from,
                    count: w.count,
                },
            );
            self.requests.insert(id, (w.peer, RequestKind::Blocks));
        }
    }

    /// Dials bootnodes and (with discovery) known peers that are not connected.
    fn redial(&mut self) {
        let connected = self.swarm.connected_peers().count();
        if connected >= self.max_peers as usize {
            return;
        }
        let mut targets: Vec<Multiaddr> = self.bootnodes.clone();
        if self.discover {
            targets.extend(self.known.values().cloned());
        }
        let mut seen = HashSet::new();
        for addr in targets {
            let Some(peer) = peer_of(&addr) else { continue };
            if !seen.insert(peer)
                || peer == *self.swarm.local_peer_id()
                || self.swarm.is_connected(&peer)
                || self.is_banned(&peer)
                || self
                    .swarm
                    .behaviour()
                    .blocked
                    .blocked_peers()
                    .contains(&peer)
            {
                continue;
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::debug!(%addr, error = %e, "dial failed");
            }
        }
    }

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address.with(Protocol::P2p(*self.swarm.local_peer_id()));
                tracing::info!(address = %full, "listening");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                endpoint,
                ..
            } => {
                if self.is_banned(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if num_established.get() == 1 {
                    let addr = endpoint.get_remote_address().clone();
                    self.peer_addrs
                        .insert(peer_id, (addr, endpoint.is_dialer()));
                    let peers = self.swarm.connected_peers().count();
                    self.set_peer_count(peers);
                    tracing::info!(peer = %peer_id, peers, "peer connected");
                    self.request_status(peer_id);
                    self.request(peer_id, SyncRequest::Recent, RequestKind::Recent);
                    if self.discover {
                        self.ask_for_peers(peer_id);
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                let peers = self.swarm.connected_peers().count();
                self.set_peer_count(peers);
                self.peer_addrs.remove(&peer_id);
                tracing::info!(peer = %peer_id, peers, "peer disconnected");
                self.sync.on_disconnected(&peer_id);
                self.status_sent.remove(&peer_id);
                self.pool_asked.remove(&peer_id);
                self.pool_served.remove(&peer_id);
                self.peers_asked.remove(&peer_id);
                self.rates.forget(&peer_id);
                self.gossip_rates.forget(&peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => self.on_gossip(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => self.on_identify(e),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(e)) => self.on_sync(e),
            SwarmEvent::Behaviour(BehaviourEvent::Limits(e)) => match e {},
            SwarmEvent::Behaviour(BehaviourEvent::Blocked(e)) => match e {},
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, error = %error, "dial error");
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, e: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = e
        else {
            return;
        };
        let topic = self.topics.get(&message.topic).copied();
        let Some(topic) = topic.filter(|t| message.data.len() <= t.max_bytes()) else {
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    MessageAcceptance::Reject,
                );
            self.check_score(propagation_source);
            return;
        };
        let intake = self
            .gossip_rates
            .intake(propagation_source, topic, Instant::now());
        if intake != Intake::Take {
            if let Some(m) = &self.metrics {
                Metrics::add(&m.gossip_rate_limited, 1);
            }
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    MessageAcceptance::Ignore,
                );
            if intake == Intake::Cut {
                self.ban(propagation_source, "gossip rate");
            }
            return;
        }
        if let NetTopic::Consensus(t) = topic {
            if self.pending.len() >= MAX_PENDING {
                // Verdicts that never came (a dropped report): start afresh.
                tracing::debug!("forgetting unanswered gossip messages");
                self.pending.clear();
            }
            self.pending
                .insert(message_id.clone(), (t, message.data.clone()));
        }
        let msg = InboundMsg {
            id: message_id,
            source: propagation_source,
            topic,
            data: message.data,
        };
        let batch = match topic {
            NetTopic::Consensus(_) => &mut self.consensus_batch,
            NetTopic::Transactions => &mut self.tx_batch,
        };
        batch.push(msg);
        // Transaction messages are batches of up to a MiB each: hand them over a
        // few at a time.
        let limit = match topic {
            NetTopic::Consensus(_) => MAX_BATCH,
            NetTopic::Transactions => MAX_TX_MESSAGES,
        };
        if batch.len() >= limit {
            self.flush();
        }
    }

    fn on_identify(&mut self, e: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = e else {
            return;
        };
        if info.protocol_version != self.protocol {
            tracing::debug!(peer = %peer_id, theirs = %info.protocol_version, "other network");
            self.ban(peer_id, "other network or genesis");
            return;
        }
        if self.known.len() >= MAX_KNOWN && !self.known.contains_key(&peer_id) {
            return;
        }
        let dialable = info.listen_addrs.into_iter().find(|a| {
            a.iter()
                .any(|p| matches!(p, Protocol::Tcp(port) if port != 0))
                && !a.iter().any(|p| match p {
                    Protocol::Ip4(ip) => ip.is_unspecified(),
                    Protocol::Ip6(ip) => ip.is_unspecified(),
                    _ => false,
                })
        });
        if let Some(addr) = dialable {
            let addr = if peer_of(&addr).is_some() {
                addr
            } else {
                addr.with(Protocol::P2p(peer_id))
            };
            self.known.insert(peer_id, addr);
        }
    }

    fn on_sync(&mut self, e: request_response::Event<SyncRequest, SyncResponse>) {
        match e {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_sync_request(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    let Some((_, kind)) = self.take_request(request_id) else {
                        return;
                    };
                    self.on_sync_response(peer, kind, response);
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some((_, RequestKind::Blocks)) = self.take_request(request_id) {
                    tracing::debug!(%peer, %error, "sync request failed");
                    self.sync_done(peer, Served::NoProgress, Instant::now());
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "sync request from peer failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_sync_request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        if let Some(kind) = rate::Kind::of(&request)
            && !self.rates.allow(peer, kind, Instant::now())
        {
            tracing::debug!(%peer, ?kind, "sync request over the peer's rate");
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, SyncResponse::Unavailable);
            return;
        }
        let response = match request {
            SyncRequest::Status => SyncResponse::Status(PeerStatus {
                head: self.head.0,
                hash: self.head.1,
                genesis: self.genesis,
            }),
            SyncRequest::Blocks { from, count }
                if self.may_serve(&peer) && from >= 1 && from <= self.head.0 =>
            {
                tracing::debug!(%peer, from, count, "serving blocks");
                let count = count.min(MAX_SYNC_BLOCKS);
                self.serve_later(peer, channel, |id| NetEvent::ServeBlocks {
                    id,
                    from,
                    count,
                });
                return;
            }
            SyncRequest::Blocks { .. } => SyncResponse::Unavailable,
            SyncRequest::Pool if self.may_serve(&peer) && self.pool_served.insert(peer) => {
                self.serve_later(peer, channel, |id| NetEvent::ServePool { id });
                return;
            }
            SyncRequest::Pool => SyncResponse::Unavailable,
            SyncRequest::Recent => {
                SyncResponse::Recent(self.recent.snapshot(SOFT_RESPONSE_BYTES, MAX_RECENT))
            }
            SyncRequest::Peers => SyncResponse::Peers(self.peer_list(&peer)),
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response);
    }

    /// Hands a request to the actors: `event(id)` goes out, and the answer comes
    /// back as [`Command::Serve`] with the same id (or the request is dropped
    /// after [`SERVE_TIMEOUT`]).
    fn serve_later(
        &mut self,
        peer: PeerId,
        channel: ResponseChannel<SyncResponse>,
        event: impl FnOnce(u64) -> NetEvent,
    ) {
        let id = self.next_serve;
        self.next_serve = self.next_serve.wrapping_add(1);
        self.serving.insert(id, (channel, Instant::now(), peer));
        self.outbox.push_back(event(id));
    }

    /// Whether a blocks or pool request of `peer` may be handed to the actors
    /// now: fewer than [`MAX_SERVING`] in all, and fewer than
    /// [`MAX_SERVING_PER_PEER`] of its own (so one peer cannot take every slot).
    fn may_serve(&self, peer: &PeerId) -> bool {
        self.serving.len() < MAX_SERVING
            && self.serving.values().filter(|(.., p)| p == peer).count() < MAX_SERVING_PER_PEER
    }

    /// Dialable addresses of connected peers other than `to` (from identify).
    fn peer_list(&self, to: &PeerId) -> Vec<Vec<u8>> {
        self.known
            .iter()
            .filter(|(p, _)| *p != to && self.swarm.is_connected(p))
            .map(|(_, a)| a.to_vec())
            .filter(|a| a.len() <= MAX_PEER_ADDR_BYTES)
            .take(MAX_PEER_ADDRS)
            .collect()
    }

    /// A peer's list of its peers: well-formed `…/p2p/<id>` addresses of peers
    /// not yet known become redial targets (discovery on only).
    fn on_peer_list(&mut self, from: PeerId, addrs: Vec<Vec<u8>>) {
        let me = *self.swarm.local_peer_id();
        let mut added = 0;
        for bytes in addrs.into_iter().take(MAX_PEER_ADDRS) {
            let Ok(addr) = Multiaddr::try_from(bytes) else {
                continue;
            };
            let Some(peer) = peer_of(&addr) else { continue };
            if peer == me || peer == from || self.known.contains_key(&peer) {
                continue;
            }
            if self.known.len() >= MAX_KNOWN {
                break;
            }
            self.known.insert(peer, addr);
            added += 1;
        }
        if added > 0 {
            tracing::debug!(%from, added, "peers learned from a peer");
            self.redial();
        }
    }

    fn on_sync_response(&mut self, peer: PeerId, kind: RequestKind, response: SyncResponse) {
        let now = Instant::now();
        match (kind, response) {
            (RequestKind::Status, SyncResponse::Status(s)) => {
                if s.genesis != self.genesis {
                    self.ban(peer, "other genesis");
                    return;
                }
                self.sync.on_peer_head(peer, s.head, now);
                // Same chain: once per connection, ask for its pending transactions.
                if self.pool_asked.insert(peer) {
                    self.request(peer, SyncRequest::Pool, RequestKind::Pool);
                }
                self.request_blocks();
            }
            // A late answer to a request given up on: drop it.
            (RequestKind::Blocks, _) if !self.sync.is_in_flight(&peer) => {}
            (RequestKind::Blocks, SyncResponse::Blocks(blocks)) if !blocks.is_empty() => {
                self.outbox.push_back(NetEvent::SyncBlocks { peer, blocks });
            }
            (RequestKind::Recent, SyncResponse::Recent(msgs)) => {
                if !msgs.is_empty() {
                    self.outbox.push_back(NetEvent::Recent { peer, msgs });
                }
            }
            (RequestKind::Peers, SyncResponse::Peers(addrs)) => {
                if self.discover {
                    self.on_peer_list(peer, addrs);
                }
            }
            (RequestKind::Pool, SyncResponse::Pool(batch)) => {
                self.outbox.push_back(NetEvent::PeerPool { peer, batch });
            }
            (RequestKind::Pool, SyncResponse::Unavailable) => {}
            // It claimed a head it does not serve, or answered with nothing or
            // another kind of answer: a strike.
            (RequestKind::Blocks, _) => self.sync_done(peer, Served::NoProgress, now),
            (
                RequestKind::Status | RequestKind::Recent | RequestKind::Peers | RequestKind::Pool,
                _,
            ) => {
                tracing::debug!(%peer, ?kind, "request answered with something else");
            }
        }
    }
}
