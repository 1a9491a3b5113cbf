//! Transaction intake: many concurrent submissions, few messages to execution.
//!
//! `eth_sendRawTransaction` decodes and recovers each sender on the RPC threads
//! ([`RecoveredTx::from_raw`]); what is left, the pool's stateful checks, runs on
//! the [`ExecutionActor`], which also builds, validates and commits blocks. One
//! actor message per transaction costs a mailbox slot, a wake-up of the actor's
//! thread and a reply each, and makes a consensus request wait behind as many
//! messages as transactions are in flight. The intake instead queues submissions
//! and hands them over as one [`SubmitRecoveredTxs`] per batch: the first
//! submission goes at once (no added latency when the node is idle), and whatever
//! arrives while execution is busy with it goes in the next batch (group commit).

use actix::{Addr, MailboxError};
use alloy_primitives::B256;
use tokio::sync::{mpsc, oneshot};

use super::{ExecutionActor, SubmitRecoveredTx, SubmitRecoveredTxs};
use crate::execution::{pool::RecoveredTx, service::ServiceError};

/// Most transactions handed to execution in one message.
pub const MAX_BATCH: usize = 256;
/// Submissions queued before submitters wait (back-pressure to the RPC clients).
const QUEUE: usize = 4096;

/// What a submission answers: the pool's verdict, or why execution did not give one.
pub type Verdict = Result<Result<B256, ServiceError>, MailboxError>;

struct Pending {
    tx: SubmitRecoveredTx,
    reply: oneshot::Sender<Verdict>,
}

/// A cloneable handle on the intake task.
#[derive(Clone)]
pub struct TxIntake {
    queue: mpsc::Sender<Pending>,
}

impl TxIntake {
    /// Starts the intake task for `exec` (call inside the node's tokio runtime).
    pub fn start(exec: Addr<ExecutionActor>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(exec, rx));
        TxIntake { queue }
    }

    /// Submits one recovered transaction (`raw` is what gets gossiped) and waits
    /// for the pool's verdict.
    pub async fn submit(&self, tx: RecoveredTx, raw: Vec<u8>) -> Verdict {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            tx: SubmitRecoveredTx { tx, raw },
            reply,
        };
        // Either side gone means the node is shutting down: the actor is stopped.
        if self.queue.send(pending).await.is_err() {
            return Err(MailboxError::Closed);
        }
        answer.await.unwrap_or(Err(MailboxError::Closed))
    }
}

/// Hands queued submissions to execution, a batch at a time, until every
/// [`TxIntake`] handle is dropped.
async fn run(exec: Addr<ExecutionActor>, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (txs, replies): (Vec<_>, Vec<_>) = batch.drain(..).map(|p| (p.tx, p.reply)).unzip();
        match exec.send(SubmitRecoveredTxs(txs)).await {
            Ok(verdicts) => {
                for (reply, verdict) in replies.into_iter().zip(verdicts) {
                    // A submitter that stopped waiting (client gone) needs no answer.
                    let _ = reply.send(Ok(verdict));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix::Actor;
    use alloy_primitives::{B256, keccak256};
    use alloy_signer_local::PrivateKeySigner;

    use super::TxIntake;
    use crate::execution::{
        block::init_genesis,
        pool::{MAX_TX_BYTES, PoolError, RecoveredTx},
        service::{ExecutionService, ServiceError},
    };
    use crate::runtime::ExecutionActor;
    use crate::runtime::net::tests::{CHAIN, genesis, system, transfer};
    use crate::storage::Store;

    fn submission(key: &PrivateKeySigner, nonce: u64) -> (RecoveredTx, Vec<u8>) {
        let raw = transfer(key, nonce);
        let rec = RecoveredTx::from_raw(&raw, CHAIN, MAX_TX_BYTES).expect("recover");
        (rec, raw)
    }

    /// Eight senders submit 40 transfers each concurrently, then one repeats
    /// itself: every submission gets its own verdict, batched or not.
    #[test]
    fn concurrent_submissions_each_get_their_own_verdict() {
        system().block_on(submit_concurrently());
    }

    async fn submit_concurrently() {
        let keys: Vec<_> = (1..=8u8)
            .map(|i| PrivateKeySigner::from_bytes(&B256::repeat_byte(i)).expect("key"))
            .collect();
        let addresses: Vec<_> = keys.iter().map(|k| k.address()).collect();
        let g = genesis(&addresses);
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("chain.redb")).expect("store");
        init_genesis(&store, &g).expect("genesis");
        let svc = ExecutionService::new(store, g.config.clone()).expect("exec");
        let intake = TxIntake::start(ExecutionActor::new(svc).start());

        let mut tasks = tokio::task::JoinSet::new();
        for k in &keys {
            for nonce in 0..40 {
                let (tx, raw) = submission(k, nonce);
                let expected = keccak256(&raw);
                let intake = intake.clone();
                tasks.spawn(async move { (expected, intake.submit(tx, raw).await) });
            }
        }
        let mut accepted = 0;
        while let Some(joined) = tasks.join_next().await {
            let (expected, verdict) = joined.expect("task");
            assert_eq!(verdict.expect("mailbox").expect("pooled"), expected);
            accepted += 1;
        }
        assert_eq!(accepted, 8 * 40);

        let (again, raw) = submission(&keys[0], 39);
        let verdict = intake.submit(again, raw).await.expect("mailbox");
        assert!(
            matches!(verdict, Err(ServiceError::Pool(PoolError::AlreadyKnown))),
            "{verdict:?}"
        );
    }
}
