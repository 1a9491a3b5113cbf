//! The gossip actor: the actix side of the network. It reads the swarm task's
//! [`NetEvent`]s and routes them — consensus messages and synced blocks to the
//! consensus actor, transactions and block requests to execution — and sends the
//! verdicts and answers back to the swarm task.
//!
//! Inbound consensus traffic, synced blocks and transactions are handed over one
//! at a time and awaited (`ctx.wait`): while consensus works on a batch, no other
//! event is read, the event channel fills and the swarm task stops reading the
//! network (back-pressure). Block requests from peers are served concurrently
//! (the swarm task bounds them).

use actix::prelude::*;
use libp2p::PeerId;
use libp2p::futures::stream;
use libp2p::gossipsub::MessageId;
use tokio::sync::mpsc;

use super::catch_up::Served;
use super::codec::{SyncBlock, SyncResponse};
use super::txbatch::{RecoveryBudget, TxVerdict};
use super::{Command, GossipHandle, NetEvent, NetTopic, Verdict, txbatch};
use spec::driver::Topic;
use spec::driver::book::Source;

/// Consensus messages from the network, in arrival order; the answer is one
/// verdict per message.
#[derive(Message, Debug)]
#[rtype(result = "Vec<Verdict>")]
pub struct ConsensusInbound(pub Vec<(Topic, Vec<u8>, Source)>);

/// The driver's name for a peer: a hash of its id, so that bounded buffers can
/// give each peer its own share.
pub fn source_of(peer: &PeerId) -> Source {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    peer.hash(&mut h);
    h.finish()
}

/// Blocks with certificates from a peer, consecutive from this node's head + 1.
#[derive(Message, Debug)]
#[rtype(result = "SyncOutcome")]
pub struct SyncBlocks(pub Vec<SyncBlock>);

/// What became of synced blocks.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Blocks committed.
    pub committed: usize,
    /// A block or certificate did not verify: the peer served invalid data.
    pub invalid: bool,
}

/// Raw transactions from the network; the answer is one verdict per transaction.
#[derive(Message, Debug)]
#[rtype(result = "Admitted")]
pub struct RemoteTxs(pub Vec<Vec<u8>>);

/// What the pool made of [`RemoteTxs`]: one verdict per transaction, and the
/// transactions handed back (so the accepted ones can be relayed without a
/// copy made beforehand; empty if the recovery task died).
#[derive(Debug, Default)]
pub struct Admitted {
    /// One per transaction, in order.
    pub verdicts: Vec<TxVerdict>,
    /// The transactions, in order.
    pub raws: Vec<Vec<u8>>,
}

impl Admitted {
    /// The accepted transactions of positions `range`.
    pub fn accepted_in(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = &Vec<u8>> {
        self.raws
            .get(range.clone())
            .unwrap_or(&[])
            .iter()
            .zip(self.verdicts.get(range).unwrap_or(&[]))
            .filter(|(_, v)| **v == TxVerdict::Accepted)
            .map(|(raw, _)| raw)
    }

    /// Every accepted transaction, moved out.
    pub fn into_accepted(self) -> Vec<Vec<u8>> {
        self.raws
            .into_iter()
            .zip(self.verdicts)
            .filter(|(_, v)| *v == TxVerdict::Accepted)
            .map(|(raw, _)| raw)
            .collect()
    }
}

/// A peer's request for committed blocks with their certificates.
#[derive(Message, Debug)]
#[rtype(result = "SyncResponse")]
pub struct ReadBlocks {
    /// First block number.
    pub from: u64,
    /// How many at most.
    pub count: u32,
}

/// A peer's request for this node's pending transactions.
#[derive(Message, Debug)]
#[rtype(result = "SyncResponse")]
pub struct ReadPool;

/// The routes of the gossip actor.
pub struct Routes {
    /// Consensus messages.
    pub consensus: Recipient<ConsensusInbound>,
    /// Synced blocks.
    pub sync: Recipient<SyncBlocks>,
    /// Transactions.
    pub txs: Recipient<RemoteTxs>,
    /// Block requests.
    pub blocks: Recipient<ReadBlocks>,
    /// Pending-transaction requests.
    pub pool: Recipient<ReadPool>,
}

/// Routes swarm events to their actors and reports verdicts back (see [`Routes`]).
pub struct GossipActor {
    handle: GossipHandle,
    events: Option<mpsc::Receiver<NetEvent>>,
    routes: Routes,
    /// Each peer's budget of wasted sender recoveries.
    budget: RecoveryBudget,
}

impl GossipActor {
    /// Routes the events of `events` (from [`super::swarm::spawn`]) along `routes`.
    pub fn new(handle: GossipHandle, events: mpsc::Receiver<NetEvent>, routes: Routes) -> Self {
        Self {
            handle,
            events: Some(events),
            routes,
            budget: RecoveryBudget::default(),
        }
    }

    fn send(&self, cmd: Command) {
        if let Err(e) = self.handle.send(cmd) {
            tracing::warn!(error = %e, "gossip command dropped");
        }
    }

    fn report(&self, ids: Vec<(MessageId, PeerId)>, verdicts: Option<Vec<Verdict>>) {
        let verdicts = verdicts.unwrap_or_default();
        let report = ids
            .into_iter()
            .enumerate()
            .map(|(i, (id, peer))| {
                (
                    id,
                    peer,
                    verdicts.get(i).copied().unwrap_or(Verdict::Ignore),
                )
            })
            .collect();
        self.send(Command::Report(report));
    }
}

impl Actor for GossipActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::runtime::MAILBOX);
        if let Some(rx) = self.events.take() {
            let events = stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|ev| (ev, rx)) },
            );
            ctx.add_stream(events);
        }
    }
}

impl StreamHandler<NetEvent> for GossipActor {
    fn handle(&mut self, ev: NetEvent, ctx: &mut Self::Context) {
        match ev {
            NetEvent::Consensus(msgs) => {
                let mut ids = Vec::with_capacity(msgs.len());
                let mut payload = Vec::with_capacity(msgs.len());
                for m in msgs {
                    let topic = match m.topic {
                        NetTopic::Consensus(t) => t,
                        // Routed by topic in the swarm task; never mixed.
                        NetTopic::Transactions => continue,
                    };
                    payload.push((topic, m.data, source_of(&m.source)));
                    ids.push((m.id, m.source));
                }
                let fut = self.routes.consensus.send(ConsensusInbound(payload));
                ctx.wait(fut.into_actor(self).map(move |res, act, _| {
                    if let Err(e) = &res {
                        tracing::error!(error = %e, "consensus mailbox");
                    }
                    act.report(ids, res.ok());
                }));
            }
            NetEvent::Transactions(msgs) => {
                // Each message is a batch: a peer out of recovery budget has
                // its batches dropped unread, undecodable ones are rejected
                // here, the transactions of the others go to the pool together,
                // and each batch is judged by its transactions' verdicts.
                let now = std::time::Instant::now();
                let mut judged = Vec::with_capacity(msgs.len());
                let mut raws = Vec::new();
                for m in msgs {
                    if !self.budget.allows(&m.source, now) {
                        tracing::debug!(peer = %m.source, "transaction batch dropped: recovery budget spent");
                        self.report(vec![(m.id, m.source)], Some(vec![Verdict::Ignore]));
                        continue;
                    }
                    match txbatch::decode(&m.data) {
                        Ok(txs) => {
                            // Charged in full now, refunded for what was not
                            // wasted once judged.
                            self.budget.charge(m.source, txs.len(), now);
                            judged.push((m.id, m.source, txs.len()));
                            raws.extend(txs.into_iter().map(Vec::from));
                        }
                        Err(e) => {
                            tracing::debug!(peer = %m.source, error = %e, "bad transaction batch");
                            self.report(vec![(m.id, m.source)], Some(vec![Verdict::Reject]));
                        }
                    }
                }
                if judged.is_empty() {
                    return;
                }
                let fut = self.routes.txs.send(RemoteTxs(raws));
                ctx.wait(fut.into_actor(self).map(move |res, act, _| {
                    if let Err(e) = &res {
                        tracing::error!(error = %e, "execution mailbox");
                    }
                    let verdicts = res.ok().map(|admitted| {
                        let v = &admitted.verdicts;
                        let now = std::time::Instant::now();
                        let mut relay = Vec::new();
                        let mut at = 0;
                        let verdicts = judged
                            .iter()
                            .map(|(_, source, n)| {
                                let range = at..(at + n).min(v.len());
                                at += n;
                                let batch = v.get(range.clone()).unwrap_or(&[]);
                                let wasted = batch.iter().filter(|t| t.wasted()).count();
                                act.budget.refund(*source, n - wasted, now);
                                let j = txbatch::judge(batch);
                                if j.relay_accepted {
                                    relay.extend(admitted.accepted_in(range).cloned());
                                }
                                j.verdict
                            })
                            .collect::<Vec<_>>();
                        if !relay.is_empty() {
                            act.send(Command::PublishTxs(relay));
                        }
                        verdicts
                    });
                    let ids = judged
                        .into_iter()
                        .map(|(id, source, _)| (id, source))
                        .collect();
                    act.report(ids, verdicts);
                }));
            }
            NetEvent::Recent { peer, msgs } => {
                let n = msgs.len();
                let source = source_of(&peer);
                let msgs = msgs.into_iter().map(|(t, b)| (t, b, source)).collect();
                let fut = self.routes.consensus.send(ConsensusInbound(msgs));
                ctx.wait(fut.into_actor(self).map(move |res, act, _| match res {
                    Ok(verdicts) => {
                        let accepted = verdicts.iter().filter(|v| **v == Verdict::Accept).count();
                        let rejected = verdicts.iter().filter(|v| **v == Verdict::Reject).count();
                        tracing::debug!(%peer, messages = n, accepted, rejected, "recent messages from peer");
                        // Screened like gossip: a peer that answers with messages a
                        // gossip validator would reject is scored like a bad sync.
                        if rejected > 0 {
                            act.send(Command::SyncDone {
                                peer,
                                served: Served::Invalid,
                            });
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "consensus mailbox"),
                }));
            }
            NetEvent::SyncBlocks { peer, blocks } => {
                let fut = self.routes.sync.send(SyncBlocks(blocks));
                ctx.wait(fut.into_actor(self).map(move |res, act, _| {
                    let served = match res {
                        Ok(outcome) if outcome.invalid => Served::Invalid,
                        Ok(outcome) if outcome.committed > 0 => {
                            tracing::info!(%peer, blocks = outcome.committed, "synced");
                            Served::Progress
                        }
                        // Blocks of other heights (or ones consensus committed
                        // meanwhile): nothing gained from this peer.
                        Ok(_) => Served::NoProgress,
                        Err(e) => {
                            tracing::error!(error = %e, "consensus mailbox");
                            Served::Unjudged
                        }
                    };
                    act.send(Command::SyncDone { peer, served });
                }));
            }
            NetEvent::PeerPool { peer, batch } => {
                let raws: Vec<Vec<u8>> = match txbatch::decode(&batch) {
                    Ok(txs) => txs.into_iter().map(Vec::from).collect(),
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "bad pending transactions from peer");
                        return;
                    }
                };
                // Not awaited before the next event (unlike gossip): votes keep
                // flowing while up to a batch of transactions is admitted.
                let offered = raws.len();
                let fut = self.routes.txs.send(RemoteTxs(raws));
                ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
                    let admitted = match res {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::error!(error = %e, "execution mailbox");
                            return;
                        }
                    };
                    let invalid = admitted
                        .verdicts
                        .iter()
                        .filter(|v| **v == TxVerdict::Invalid)
                        .count();
                    let new = admitted.into_accepted();
                    if invalid > 0 {
                        tracing::warn!(%peer, invalid, "peer offered invalid transactions");
                    }
                    if !new.is_empty() {
                        tracing::debug!(%peer, offered, new = new.len(), "pending transactions from peer");
                        act.send(Command::PublishTxs(new));
                    }
                }));
            }
            NetEvent::ServePool { id } => {
                let fut = self.routes.pool.send(ReadPool);
                ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
                    let response = res.unwrap_or(SyncResponse::Unavailable);
                    act.send(Command::Serve { id, response });
                }));
            }
            NetEvent::ServeBlocks { id, from, count } => {
                let fut = self.routes.blocks.send(ReadBlocks { from, count });
                ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
                    let response = res.unwrap_or(SyncResponse::Unavailable);
                    act.send(Command::Serve { id, response });
                }));
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        tracing::error!("the gossip task stopped: the node is offline");
    }
}

/// Operator requests (`admin_*` JSON-RPC methods) answered by the gossip actor
/// from the swarm task's [`super::NetInfo`] or turned into [`Command`]s.
pub mod admin {
    use actix::prelude::*;
    use libp2p::{Multiaddr, PeerId};

    use super::GossipActor;
    use crate::gossip::{Command, GossipError, NetInfo, swarm::peer_of};

    /// Why an admin request failed.
    #[derive(Debug, thiserror::Error, PartialEq, Eq)]
    pub enum AdminError {
        /// The address does not end in `/p2p/<peer id>`.
        #[error("address {0} lacks /p2p/<peer id>")]
        NoPeerId(Multiaddr),
        /// The swarm task did not take the request.
        #[error(transparent)]
        Gossip(#[from] GossipError),
    }

    /// This node's peer id, listen addresses and peers.
    #[derive(Message, Debug)]
    #[rtype(result = "Result<NetInfo, AdminError>")]
    pub struct NodeInfo;

    /// Dial a peer (and keep redialling it like a bootnode).
    #[derive(Message, Debug)]
    #[rtype(result = "Result<(), AdminError>")]
    pub struct AddPeer(pub Multiaddr);

    /// Disconnect a peer and stop redialling it.
    #[derive(Message, Debug)]
    #[rtype(result = "Result<(), AdminError>")]
    pub struct RemovePeer(pub Multiaddr);

    /// Ban a peer until [`UnbanPeer`]: disconnect it and deny its connections,
    /// inbound and outbound (redials included).
    #[derive(Message, Debug)]
    #[rtype(result = "Result<(), AdminError>")]
    pub struct BanPeer(pub PeerId);

    /// Lift an operator ban.
    #[derive(Message, Debug)]
    #[rtype(result = "Result<(), AdminError>")]
    pub struct UnbanPeer(pub PeerId);

    impl Handler<BanPeer> for GossipActor {
        type Result = Result<(), AdminError>;
        fn handle(&mut self, msg: BanPeer, _: &mut Self::Context) -> Self::Result {
            Ok(self.handle.send(Command::Ban(msg.0))?)
        }
    }

    impl Handler<UnbanPeer> for GossipActor {
        type Result = Result<(), AdminError>;
        fn handle(&mut self, msg: UnbanPeer, _: &mut Self::Context) -> Self::Result {
            Ok(self.handle.send(Command::Unban(msg.0))?)
        }
    }

    impl Handler<NodeInfo> for GossipActor {
        type Result = ResponseFuture<Result<NetInfo, AdminError>>;
        fn handle(&mut self, _: NodeInfo, _: &mut Self::Context) -> Self::Result {
            let handle = self.handle.clone();
            Box::pin(async move { Ok(handle.info().await?) })
        }
    }

    impl Handler<AddPeer> for GossipActor {
        type Result = Result<(), AdminError>;
        fn handle(&mut self, msg: AddPeer, _: &mut Self::Context) -> Self::Result {
            if peer_of(&msg.0).is_none() {
                return Err(AdminError::NoPeerId(msg.0));
            }
            Ok(self.handle.send(Command::Dial(msg.0))?)
        }
    }

    impl Handler<RemovePeer> for GossipActor {
        type Result = Result<(), AdminError>;
        fn handle(&mut self, msg: RemovePeer, _: &mut Self::Context) -> Self::Result {
            let Some(peer) = peer_of(&msg.0) else {
                return Err(AdminError::NoPeerId(msg.0));
            };
            Ok(self.handle.send(Command::Disconnect(peer))?)
        }
    }
}
