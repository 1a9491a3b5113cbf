//! Transaction execution on revm over a [`StateOverlay`].
//!
//! [`TxExecutor`] owns one revm instance for a block: every transaction is executed
//! and its state diff committed into the overlay's [`crate::execution::state::ChangeSet`].

use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext,
    context::{
        BlockEnv, CfgEnv, TxEnv,
        result::{EVMError, ExecutionResult},
    },
    handler::{MainnetContext, MainnetEvm},
};

use crate::execution::state::{StateOverlay, StateReader, StorageError};

/// An error from executing one transaction: invalid transaction or header, or storage.
pub type TxError = EVMError<StorageError>;

/// One revm instance executing the transactions of one block over an overlay.
pub struct TxExecutor<'a, S: StateReader + ?Sized> {
    evm: MainnetEvm<MainnetContext<StateOverlay<'a, S>>>,
}

impl<'a, S: StateReader + ?Sized> TxExecutor<'a, S> {
    /// An executor for a block with environment `block` under configuration `cfg`.
    pub fn new(overlay: StateOverlay<'a, S>, cfg: CfgEnv, block: BlockEnv) -> Self {
        let evm = Context::mainnet()
            .with_db(overlay)
            .with_cfg(cfg)
            .with_block(block)
            .build_mainnet();
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
