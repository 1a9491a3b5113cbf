//! The network side of the actors: verdict rules, and two nodes' execution and
//! gossip actors over real swarms on 127.0.0.1 passing a transaction from one
//! pool to the other.

use std::time::Duration;

use actix::prelude::*;
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use libp2p::Multiaddr;
use libp2p::identity::Keypair;

use super::{PoolHas, tx_verdict, wire_verdict};
use crate::consensus::host::WireError;
use crate::execution::{
    block::init_genesis, chain_config::ChainConfig, genesis::Genesis, pool::PoolError,
    service::ExecutionService, service::ServiceError,
};
use crate::gossip::actor::{ConsensusInbound, GossipActor, Routes, SyncBlocks, SyncOutcome};
use crate::gossip::txbatch::TxVerdict;
use crate::gossip::{GossipConfig, GossipHandle, Verdict, swarm};
use crate::runtime::ExecutionActor;
use crate::runtime::SubmitRawTx;
use crate::storage::Store;

#[test]
fn verdicts_blame_only_invalid_data() {
    assert_eq!(wire_verdict(&Ok(())), Verdict::Accept);
    assert_eq!(wire_verdict(&Err(WireError::Duplicate)), Verdict::Ignore);
    assert_eq!(
        wire_verdict(&Err(WireError::OutOfWindow(9))),
        Verdict::Ignore
    );
    assert_eq!(wire_verdict(&Err(WireError::Buffered)), Verdict::Ignore);
    assert_eq!(wire_verdict(&Err(WireError::UnknownMiner)), Verdict::Reject);
    assert_eq!(wire_verdict(&Err(WireError::BadBlock)), Verdict::Reject);
    assert_eq!(tx_verdict(&Ok(B256::ZERO)), TxVerdict::Accepted);
    let pool = |e| Err(ServiceError::Pool(e));
    assert_eq!(
        tx_verdict(&pool(PoolError::BadSignature)),
        TxVerdict::Invalid
    );
    assert_eq!(
        tx_verdict(&pool(PoolError::Malformed("x".into()))),
        TxVerdict::Invalid
    );
    assert_eq!(
        tx_verdict(&pool(PoolError::BlobUnsupported)),
        TxVerdict::Invalid
    );
    assert_eq!(tx_verdict(&pool(PoolError::AlreadyKnown)), TxVerdict::Known);
    assert_eq!(
        tx_verdict(&pool(PoolError::NonceTooLow { account: 2, tx: 1 })),
        TxVerdict::Useless
    );
    assert_eq!(tx_verdict(&pool(PoolError::PoolFull)), TxVerdict::Useless);
}

pub(crate) const CHAIN: u64 = 4242;

fn signer() -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(7))
        .unwrap_or_else(|_| PrivateKeySigner::random())
}

pub(crate) fn genesis(funded: &[Address]) -> Genesis {
    let config = ChainConfig::new_chain(CHAIN);
    let alloc: Vec<String> = funded
        .iter()
        .map(|a| format!(r#""{a}": {{"balance": "1000000000000000000000"}}"#))
        .collect();
    let text = format!(
        r#"{{"config": {}, "gasLimit": "0x3c14dc0", "seed": "0x{}", "alloc": {{{}}}}}"#,
        serde_json::to_string(&config).unwrap_or_default(),
        "11".repeat(32),
        alloc.join(", "),
    );
    Genesis::from_json(&text).expect("genesis")
}

pub(crate) fn transfer(key: &PrivateKeySigner, nonce: u64) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: CHAIN,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 3_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0x42)),
        value: U256::from(1),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).expect("sign");
    let env: TxEnvelope = tx.into_signed(sig).into();
    env.encoded_2718()
}

/// Consensus stand-in: ignores every message.
struct NoConsensus;

impl Actor for NoConsensus {
    type Context = Context<Self>;
}

impl Handler<ConsensusInbound> for NoConsensus {
    type Result = MessageResult<ConsensusInbound>;
    fn handle(&mut self, msg: ConsensusInbound, _: &mut Self::Context) -> Self::Result {
        MessageResult(vec![Verdict::Ignore; msg.0.len()])
    }
}

impl Handler<SyncBlocks> for NoConsensus {
    type Result = MessageResult<SyncBlocks>;
    fn handle(&mut self, _: SyncBlocks, _: &mut Self::Context) -> Self::Result {
        MessageResult(SyncOutcome::default())
    }
}

/// `p`'s first listen address, once its swarm has bound one (at most 60 s).
async fn listen_addr(p: &Peer) -> Multiaddr {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let info = p.gossip.info().await.expect("info");
        if let Some(addr) = info.listen.first() {
            return addr.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the swarm of {} bound no listen address within 60 s",
            info.peer_id
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An actix system on a two-thread tokio runtime (the swarms need one).
pub(crate) fn system() -> actix::SystemRunner {
    actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// Submits a raw transaction to `p`'s pool, which must take it.
async fn submit(p: &Peer, raw: Vec<u8>) -> B256 {
    p.exec
        .send(SubmitRawTx(raw))
        .await
        .expect("mailbox")
        .expect("pooled")
}

/// Until subscriptions are known a publish reaches nobody: submits `key`'s
/// consecutive nonces from 0 to `from` (each pooled there, gossiped once)
/// until one reaches `to`'s pool; returns that nonce.
async fn first_arrival(from: &Peer, to: &Peer, key: &PrivateKeySigner) -> Option<u64> {
    for nonce in 0..150 {
        let hash = submit(from, transfer(key, nonce)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if to.exec.send(PoolHas(hash)).await.expect("mailbox") {
            return Some(nonce);
        }
    }
    None
}

/// Waits (`polls` × 50 ms at most) until `p`'s pool holds every one of `hashes`.
async fn pool_gets(p: &Peer, hashes: &[B256], polls: usize) -> bool {
    for _ in 0..polls {
        let mut all = true;
        for h in hashes {
            all &= p.exec.send(PoolHas(*h)).await.expect("mailbox");
        }
        if all {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

struct Peer {
    exec: Addr<ExecutionActor>,
    gossip: GossipHandle,
    _dir: tempfile::TempDir,
}

fn peer(g: &Genesis, bootnodes: Vec<Multiaddr>) -> Peer {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("chain.redb")).expect("store");
    init_genesis(&store, g).expect("genesis");
    let hash = store
        .canonical_hash(0)
        .expect("read")
        .expect("genesis hash");
    let svc = ExecutionService::new(store, g.config.clone()).expect("exec");
    let cfg = GossipConfig {
        listen: "/ip4/127.0.0.1/tcp/0".parse().expect("addr"),
        bootnodes,
        max_peers: 8,
        network_id: 1,
        genesis: hash.0,
        head: (0, hash.0),
        discover: false,
        sync_lag: Duration::from_secs(3),
        peer_count: None,
        metrics: None,
        gossip_rate: crate::gossip::rate::DEFAULT_GOSSIP_RATE,
    };
    let (gossip, events) = swarm::spawn(Keypair::generate_ed25519(), cfg).expect("swarm");
    let exec = ExecutionActor::new(svc).with_gossip(gossip.clone()).start();
    let stub = NoConsensus.start();
    let routes = Routes {
        consensus: stub.clone().recipient(),
        sync: stub.recipient(),
        txs: exec.clone().recipient(),
        blocks: exec.clone().recipient(),
        pool: exec.clone().recipient(),
    };
    GossipActor::new(gossip.clone(), events, routes).start();
    Peer {
        exec,
        gossip,
        _dir: dir,
    }
}

#[test]
fn a_transaction_submitted_to_one_node_reaches_the_others_pool() {
    let key = signer();
    let g = genesis(&[key.address()]);
    let sys = system();
    sys.block_on(async move {
        let a = peer(&g, vec![]);
        let b = peer(&g, vec![listen_addr(&a).await]);
        let nonce = first_arrival(&a, &b, &key)
            .await
            .expect("no transaction reached B's pool");
        // Once the path works, the next one arrives too.
        let hash = submit(&a, transfer(&key, nonce + 1)).await;
        assert!(
            pool_gets(&b, &[hash], 100).await,
            "the second transaction never reached B"
        );
        System::current().stop();
    });
}

/// Gossip sends a transaction once: one pooled while its node had no peers
/// reaches nobody that way. A newly connected peer asks for the pending ones
/// (`SyncRequest::Pool`) and publishes what its pool accepted, so its own
/// peers get them too.
#[test]
fn transactions_pooled_without_peers_reach_a_node_that_connects_and_its_peers() {
    let key = signer();
    let probe = PrivateKeySigner::from_bytes(&B256::repeat_byte(8))
        .unwrap_or_else(|_| PrivateKeySigner::random());
    let g = genesis(&[key.address(), probe.address()]);
    let sys = system();
    sys.block_on(async move {
        // B and C first (C dials B; no discovery): a probe from B reaching C shows
        // that B's publishes reach C.
        let b = peer(&g, vec![]);
        let b_addr = listen_addr(&b).await;
        let c = peer(&g, vec![b_addr.clone()]);
        let meshed = first_arrival(&b, &c, &probe).await;
        assert!(meshed.is_some(), "B's transactions never reached C");
        // A has no peers: its three transactions are pooled and reach nobody.
        let a = peer(&g, vec![]);
        let mut hashes = Vec::new();
        for nonce in 0..3 {
            hashes.push(submit(&a, transfer(&key, nonce)).await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!b.exec.send(PoolHas(hashes[0])).await.expect("mailbox"));
        // A meets B: B asks for A's pending transactions, pools them and
        // publishes them to C.
        a.gossip
            .send(crate::gossip::Command::Dial(b_addr))
            .expect("dial queued");
        assert!(
            pool_gets(&b, &hashes, 200).await,
            "B never got A's transactions"
        );
        assert!(
            pool_gets(&c, &hashes, 200).await,
            "C never got A's transactions from B"
        );
        System::current().stop();
    });
}
