//! What the struct logger ([`crate::execution::trace`]) and the call tracer
//! ([`crate::execution::call_tracer`]) share: the tracing error and geth's
//! words for a halted instruction.

use revm::interpreter::InstructionResult;

use crate::execution::state::StorageError;

/// Why a trace could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Reading state failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A transaction (an earlier one of the block, or the call) is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The transaction is not in the block given.
    #[error("transaction index {0} is not in the block")]
    NoSuchTransaction(usize),
    /// The trace is over the node's bound.
    #[error(
        "trace too large: more than {max_logs} entries (struct logs or call frames) or about {} MiB of JSON; use disableStack/disableStorage, leave enableMemory off, or set a lower `limit`",
        max_bytes / (1024 * 1024)
    )]
    TooLarge {
        /// The log count bound.
        max_logs: usize,
        /// The size bound.
        max_bytes: usize,
    },
}

/// geth's message for an instruction result that halts execution (`None` for
/// success and revert), shared by the struct logger and the call tracer.
pub(crate) fn halt_text(result: InstructionResult) -> Option<&'static str> {
    use InstructionResult as R;
    if !result.is_halt() {
        return None;
    }
    Some(match result {
        R::OutOfGas | R::MemoryOOG | R::MemoryLimitOOG | R::PrecompileOOG => "out of gas",
        R::InvalidOperandOOG | R::ReentrancySentryOOG => "out of gas",
        R::OpcodeNotFound | R::InvalidFEOpcode => "invalid opcode",
        R::InvalidJump => "invalid jump destination",
        R::StackUnderflow => "stack underflow",
        R::StackOverflow => "stack limit reached 1024 (1023)",
        R::StateChangeDuringStaticCall => "write protection",
        R::CallTooDeep => "max call depth exceeded",
        R::OutOfFunds => "insufficient balance for transfer",
        R::CreateCollision => "contract address collision",
        R::CreateContractSizeLimit => "max code size exceeded",
        R::CreateContractStartingWithEF => "invalid code: must not begin with 0xef",
        R::OutOfOffset => "return data out of bounds",
        R::PrecompileError => "precompiled contract failed",
        _ => return None,
    })
}
