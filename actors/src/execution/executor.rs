//! Transaction execution on revm over a [`StateOverlay`].
//!
//! [`TxExecutor`] owns one revm instance for a block: every transaction is executed
//! and its state diff committed into the overlay's [`crate::execution::state::ChangeSet`].

use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext,
    context::Evm,
    context::{
        BlockEnv, CfgEnv, TxEnv,
        result::{EVMError, ExecutionResult},
    },
    handler::{EthFrame, MainnetContext, instructions::EthInstructions},
    interpreter::interpreter::EthInterpreter,
};

use crate::execution::miner::contract::{KalgoPrecompiles, MinerContractConfig};
use crate::execution::state::{StateOverlay, StateReader, StorageError};

type Ctx<'a, S> = MainnetContext<StateOverlay<'a, S>>;
/// revm's mainnet EVM with kalgo's precompile set (Ethereum's plus the miner contract).
type KalgoEvm<'a, S> = Evm<
    Ctx<'a, S>,
    (),
    EthInstructions<EthInterpreter, Ctx<'a, S>>,
    KalgoPrecompiles,
    EthFrame<EthInterpreter>,
>;

/// An error from executing one transaction: invalid transaction or header, or storage.
pub type TxError = EVMError<StorageError>;

/// One revm instance executing the transactions of one block over an overlay.
pub struct TxExecutor<'a, S: StateReader + ?Sized> {
    evm: KalgoEvm<'a, S>,
}

impl<'a, S: StateReader + ?Sized> TxExecutor<'a, S> {
    /// An executor for a block with environment `block` under configuration `cfg`;
    /// `miner` enables the miner system contract (Kaleido §3.2).
    pub fn new(
        overlay: StateOverlay<'a, S>,
        cfg: CfgEnv,
        block: BlockEnv,
        miner: Option<MinerContractConfig>,
    ) -> Self {
        let spec = cfg.spec;
        let evm = Context::mainnet()
            .with_db(overlay)
            .with_cfg(cfg)
            .with_block(block)
            .build_mainnet()
            .with_precompiles(KalgoPrecompiles::new(spec, miner));
        Self { evm }
    }

    /// Executes one transaction and commits its changes to the overlay.
    ///
    /// An invalid transaction returns an error and leaves the overlay unchanged.
    pub fn execute(&mut self, tx: TxEnv) -> Result<ExecutionResult, TxError> {
        self.evm.transact_commit(tx)
    }

    /// The overlay with every change so far.
    pub fn overlay(&self) -> &StateOverlay<'a, S> {
        &self.evm.ctx.journaled_state.database
    }

    /// Mutable overlay (block rewards after the transactions).
    pub fn overlay_mut(&mut self) -> &mut StateOverlay<'a, S> {
        &mut self.evm.ctx.journaled_state.database
    }

    /// Ends the block, returning the overlay.
    pub fn into_overlay(self) -> StateOverlay<'a, S> {
        self.evm.ctx.journaled_state.database
    }
}
