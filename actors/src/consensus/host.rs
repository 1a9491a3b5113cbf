//! The consensus host: spec's [`Driver`] with the I/O it needs — the registry
//! read from committed state, the miner's key files, the fsynced journal — as a
//! plain struct with no runtime (the consensus actor drives it; tests drive it
//! with a loop). It decides no protocol question: screening, pairing, voting,
//! abstention, timers and certificates are the driver's.
//!
//! Journal first (Kaleido §4.6): every driver effect list that starts with
//! [`DriverEffect::Persist`] is written by one fsynced [`JournalStore::commit`]
//! before any later effect is handed to the caller; if that write fails, none is.

use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use spec::codec::VoteMsg;
use spec::driver::book::Source;
use spec::driver::{
    BuildOrder, Driver, DriverError, Effect as DriverEffect, Event, Head, Inbound, Keyring,
    RealSuite, Resume,
};
use spec::keeper::Equivocation;
use spec::params::Params;
use spec::types::{Height, Round, Value};

use crate::consensus::blocks::{JUNK_PER_HEIGHT, junk_blocks};
pub use crate::consensus::blocks::{
    KalgoBlocks, block_claims, decode_block, encode_block, encode_block_parts,
};
pub use crate::consensus::keys::HostKeys;
pub use spec::driver::wire::{MAX_BLOCK_BYTES, Topic, WireError};

use crate::consensus::committee::{Committee, Registry, RegistryError};
use crate::consensus::keys::KeySource;
use crate::execution::{
    block::{Block, unix_now_secs},
    header::KalgoHeader,
    service::BuildRequest,
};
use crate::storage::journal::{JournalError, JournalStore};

/// What the host asks its caller to do.
#[derive(Clone, Debug)]
pub enum Effect {
    /// Publish on a topic.
    Broadcast(Topic, Vec<u8>),
    /// Ask execution to build a block; answer with [`HostCore::on_built`].
    Build {
        /// The height to build.
        height: Height,
        /// The round it is proposed in.
        round: Round,
        /// The block's attributes.
        request: BuildRequest,
    },
    /// Ask execution to fully validate; answer with [`HostCore::on_validated`].
    Validate(Box<Block>),
    /// Ask execution to commit the executed block with its certificate; answer
    /// with [`HostCore::on_committed`].
    Commit {
        /// Header hash of the certified block.
        hash: B256,
        /// Encoded certificate (`WireMessage::Certificate`).
        certificate: Vec<u8>,
        /// The round of the cert quorum (for logs).
        round: Round,
    },
    /// A voter signed two values in one (round, step): counted in the metrics and logged.
    Evidence(Equivocation),
    /// The two signed votes proving an equivocation, for the node's reporter
    /// to submit (only while proofs are kept).
    EquivocationProof(Box<[VoteMsg; 2]>),
}

/// Host failures that stop consensus.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The journal could not be made durable: voting must stop.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// No committee.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The driver stopped (a signing failure).
    #[error(transparent)]
    Driver(#[from] DriverError),
}

mod view;

/// The driver as the node runs it.
pub type KalgoDriver = Driver<KalgoBlocks, RealSuite, HostKeys>;

/// One verdict per inbound message (`Ok`: use and relay it).
pub type Verdicts = Vec<Result<(), WireError>>;

/// The consensus host of one node.
pub struct HostCore<R> {
    driver: KalgoDriver,
    registry: R,
    journal: JournalStore,
    committee: Committee,
    parent: KalgoHeader,
    /// Test only: see [`Self::set_test_attacks`].
    junk_blocks: bool,
    /// A fatal failure met where the caller cannot be told at once
    /// ([`Self::on_wire_batch`]); see [`Self::take_failure`].
    failure: Option<HostError>,
}

impl<R: Registry> HostCore<R> {
    /// Starts on the committed head `parent`: the driver resumes from the journal
    /// when it is for the next height on this parent. `keys` (a miner's) are
    /// advanced to the head first (forward security).
    pub fn start(
        params: Params,
        keys: Option<Box<dyn KeySource>>,
        registry: R,
        journal: JournalStore,
        parent: KalgoHeader,
        now: u64,
    ) -> Result<(Self, Vec<Effect>), HostError> {
        let height = parent.number() + 1;
        let committee = registry.committee(height, &parent)?;
        let mut host = HostCore {
            driver: Driver::new(params, RealSuite, keys.map(HostKeys)),
            registry,
            journal,
            committee,
            parent,
            junk_blocks: false,
            failure: None,
        };
        host.advance_keys();
        host.check_keys();
        let resume = Resume {
            journal: host.journal.read()?,
            own: host.journal.read_own()?,
        };
        let head = host.head()?;
        let effects = host.drive(now, Event::Start(head, resume))?.1;
        Ok((host, effects))
    }

    /// The driver's view of the committed head and the committee after it.
    fn head(&self) -> Result<Head, HostError> {
        let number = self.parent.number();
        let own_slots = self
            .journal
            .own_slots(number + 1)?
            .into_iter()
            .map(|m| (m.round, m.step, m.value))
            .collect();
        Ok(Head {
            parent: Value(self.parent.hash().0),
            number,
            roster: self.committee.roster(),
            own_slots,
        })
    }

    /// Feeds the driver, writes what it asks to make durable, then maps the
    /// rest to host effects. Returns the verdicts of a wire event.
    fn drive(
        &mut self,
        now: u64,
        event: Event<'_, Block>,
    ) -> Result<(Verdicts, Vec<Effect>), HostError> {
        let effects = self.driver.handle(now, event)?;
        let mut verdicts = Vec::new();
        let mut out = Vec::new();
        for effect in effects {
            match effect {
                DriverEffect::Persist(d) => self.journal.commit(&d)?,
                DriverEffect::Verdict { index, verdict } => {
                    if verdicts.len() <= index {
                        verdicts.resize_with(index + 1, || Ok(()));
                    }
                    verdicts[index] = verdict;
                }
                DriverEffect::Broadcast(topic, bytes) => out.push(Effect::Broadcast(topic, bytes)),
                DriverEffect::Build(order) => out.push(self.build_effect(order)),
                DriverEffect::Validate(block) => out.push(Effect::Validate(Box::new(block))),
                DriverEffect::Commit {
                    value,
                    round,
                    certificate,
                } => out.push(Effect::Commit {
                    hash: B256::from(value.0),
                    certificate,
                    round,
                }),
                DriverEffect::Evidence(e) => out.push(Effect::Evidence(e)),
                DriverEffect::EquivocationProof(p) => out.push(Effect::EquivocationProof(p)),
                DriverEffect::CannotCertify {
                    height,
                    round,
                    error,
                } => tracing::warn!(
                    height,
                    round,
                    error = %error,
                    "decided a block this node cannot certify (block or votes missing); catching up by sync"
                ),
                DriverEffect::Abstained { hrs, signed, asked } => tracing::warn!(
                    height = hrs.height,
                    round = hrs.round,
                    step = ?hrs.step,
                    signed = %B256::from(signed.0),
                    asked = %B256::from(asked.0),
                    "not signing: this node signed another value here before"
                ),
            }
        }
        Ok((verdicts, out))
    }

    fn build_effect(&self, order: BuildOrder) -> Effect {
        tracing::debug!(
            height = order.height,
            round = order.round,
            "assembly delay over"
        );
        Effect::Build {
            height: order.height,
            round: order.round,
            request: BuildRequest {
                seed: B256::from(order.seed),
                proposer: Address::from(order.proposer.0),
                coinbase: Address::from(order.coinbase),
                total_balance_of_miners: U256::from(order.total_stake),
                now_secs: unix_now_secs(),
                budget: Duration::from_millis(order.budget_ms),
            },
        }
    }

    /// Fires every timer due at `now`, and a deferred proposal request whose
    /// time has come.
    pub fn on_timer(&mut self, now: u64) -> Result<Vec<Effect>, HostError> {
        Ok(self.drive(now, Event::Tick)?.1)
    }

    /// A fatal failure met while handling network messages
    /// ([`Self::on_wire_batch`] cannot return one): the caller must stop
    /// consensus when this is `Some`. The effects of the failed step were dropped.
    pub fn take_failure(&mut self) -> Option<HostError> {
        self.failure.take()
    }

    /// One message from a topic, from an unnamed source. See [`Self::on_wire_from`].
    pub fn on_wire(
        &mut self,
        topic: Topic,
        bytes: &[u8],
        now: u64,
    ) -> (Result<(), WireError>, Vec<Effect>) {
        let (mut verdicts, effects) = self.on_wire_from(&[(topic, bytes, 0)], now);
        (verdicts.pop().unwrap_or(Ok(())), effects)
    }

    /// Messages from the network, all from an unnamed source. See [`Self::on_wire_from`].
    pub fn on_wire_batch(
        &mut self,
        msgs: &[(Topic, &[u8])],
        now: u64,
    ) -> (Vec<Result<(), WireError>>, Vec<Effect>) {
        let named: Vec<(Topic, &[u8], Source)> = msgs.iter().map(|(t, b)| (*t, *b, 0)).collect();
        self.on_wire_from(&named, now)
    }

    /// Messages from the network with their sources, screened by the driver in
    /// order. Returns a verdict per message (for gossip validation) and the effects.
    pub fn on_wire_from(
        &mut self,
        msgs: &[(Topic, &[u8], Source)],
        now: u64,
    ) -> (Vec<Result<(), WireError>>, Vec<Effect>) {
        let inbound: Vec<Inbound<'_>> = msgs
            .iter()
            .map(|(topic, bytes, source)| Inbound {
                topic: *topic,
                bytes,
                source: *source,
            })
            .collect();
        if self.failure.is_some() {
            // Consensus is stopping: act on nothing more.
            return (msgs.iter().map(|_| Ok(())).collect(), Vec::new());
        }
        match self.drive(now, Event::Wire(&inbound)) {
            Ok((mut verdicts, effects)) => {
                verdicts.resize_with(msgs.len(), || Ok(()));
                (verdicts, effects)
            }
            Err(e) => {
                tracing::error!(error = %e, "consensus host failed");
                self.failure.get_or_insert(e);
                (msgs.iter().map(|_| Ok(())).collect(), Vec::new())
            }
        }
    }

    /// Execution's answer to [`Effect::Validate`].
    pub fn on_validated(
        &mut self,
        hash: B256,
        valid: bool,
        now: u64,
    ) -> Result<Vec<Effect>, HostError> {
        let value = Value(hash.0);
        Ok(self.drive(now, Event::Validated { value, valid })?.1)
    }

    /// A block was committed (ours, or later one synced with its certificate):
    /// read the next committee, advance the keys, and start the next height.
    pub fn on_committed(
        &mut self,
        header: KalgoHeader,
        now: u64,
    ) -> Result<Vec<Effect>, HostError> {
        if header.number() < self.height() {
            return Ok(Vec::new());
        }
        let height = header.number() + 1;
        self.committee = self.registry.committee(height, &header)?;
        self.parent = header;
        self.advance_keys();
        self.check_keys();
        let head = self.head()?;
        let mut effects = self.drive(now, Event::Committed(head))?.1;
        if self.junk_blocks {
            effects.extend(
                junk_blocks(&self.parent, JUNK_PER_HEIGHT)
                    .into_iter()
                    .map(|b| Effect::Broadcast(Topic::Blocks, b)),
            );
        }
        Ok(effects)
    }

    /// Execution built the block asked for by [`Effect::Build`].
    pub fn on_built(
        &mut self,
        height: Height,
        round: Round,
        block: Block,
        now: u64,
    ) -> Result<Vec<Effect>, HostError> {
        Ok(self
            .drive(
                now,
                Event::Built {
                    height,
                    round,
                    block,
                },
            )?
            .1)
    }

    /// Forward security on every committed head; a failure (e.g. the key file
    /// could not be rewritten) is logged and mining continues with the keys in
    /// memory, whose past sub-keys are already erased.
    fn advance_keys(&mut self) {
        let head = self.parent.number();
        if let Some(k) = self.driver.keys_mut()
            && let Err(e) = k.0.advance(head)
        {
            tracing::error!(error = %e, head, "forward-secure key update failed");
        }
    }

    /// Logs, once per height, a miner that is registered but holds no matching key.
    fn check_keys(&self) {
        let Some(id) = self.miner_id() else {
            return;
        };
        if !self.driver.mining_requested() {
            return;
        }
        let height = self.parent.number() + 1;
        match self.committee.record(&id) {
            None => tracing::debug!(height, "not a registered miner at this height"),
            Some(rec)
                if self
                    .driver
                    .keys()
                    .and_then(|k| k.keys_for(height, &rec))
                    .is_none() =>
            {
                tracing::warn!(
                    height,
                    "registered miner, but no loaded key of the registration in force can sign here"
                )
            }
            Some(_) => {}
        }
    }
}
