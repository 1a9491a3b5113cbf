//! The actix actors of a node: one per resource, talking only by messages.
//!
//! - [`ExecutionActor`] owns the [`ExecutionService`] (store, pool, executed blocks);
//! - [`ConsensusActor`] owns the [`HostCore`] (machine, keys, journal, timers) and
//!   asks execution to build, validate and commit by message.
//!
//! Mailboxes are bounded (`set_mailbox_capacity`): senders await capacity, which is
//! the back-pressure. With a network ([`crate::gossip`]), consensus publishes its
//! broadcasts and announces each new head through a [`GossipHandle`], and
//! [`net`] holds the handlers for what the gossip actor routes in (messages,
//! synced blocks, transactions, block requests). Without one, broadcasts are
//! dropped and the node runs as a single miner.
//!
//! Runs inside `actix::System::with_tokio_rt(multi_thread)` (dependencies.md §4).

pub mod inspect;
pub mod intake;
pub mod net;

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use alloy_consensus::TxEnvelope;
use alloy_primitives::{Address, B256};

use crate::consensus::host::{Effect, HostCore};

/// Notified when consensus stops on a fatal error: the node process waits on it
/// (besides SIGINT/SIGTERM) so that it exits non-zero instead of running on
/// without consensus.
pub static FATAL: tokio::sync::Notify = tokio::sync::Notify::const_new();
use crate::consensus::committee::Registry;
use crate::execution::{
    block::Block,
    header::KalgoHeader,
    pool::{PoolContent, RecoveredTx},
    service::{BuildRequest, ExecutionService, ServiceError},
};
use crate::gossip::{GossipHandle, NetTopic};
use crate::metrics::Metrics;
use crate::storage::Head;
use spec::codec::WireMessage;
use spec::types::Height;

/// Mailbox bound of every actor.
pub const MAILBOX: usize = 1024;

/// The execution resource as an actor.
pub struct ExecutionActor {
    svc: ExecutionService,
    gossip: Option<GossipHandle>,
    metrics: Arc<Metrics>,
    /// The pool's content as last copied, until the pool or the head changes:
    /// any number of [`PoolSnapshot`] requests in between share one copy.
    pool_cache: Option<Arc<PoolContent>>,
    /// The pooled hashes, published every [`POOL_VIEW_EVERY`] when the pool
    /// changed: pending-transaction subscriptions and filters read this and
    /// never ask the actor (which also builds and validates blocks).
    pool_view: tokio::sync::watch::Sender<PoolHashes>,
    pool_dirty: bool,
}

/// Every pooled transaction's hash, as published by the execution actor.
pub type PoolHashes = Arc<Vec<B256>>;

/// How often the pooled hashes are republished when the pool changed.
pub const POOL_VIEW_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl ExecutionActor {
    /// Wraps a service.
    pub fn new(svc: ExecutionService) -> Self {
        Self {
            svc,
            gossip: None,
            metrics: Arc::default(),
            pool_cache: None,
            pool_view: tokio::sync::watch::Sender::new(Arc::default()),
            pool_dirty: true,
        }
    }

    /// A reader of the pooled hashes this actor publishes (see [`PoolHashes`]).
    pub fn pool_view(&self) -> tokio::sync::watch::Receiver<PoolHashes> {
        self.pool_view.subscribe()
    }

    /// Republishes the pooled hashes if the pool changed since the last time.
    fn publish_pool_view(&mut self) {
        if std::mem::take(&mut self.pool_dirty) {
            self.pool_view
                .send_replace(Arc::new(self.svc.pool_hashes()));
        }
    }

    /// Records pool size and block timings in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The pool changed (or the head did, which moves transactions between
    /// pending and queued): update the gauge, drop the cached copy.
    fn record_pool(&mut self) {
        Metrics::set(&self.metrics.pool_size, self.svc.pool_len() as u64);
        self.pool_cache = None;
        self.pool_dirty = true;
    }

    fn record_time(gauge: &std::sync::atomic::AtomicU64, since: Instant) {
        Metrics::set(
            gauge,
            u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX),
        );
    }

    /// Gossips locally submitted transactions through `gossip`.
    pub fn with_gossip(mut self, gossip: GossipHandle) -> Self {
        self.gossip = Some(gossip);
        self
    }
}

impl Actor for ExecutionActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.publish_pool_view();
        ctx.run_interval(POOL_VIEW_EVERY, |act, _| act.publish_pool_view());
    }
}

/// Build a block on the head.
#[derive(Message)]
#[rtype(result = "Result<Block, ServiceError>")]
pub struct Build(pub BuildRequest);

/// Fully validate a block on the head.
#[derive(Message)]
#[rtype(result = "Result<B256, ServiceError>")]
pub struct Validate {
    pub block: Box<Block>,
    /// Proposed in consensus, not yet certified: its timestamp is also checked
    /// against the clock. A synced block comes with its certificate.
    pub proposed: bool,
}

/// Commit an executed block with its certificate.
#[derive(Message)]
#[rtype(result = "Result<(Head, KalgoHeader, usize), ServiceError>")]
pub struct Commit {
    /// Header hash of a block this service built or validated.
    pub hash: B256,
    /// Encoded certificate (`WireMessage::Certificate`).
    pub certificate: Vec<u8>,
}

impl Handler<Build> for ExecutionActor {
    type Result = Result<Block, ServiceError>;
    fn handle(&mut self, msg: Build, _: &mut Self::Context) -> Self::Result {
        let t = Instant::now();
        let r = self.svc.build(&msg.0);
        Self::record_time(&self.metrics.block_exec_us, t);
        r
    }
}

impl Handler<Validate> for ExecutionActor {
    type Result = Result<B256, ServiceError>;
    fn handle(&mut self, msg: Validate, _: &mut Self::Context) -> Self::Result {
        let t = Instant::now();
        let r = if msg.proposed {
            self.svc.validate_proposed(&msg.block)
        } else {
            self.svc.validate(&msg.block)
        };
        Self::record_time(&self.metrics.block_exec_us, t);
        r
    }
}

impl Handler<Commit> for ExecutionActor {
    type Result = Result<(Head, KalgoHeader, usize), ServiceError>;
    fn handle(&mut self, msg: Commit, _: &mut Self::Context) -> Self::Result {
        let t = Instant::now();
        let head = self.svc.commit(msg.hash, &msg.certificate)?;
        Self::record_time(&self.metrics.block_commit_us, t);
        Metrics::set(&self.metrics.head, head.number);
        self.record_pool();
        let (_, header) = self.svc.head();
        let txs = self.svc.last_committed_txs();
        Ok((head, header.clone(), txs))
    }
}

/// Admit a raw (EIP-2718) transaction into the pool (`eth_sendRawTransaction`);
/// with a network, it is then gossiped.
#[derive(Message)]
#[rtype(result = "Result<B256, ServiceError>")]
pub struct SubmitRawTx(pub Vec<u8>);

/// A transaction decoded and sender-recovered by the caller
/// ([`RecoveredTx::from_raw`], run on the caller's thread so that the actor does
/// not spend its time on signature recovery), for [`SubmitRecoveredTxs`]; `raw`
/// is what gets gossiped.
pub struct SubmitRecoveredTx {
    /// The decoded transaction and its sender.
    pub tx: RecoveredTx,
    /// Its raw EIP-2718 bytes.
    pub raw: Vec<u8>,
}

/// Admit several recovered transactions in one message, in order; one verdict
/// each, in the same order ([`intake::TxIntake`] batches RPC submissions).
#[derive(Message)]
#[rtype(result = "Vec<Result<B256, ServiceError>>")]
pub struct SubmitRecoveredTxs(pub Vec<SubmitRecoveredTx>);

/// The next nonce of an address counting pooled transactions.
#[derive(Message)]
#[rtype(result = "Result<u64, ServiceError>")]
pub struct PendingNonce(pub Address);

/// A pooled transaction by hash, with its sender.
#[derive(Message)]
#[rtype(result = "Option<(TxEnvelope, Address)>")]
pub struct PooledTx(pub B256);

/// The pool's (pending, queued) counts (`txpool_status`,
/// `eth_getTxPoolPendingTransactionsCount`): cheap, no copy of the pool.
#[derive(Message)]
#[rtype(result = "Result<(usize, usize), ServiceError>")]
pub struct PoolCounts;

/// Every pooled transaction (a shared copy, made once per pool change).
#[derive(Message)]
#[rtype(result = "Result<Arc<PoolContent>, ServiceError>")]
pub struct PoolSnapshot;

impl ExecutionActor {
    /// Tells the network about a transaction this node just pooled (peers check
    /// it again on arrival).
    fn gossip_tx(&self, raw: Vec<u8>) {
        if let Some(g) = &self.gossip
            && let Err(e) = g.publish(NetTopic::Transactions, raw)
        {
            tracing::warn!(error = %e, "transaction not gossiped");
        }
    }
}

impl Handler<SubmitRawTx> for ExecutionActor {
    type Result = Result<B256, ServiceError>;
    fn handle(&mut self, msg: SubmitRawTx, _: &mut Self::Context) -> Self::Result {
        let hash = self.svc.add_raw_tx(&msg.0)?;
        self.record_pool();
        self.gossip_tx(msg.0);
        Ok(hash)
    }
}

impl Handler<SubmitRecoveredTxs> for ExecutionActor {
    type Result = Vec<Result<B256, ServiceError>>;
    fn handle(&mut self, msg: SubmitRecoveredTxs, _: &mut Self::Context) -> Self::Result {
        let verdicts: Vec<_> = msg
            .0
            .into_iter()
            .map(|SubmitRecoveredTx { tx, raw }| {
                let hash = self.svc.add_recovered_tx(tx)?;
                self.gossip_tx(raw);
                Ok(hash)
            })
            .collect();
        // A batch the pool refused whole changed nothing to record.
        if verdicts.iter().any(Result::is_ok) {
            self.record_pool();
        }
        verdicts
    }
}

impl Handler<PendingNonce> for ExecutionActor {
    type Result = Result<u64, ServiceError>;
    fn handle(&mut self, msg: PendingNonce, _: &mut Self::Context) -> Self::Result {
        self.svc.pending_nonce(&msg.0)
    }
}

impl Handler<PooledTx> for ExecutionActor {
    type Result = Option<(TxEnvelope, Address)>;
    fn handle(&mut self, msg: PooledTx, _: &mut Self::Context) -> Self::Result {
        self.svc.pooled(&msg.0)
    }
}

impl Handler<PoolCounts> for ExecutionActor {
    type Result = Result<(usize, usize), ServiceError>;
    fn handle(&mut self, _: PoolCounts, _: &mut Self::Context) -> Self::Result {
        self.svc.pool_counts()
    }
}

impl Handler<PoolSnapshot> for ExecutionActor {
    type Result = Result<Arc<PoolContent>, ServiceError>;
    fn handle(&mut self, _: PoolSnapshot, _: &mut Self::Context) -> Self::Result {
        if let Some(c) = &self.pool_cache {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new(self.svc.pool_content()?);
        Metrics::add(&self.metrics.pool_copies, 1);
        self.pool_cache = Some(Arc::clone(&c));
        Ok(c)
    }
}

/// The consensus host as an actor.
pub struct ConsensusActor<R: Registry + Unpin + 'static> {
    core: HostCore<R>,
    exec: Addr<ExecutionActor>,
    gossip: Option<GossipHandle>,
    epoch: Instant,
    timer: Option<SpawnHandle>,
    initial: Vec<Effect>,
    last_commit: Instant,
    metrics: Arc<Metrics>,
    /// Where equivocation proofs go (`--miner.reportequivocation`).
    proofs: Option<tokio::sync::mpsc::Sender<EquivocationProof>>,
}

/// Two wire-encoded votes one miner signed for different values at one
/// (height, round, step): the arguments of the miner contract's
/// `reportEquivocation`, checked by `spec::evidence`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EquivocationProof {
    /// The equivocating miner.
    pub voter: Address,
    /// The height of both votes.
    pub height: Height,
    /// The first vote (`WireMessage::Vote`).
    pub first: Vec<u8>,
    /// The conflicting vote.
    pub second: Vec<u8>,
}

impl<R: Registry + Unpin + 'static> ConsensusActor<R> {
    /// `core` was started at clock `epoch`, and returned `initial` effects.
    pub fn new(
        core: HostCore<R>,
        initial: Vec<Effect>,
        exec: Addr<ExecutionActor>,
        epoch: Instant,
    ) -> Self {
        Self {
            core,
            exec,
            gossip: None,
            epoch,
            timer: None,
            initial,
            last_commit: Instant::now(),
            metrics: Arc::default(),
            proofs: None,
        }
    }

    /// Hands every equivocation proof the driver finds to `sink` (bounded: a
    /// proof that finds it full is dropped and logged, consensus never waits).
    pub fn with_equivocation_proofs(
        mut self,
        sink: tokio::sync::mpsc::Sender<EquivocationProof>,
    ) -> Self {
        self.core.keep_equivocation_proofs(true);
        self.proofs = Some(sink);
        self
    }

    /// Records consensus progress and message counts in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Stores the machine's position in the gauges.
    fn record_position(&self) {
        if let Some(p) = self.core.position() {
            Metrics::set(&self.metrics.height, p.height);
            Metrics::set(&self.metrics.round, u64::from(p.round));
            Metrics::set(&self.metrics.step, u64::from(p.step.0));
        }
        let filter_ms = self.core.driver().filter_timeout_ms();
        Metrics::set(
            &self.metrics.filter_timeout_us,
            filter_ms.saturating_mul(1000),
        );
        Metrics::set(
            &self.metrics.suspended_miners,
            self.core.committee().suspended.len() as u64,
        );
        Metrics::set(
            &self.metrics.absent_miners,
            self.core.committee().absent.len() as u64,
        );
    }

    /// The metrics this actor writes.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Publishes broadcasts and announces heads through `gossip`.
    pub fn with_gossip(mut self, gossip: GossipHandle) -> Self {
        self.gossip = Some(gossip);
        self
    }

    /// A block was committed (by consensus here, or by sync): log it, tell the
    /// network the new head and start the next height.
    fn committed(
        &mut self,
        head: Head,
        header: KalgoHeader,
        txs: usize,
        round: spec::types::Round,
        how: &'static str,
        ctx: &mut Context<Self>,
    ) {
        let since = self.last_commit.elapsed();
        self.last_commit = Instant::now();
        Metrics::add(&self.metrics.blocks_committed, 1);
        tracing::info!(
            height = head.number,
            round,
            txs,
            hash = %head.hash,
            how,
            since_prev_ms = since.as_millis() as u64,
            "committed block"
        );
        if let Some(g) = &self.gossip
            && let Err(e) = g.local_head(head.number, head.hash.0)
        {
            tracing::warn!(error = %e, "head announcement dropped");
        }
        let now = self.now();
        let r = self.core.on_committed(header, now);
        self.after(r, ctx);
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn handle_effects(&mut self, effects: Vec<Effect>, ctx: &mut Context<Self>) {
        for effect in effects {
            match effect {
                Effect::Broadcast(topic, bytes) => {
                    tracing::trace!(topic = topic.name(), len = bytes.len(), "broadcast");
                    self.metrics.votes_sent_by_step.add_wire(topic, &bytes);
                    if let Some(g) = &self.gossip
                        && let Err(e) = g.publish(NetTopic::Consensus(topic), bytes)
                    {
                        tracing::warn!(topic = topic.name(), error = %e, "broadcast dropped");
                    }
                }
                Effect::Build {
                    height,
                    round,
                    request,
                } => {
                    self.exec
                        .send(Build(request))
                        .into_actor(self)
                        .map(move |res, act, ctx| match res {
                            Ok(Ok(block)) => {
                                tracing::debug!(
                                    height,
                                    round,
                                    hash = %block.header.hash(),
                                    txs = block.transactions.len(),
                                    "built block"
                                );
                                let now = act.now();
                                let r = act.core.on_built(height, round, block, now);
                                act.after(r, ctx);
                            }
                            Ok(Err(e)) => tracing::warn!(error = %e, "block build failed"),
                            Err(e) => tracing::error!(error = %e, "execution mailbox"),
                        })
                        .spawn(ctx);
                }
                Effect::Validate(block) => {
                    let hash = block.header.hash();
                    self.exec
                        .send(Validate {
                            block,
                            proposed: true,
                        })
                        .into_actor(self)
                        .map(move |res, act, ctx| {
                            let ok = matches!(res, Ok(Ok(_)));
                            if let Ok(Err(e)) = &res {
                                tracing::warn!(error = %e, "block invalid");
                            }
                            let now = act.now();
                            let r = act.core.on_validated(hash, ok, now);
                            act.after(r, ctx);
                        })
                        .spawn(ctx);
                }
                Effect::Commit {
                    hash,
                    certificate,
                    round,
                } => {
                    let height = self.core.height();
                    self.exec
                        .send(Commit { hash, certificate })
                        .into_actor(self)
                        .map(move |res, act, ctx| match res {
                            Ok(Ok((head, header, txs))) => {
                                // The height began at the previous commit (or the start).
                                act.metrics.observe_finality(act.last_commit.elapsed());
                                act.committed(head, header, txs, round, "consensus", ctx);
                            }
                            // Sync committed this height first: nothing lost.
                            Ok(Err(_)) if act.core.height() > height => {}
                            Ok(Err(e)) => tracing::error!(error = %e, "commit failed"),
                            Err(e) => tracing::error!(error = %e, "execution mailbox"),
                        })
                        .spawn(ctx);
                }
                Effect::Evidence(e) => {
                    Metrics::add(&self.metrics.equivocations, 1);
                    tracing::warn!(
                        voter = %Address::from(e.voter.0),
                        height = self.core.height(),
                        round = e.round,
                        step = e.step.0,
                        first = %B256::from(e.first.0),
                        second = %B256::from(e.second.0),
                        "equivocation evidence: a voter signed two different values"
                    );
                }
                Effect::EquivocationProof(votes) => {
                    let [a, b] = *votes;
                    let proof = EquivocationProof {
                        voter: Address::from(a.voter.0),
                        height: a.height,
                        first: WireMessage::Vote(a).encode(),
                        second: WireMessage::Vote(b).encode(),
                    };
                    if let Some(sink) = &self.proofs {
                        match sink.try_send(proof) {
                            Ok(()) => Metrics::add(&self.metrics.equivocation_proofs, 1),
                            Err(e) => tracing::warn!(
                                error = %e,
                                "equivocation proof dropped: the reporter is behind"
                            ),
                        }
                    }
                }
            }
        }
        self.record_position();
        self.schedule(ctx);
    }

    fn after<E: std::fmt::Display>(&mut self, r: Result<Vec<Effect>, E>, ctx: &mut Context<Self>) {
        match r {
            Ok(effects) => self.handle_effects(effects, ctx),
            Err(e) => {
                tracing::error!(error = %e, "consensus stopped");
                FATAL.notify_one();
                System::current().stop_with_code(1);
            }
        }
    }

    /// (Re)arms the one timer at the core's earliest deadline.
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        if let Some(deadline) = self.core.next_deadline() {
            let wait = deadline.saturating_sub(self.now());
            let handle = ctx.run_later(std::time::Duration::from_millis(wait), |act, ctx| {
                act.timer = None;
                let now = act.now();
                Metrics::add(&act.metrics.timeouts, act.core.due_step_timers(now));
                let r = act.core.on_timer(now);
                act.after(r, ctx);
            });
            self.timer = Some(handle);
        }
    }
}

impl<R: Registry + Unpin + 'static> Actor for ConsensusActor<R> {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        if let Some(g) = &self.gossip {
            let parent = self.core.parent();
            let _ = g.local_head(parent.number(), parent.hash().0);
        }
        let initial = std::mem::take(&mut self.initial);
        self.handle_effects(initial, ctx);
    }
}

/// `miner_start` (`true`) / `miner_stop` (`false`): whether this node proposes
/// and votes. Stopped, it keeps following and committing by gossip and sync.
/// The answer is whether the node participates now (false without miner keys).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "bool")]
pub struct SetMining(pub bool);

impl<R: Registry + Unpin + 'static> Handler<SetMining> for ConsensusActor<R> {
    type Result = bool;
    fn handle(&mut self, msg: SetMining, _: &mut Self::Context) -> bool {
        self.core.set_participating(msg.0);
        let on = self.core.participating();
        tracing::info!(requested = msg.0, participating = on, "mining toggled");
        on
    }
}
