//! `kalgo loadtest`: drives any Ethereum JSON-RPC endpoint (kalgo's or another
//! client's) with signed transfers from many senders, at a target rate or flat out,
//! and reports submitted/s, confirmed/s and the latency from submission to the block
//! that includes the transaction (p50/p90/p99).
//!
//! - [`sign`]: sender keys and signed transfers (one dedicated signing thread);
//! - [`client`]: JSON-RPC over HTTP/1.1 keep-alive with batches;
//! - [`stats`]: percentiles and the report.
//!
//! Flow: read chain id, gas price and nonces; fund the senders from a funded key (by
//! default the first account of the well-known development mnemonic, which `kalgo
//! --dev` prefunds); then a signing thread produces transfers round-robin over the
//! senders, keeping at most `--window` unconfirmed transactions per sender (the
//! pool's per-sender limit), a dispatcher submits them in `eth_sendRawTransaction`
//! batches over `--connections` concurrent requests, and a tracker polls new blocks
//! and matches their transaction hashes to submission times. A refused transaction
//! makes its sender sign again from that nonce, so one refusal does not leave the
//! sender stuck behind a nonce gap.

pub mod client;
pub mod sign;
pub mod stats;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes, U256};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore, mpsc};

use client::{ClientError, RpcClient, quantity};
use sign::{Key, SignError, Signer, TransferParams, sender_key, transfer};
use stats::{NodeCpu, Report};

use crate::metrics::process::cpu_seconds_of;

/// The first account of the "test test … junk" development mnemonic (public
/// knowledge; `kalgo --dev` prefunds it). Never use it on a real chain.
pub const DEV_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// Funds each sender receives (10 ether: 200k transfers at 2 gwei).
const SENDER_FUNDS: u128 = 10 * 1_000_000_000_000_000_000;

/// `kalgo loadtest` options.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadTestArgs {
    /// JSON-RPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    pub rpc: String,
    /// Number of senders.
    #[arg(long, default_value_t = 200)]
    pub senders: usize,
    /// Target transactions per second (0: as fast as the endpoint takes them).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Seconds of submitting.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Seconds to wait for the last confirmations after submitting stops.
    #[arg(long, default_value_t = 30)]
    pub settle: u64,
    /// Hex private key of a funded account that funds the senders (default: the
    /// first development account, prefunded by `kalgo --dev`).
    #[arg(long = "funder-key")]
    pub funder_key: Option<String>,
    /// Transactions per `eth_sendRawTransaction` batch.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Concurrent batch requests.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Most unconfirmed transactions per sender.
    #[arg(long, default_value_t = 64)]
    pub window: u32,
    /// A process whose CPU time the report divides by the confirmed transfers
    /// (Linux: read from `/proc/<PID>/stat` when submitting starts and when the
    /// run ends; repeat for several nodes on this machine).
    #[arg(long = "node-pid", value_name = "PID")]
    pub node_pids: Vec<u32>,
    /// Only sign N transfers on one thread, report the rate and exit (no endpoint).
    #[arg(long = "sign-only", value_name = "N")]
    pub sign_only: Option<u64>,
}

/// Why a load test failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadTestError {
    /// Endpoint trouble.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Key or signing trouble.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// Bad option.
    #[error("{0}")]
    Usage(String),
    /// The node refused a funding transfer (the funder's balance, nonce or the
    /// pool's limits; its message says which).
    #[error("funding the senders: {0}")]
    FundingRefused(#[source] ClientError),
    /// The funding transfers were not included within 120 s: is the chain
    /// committing blocks?
    #[error("funding the senders: funding transfers were not included within 120 s")]
    FundingTimeout,
    /// The tokio runtime could not be built (threads or file descriptors
    /// exhausted).
    #[error("tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The submission semaphore was closed (a bug).
    #[error("{0}")]
    Semaphore(#[from] tokio::sync::AcquireError),
    /// The signing thread panicked (a bug: see the panic message above).
    #[error("the signing thread panicked")]
    SignerPanicked,
}

/// Runs the load test (or the signing benchmark) and returns the report text.
pub fn run(args: &LoadTestArgs) -> Result<String, LoadTestError> {
    if let Some(n) = args.sign_only {
        return sign_only(n);
    }
    if args.senders == 0 || args.batch == 0 || args.connections == 0 || args.window == 0 {
        return Err(LoadTestError::Usage(
            "--senders, --batch, --connections and --window must be at least 1".into(),
        ));
    }
    if let Some(pid) = args
        .node_pids
        .iter()
        .find(|p| cpu_seconds_of(**p).is_none())
    {
        return Err(LoadTestError::Usage(format!(
            "--node-pid {pid}: no such process whose CPU time can be read (/proc/{pid}/stat)"
        )));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(LoadTestError::Runtime)?;
    rt.block_on(drive(args.clone()))
}

/// Signs `n` transfers on this thread and reports the rate.
fn sign_only(n: u64) -> Result<String, LoadTestError> {
    let keys: Vec<Key> = (0..16).map(sender_key).collect::<Result<_, _>>()?;
    let signer = Signer::default();
    let p = TransferParams {
        chain_id: 1337,
        gas_price: 2_000_000_000,
        to: Address::repeat_byte(0x42),
        value: U256::from(1),
    };
    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..n {
        let key = &keys[(i % keys.len() as u64) as usize];
        let (_, raw) = transfer(&signer, key, i / keys.len() as u64, &p)?;
        bytes += raw.len();
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(format!(
        "signed {n} transfers in {secs:.2} s on one thread: {:.0} tx/s ({bytes} bytes)",
        n as f64 / secs.max(1e-9)
    ))
}

fn parse_key(hex: &str) -> Result<Key, LoadTestError> {
    let h = hex.strip_prefix("0x").unwrap_or(hex);
    let b: B256 = h
        .parse()
        .map_err(|_| LoadTestError::Usage("--funder-key: expected 32 hex bytes".into()))?;
    Key::from_bytes(&b)
        .ok_or_else(|| LoadTestError::Usage("--funder-key: not a valid secp256k1 key".into()))
}

fn addr_json(a: &Address) -> Value {
    json!(format!("{a:#x}"))
}

/// Reads the pending nonces of `addrs` in batches.
async fn nonces(c: &RpcClient, addrs: &[Address]) -> Result<Vec<u64>, LoadTestError> {
    let mut out = Vec::with_capacity(addrs.len());
    for chunk in addrs.chunks(100) {
        let calls: Vec<(&str, Value)> = chunk
            .iter()
            .map(|a| ("eth_getTransactionCount", json!([addr_json(a), "pending"])))
            .collect();
        for r in c.batch(&calls).await? {
            out.push(u64::try_from(quantity(&r?)?).unwrap_or(u64::MAX));
        }
    }
    Ok(out)
}

async fn balances(c: &RpcClient, addrs: &[Address]) -> Result<Vec<u128>, LoadTestError> {
    let mut out = Vec::with_capacity(addrs.len());
    for chunk in addrs.chunks(100) {
        let calls: Vec<(&str, Value)> = chunk
            .iter()
            .map(|a| ("eth_getBalance", json!([addr_json(a), "latest"])))
            .collect();
        for r in c.batch(&calls).await? {
            out.push(quantity(&r?)?);
        }
    }
    Ok(out)
}

async fn send_raw_batch(
    c: &RpcClient,
    raws: &[Bytes],
) -> Result<Vec<Result<Value, ClientError>>, ClientError> {
    let calls: Vec<(&str, Value)> = raws
        .iter()
        .map(|r| ("eth_sendRawTransaction", json!([format!("{r}")])))
        .collect();
    c.batch(&calls).await
}

/// Tops every sender up to [`SENDER_FUNDS`] from the funder and waits until the
/// endpoint shows the balances.
async fn fund(
    c: &RpcClient,
    funder: &Key,
    senders: &[Address],
    base: TransferParams,
) -> Result<(), LoadTestError> {
    let have = balances(c, senders).await?;
    let needy: Vec<Address> = senders
        .iter()
        .zip(&have)
        .filter(|(_, b)| **b < SENDER_FUNDS / 2)
        .map(|(a, _)| *a)
        .collect();
    if needy.is_empty() {
        return Ok(());
    }
    let mut nonce = nonces(c, &[funder.address()]).await?[0];
    let mut raws = Vec::new();
    let signer = Signer::default();
    for to in &needy {
        let p = TransferParams {
            to: *to,
            value: U256::from(SENDER_FUNDS),
            ..base
        };
        raws.push(transfer(&signer, funder, nonce, &p)?.1);
        nonce += 1;
    }
    // The funder's own per-sender pool limit: send in slices and wait in between.
    for slice in raws.chunks(32) {
        for r in send_raw_batch(c, slice).await? {
            r.map_err(LoadTestError::FundingRefused)?;
        }
        let target = nonce.min(nonces(c, &[funder.address()]).await?[0]);
        wait_for_nonce(c, funder.address(), target).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let have = balances(c, &needy).await?;
        if have.iter().all(|b| *b >= SENDER_FUNDS / 2) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(LoadTestError::FundingTimeout);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `who`'s latest (mined) nonce reaches `target`.
async fn wait_for_nonce(c: &RpcClient, who: Address, target: u64) -> Result<(), LoadTestError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = c
            .call(
                "eth_getTransactionCount",
                json!([addr_json(&who), "latest"]),
            )
            .await?;
        if u64::try_from(quantity(&r)?).unwrap_or(u64::MAX) >= target {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(LoadTestError::FundingTimeout);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One signed transfer on its way.
struct Signed {
    sender: usize,
    nonce: u64,
    hash: B256,
    raw: Bytes,
}

/// A refused transaction: its sender must sign again from `nonce` (signatures are
/// deterministic, so re-signed transactions that were already accepted come back
/// as "already known" and are not counted twice).
type Rewind = (usize, u64);

/// Shared bookkeeping between the dispatcher and the tracker.
struct Ledger {
    /// Hash → (submitted at, sender index) for unconfirmed transactions.
    pending: HashMap<B256, (Instant, usize)>,
    report: Report,
    refusals: HashMap<String, u64>,
    first_submit: Option<Instant>,
    last_confirm: Option<Instant>,
}

async fn drive(args: LoadTestArgs) -> Result<String, LoadTestError> {
    let c = Arc::new(RpcClient::new(&args.rpc)?);
    let chain_id = u64::try_from(quantity(&c.call("eth_chainId", json!([])).await?)?)
        .map_err(|_| ClientError::Malformed("chain id".into()))?;
    let gas_price = quantity(&c.call("eth_gasPrice", json!([])).await?)?
        .saturating_mul(2)
        .max(1);
    let funder = parse_key(args.funder_key.as_deref().unwrap_or(DEV_KEY_0))?;
    let keys: Vec<Key> = (0..args.senders)
        .map(sender_key)
        .collect::<Result<_, _>>()?;
    let addrs: Vec<Address> = keys.iter().map(Key::address).collect();
    let base = TransferParams {
        chain_id,
        gas_price,
        to: Address::repeat_byte(0x42),
        value: U256::from(1),
    };
    eprintln!(
        "loadtest: chain {chain_id}, gas price {gas_price}, funding {} senders",
        keys.len()
    );
    fund(&c, &funder, &addrs, base).await?;
    let start_nonces = nonces(&c, &addrs).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let inflight: Arc<Vec<AtomicU32>> =
        Arc::new((0..keys.len()).map(|_| AtomicU32::new(0)).collect());
    let (tx, mut rx) = mpsc::channel::<Signed>(args.batch * args.connections * 4);
    let (rewind_tx, rewind_rx) = std::sync::mpsc::channel::<Rewind>();

    // Signing thread: round-robin over senders with room in their window.
    let signer = {
        let stop = stop.clone();
        let inflight = inflight.clone();
        let window = args.window;
        std::thread::spawn(move || -> Result<u64, SignError> {
            let mut next = start_nonces;
            let mut signed = 0u64;
            let signer = Signer::default();
            'outer: while !stop.load(Ordering::Relaxed) {
                for (i, nonce) in rewind_rx.try_iter() {
                    next[i] = next[i].min(nonce);
                }
                let mut progressed = false;
                for (i, key) in keys.iter().enumerate() {
                    if stop.load(Ordering::Relaxed) {
                        break 'outer;
                    }
                    if inflight[i].load(Ordering::Relaxed) >= window {
                        continue;
                    }
                    let nonce = next[i];
                    let (hash, raw) = transfer(&signer, key, nonce, &base)?;
                    next[i] += 1;
                    inflight[i].fetch_add(1, Ordering::Relaxed);
                    signed += 1;
                    progressed = true;
                    let signed_tx = Signed {
                        sender: i,
                        nonce,
                        hash,
                        raw,
                    };
                    if tx.blocking_send(signed_tx).is_err() {
                        break 'outer;
                    }
                }
                if !progressed {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            Ok(signed)
        })
    };

    let ledger = Arc::new(Mutex::new(Ledger {
        pending: HashMap::new(),
        report: Report::default(),
        refusals: HashMap::new(),
        first_submit: None,
        last_confirm: None,
    }));
    let start_block = quantity(&c.call("eth_blockNumber", json!([])).await?)?;
    let submitting = Arc::new(AtomicBool::new(true));
    let tracker = tokio::spawn(track(
        c.clone(),
        ledger.clone(),
        inflight.clone(),
        submitting.clone(),
        start_block,
        Duration::from_secs(args.settle),
    ));

    // CPU seconds of the watched nodes and of this process, from here to the end.
    let cpu_now = || {
        let nodes: f64 = args
            .node_pids
            .iter()
            .filter_map(|p| cpu_seconds_of(*p))
            .sum();
        (nodes, cpu_seconds_of(std::process::id()))
    };
    let cpu_start = cpu_now();

    // Dispatcher: batches, concurrency, pacing.
    let permits = Arc::new(Semaphore::new(args.connections));
    let started = Instant::now();
    let end = started + Duration::from_secs(args.duration);
    let mut sent = 0u64;
    while Instant::now() < end {
        let mut batch = Vec::with_capacity(args.batch);
        let until = Instant::now() + Duration::from_millis(20);
        while batch.len() < args.batch {
            match tokio::time::timeout_at(until.into(), rx.recv()).await {
                Ok(Some(s)) => batch.push(s),
                Ok(None) | Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        sent += batch.len() as u64;
        let permit = permits.clone().acquire_owned().await?;
        let (c2, l2, f2, r2) = (
            c.clone(),
            ledger.clone(),
            inflight.clone(),
            rewind_tx.clone(),
        );
        tokio::spawn(async move {
            submit(&c2, &l2, &f2, &r2, batch).await;
            drop(permit);
        });
        if args.rate > 0 {
            let due = started + Duration::from_secs_f64(sent as f64 / args.rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    rx.close();
    while rx.recv().await.is_some() {}
    // Wait for the in-flight batches.
    let _all = permits.acquire_many(args.connections as u32).await?;
    let submit_end = Instant::now();
    submitting.store(false, Ordering::Relaxed);
    let signed = match signer.join() {
        Ok(r) => r?,
        Err(_) => return Err(LoadTestError::SignerPanicked),
    };
    if let Ok(Err(e)) = tracker.await {
        eprintln!("loadtest: tracker stopped: {e}");
    }
    let cpu_end = cpu_now();
    let mut l = ledger.lock().await;
    if !args.node_pids.is_empty() {
        l.report.node_cpu = Some(NodeCpu {
            processes: args.node_pids.len(),
            seconds: (cpu_end.0 - cpu_start.0).max(0.0),
        });
    }
    if let (Some(a), Some(b)) = (cpu_start.1, cpu_end.1) {
        l.report.own_cpu = Some((b - a).max(0.0));
    }
    let first = l.first_submit.unwrap_or(started);
    l.report.signed = signed;
    l.report.submit_window = submit_end.saturating_duration_since(first);
    l.report.confirm_window = l
        .last_confirm
        .unwrap_or(first)
        .saturating_duration_since(first);
    l.report.latencies.sort();
    let mut refusals: Vec<(String, u64)> = l.refusals.drain().collect();
    refusals.sort_by_key(|r| std::cmp::Reverse(r.1));
    refusals.truncate(5);
    l.report.refusals = refusals;
    Ok(l.report.render())
}

/// Submits one batch and records each answer.
async fn submit(
    c: &RpcClient,
    ledger: &Mutex<Ledger>,
    inflight: &[AtomicU32],
    rewind: &std::sync::mpsc::Sender<Rewind>,
    batch: Vec<Signed>,
) {
    let raws: Vec<Bytes> = batch.iter().map(|s| s.raw.clone()).collect();
    let at = Instant::now();
    let answers = send_raw_batch(c, &raws).await;
    let mut l = ledger.lock().await;
    l.first_submit.get_or_insert(at);
    match answers {
        Ok(answers) => {
            for (s, a) in batch.iter().zip(answers) {
                match a {
                    Ok(_) => {
                        l.report.submitted += 1;
                        l.pending.insert(s.hash, (at, s.sender));
                    }
                    Err(e) if e.to_string().contains("already known") => {
                        // A re-signed copy of a pooled transaction: counted once.
                        inflight[s.sender].fetch_sub(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        l.report.refused += 1;
                        *l.refusals.entry(e.to_string()).or_default() += 1;
                        inflight[s.sender].fetch_sub(1, Ordering::Relaxed);
                        let _ = rewind.send((s.sender, s.nonce));
                    }
                }
            }
        }
        Err(e) => {
            l.report.refused += batch.len() as u64;
            *l.refusals.entry(e.to_string()).or_default() += batch.len() as u64;
            for s in &batch {
                inflight[s.sender].fetch_sub(1, Ordering::Relaxed);
                let _ = rewind.send((s.sender, s.nonce));
            }
        }
    }
}

/// Polls new blocks and confirms the transactions they include.
async fn track(
    c: Arc<RpcClient>,
    ledger: Arc<Mutex<Ledger>>,
    inflight: Arc<Vec<AtomicU32>>,
    submitting: Arc<AtomicBool>,
    mut seen: u128,
    settle: Duration,
) -> Result<(), LoadTestError> {
    let mut settle_deadline: Option<Instant> = None;
    loop {
        let head = quantity(&c.call("eth_blockNumber", json!([])).await?)?;
        while seen < head {
            seen += 1;
            let block = c
                .call("eth_getBlockByNumber", json!([format!("{seen:#x}"), false]))
                .await?;
            let now = Instant::now();
            let hashes = block
                .get("transactions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut l = ledger.lock().await;
            for h in hashes {
                let Some(hash) = h.as_str().and_then(|s| s.parse::<B256>().ok()) else {
                    continue;
                };
                if let Some((at, sender)) = l.pending.remove(&hash) {
                    l.report.confirmed += 1;
                    l.report.latencies.push(now.saturating_duration_since(at));
                    l.last_confirm = Some(now);
                    inflight[sender].fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        if !submitting.load(Ordering::Relaxed) {
            let deadline = *settle_deadline.get_or_insert_with(|| Instant::now() + settle);
            if ledger.lock().await.pending.is_empty() || Instant::now() > deadline {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
