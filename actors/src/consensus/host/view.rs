//! Read-only views of the host and its switches (status, RPC, metrics,
//! `miner_start` / `miner_stop`, the hidden test switches): nothing here acts
//! on the protocol.

use spec::driver::TestAttacks;
use spec::machine::Machine;
use spec::params::Params;
use spec::types::{Height, Hrs, MinerId};

use super::{HostCore, KalgoDriver};
use crate::consensus::committee::{Committee, Registry};
use crate::execution::header::KalgoHeader;

impl<R> std::fmt::Debug for HostCore<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostCore")
            .field("position", &self.driver.position())
            .finish_non_exhaustive()
    }
}

impl<R: Registry> HostCore<R> {
    /// The height being agreed on.
    pub fn height(&self) -> Height {
        self.driver.height()
    }

    /// The machine's position.
    pub fn position(&self) -> Option<Hrs> {
        self.driver.position()
    }

    /// The machine (read-only, for tests and status).
    pub fn machine(&self) -> &Machine {
        self.driver.machine()
    }

    /// The driver (read-only, for tests and status).
    pub fn driver(&self) -> &KalgoDriver {
        &self.driver
    }

    pub fn params(&self) -> &Params {
        self.driver.params()
    }

    /// The committee of the height being agreed on (from the parent state).
    pub fn committee(&self) -> &Committee {
        &self.committee
    }

    /// The head this height builds on.
    pub fn parent(&self) -> &KalgoHeader {
        &self.parent
    }

    /// The registry committees are read from.
    pub fn registry(&self) -> &R {
        &self.registry
    }

    /// The miner identity (stake owner) of this node's keys, if it has any.
    pub fn miner_id(&self) -> Option<MinerId> {
        self.driver.keys().map(|k| k.0.id())
    }

    /// The heights each loaded miner key can sign (`[start, end)`).
    pub fn key_spans(&self) -> Vec<(Height, Height)> {
        self.driver
            .keys()
            .map(|k| k.0.key_spans())
            .unwrap_or_default()
    }

    /// Whether this node holds a key that signs at the height in progress for
    /// the registration in force (it is a member of the committee).
    pub fn signs_at_current_height(&self) -> bool {
        self.driver.signs_at(self.height())
    }

    /// Whether mining was requested (`--mine`, `miner_start`), keys or not.
    pub fn mining_requested(&self) -> bool {
        self.driver.mining_requested()
    }

    /// Whether this node proposes and votes (it has keys and was not stopped).
    pub fn participating(&self) -> bool {
        self.driver.participating()
    }

    /// Starts (`true`) or stops proposing and voting from the next own message
    /// on. Stopped, the node signs nothing and follows the chain like a
    /// non-miner; its keys still advance at every commit (forward security).
    pub fn set_participating(&mut self, on: bool) {
        self.driver.set_participating(on);
    }

    /// **Test only** (the hidden `kalgo --test.*` switches, for the attack and
    /// fault tests): the driver's misbehaviour ([`TestAttacks`]), and with
    /// `junk_blocks` a flood of blocks no proposal names, for this height and
    /// the next, at every new height. Never on a real network.
    pub fn set_test_attacks(&mut self, attacks: TestAttacks, junk_blocks: bool) {
        self.driver.set_test_attacks(attacks);
        self.junk_blocks = junk_blocks;
    }

    /// Starts (`true`) or stops handing out equivocation proofs
    /// ([`super::Effect::EquivocationProof`]): `--miner.reportequivocation`.
    pub fn keep_equivocation_proofs(&mut self, on: bool) {
        self.driver.keep_equivocation_proofs(on);
    }

    /// The earliest pending deadline: a step timer or a deferred proposal.
    pub fn next_deadline(&self) -> Option<u64> {
        self.driver.next_deadline()
    }

    /// How many step timers are due at `now` (a deferred proposal request is
    /// not a step timer): what `kalgo_consensus_timeouts_total` counts.
    pub fn due_step_timers(&self, now: u64) -> u64 {
        self.driver.due_step_timers(now)
    }
}
