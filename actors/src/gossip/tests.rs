//! Swarm tasks talking over 127.0.0.1: delivery, validation before forwarding,
//! peer penalties, the sync protocol and the network check. Waits are for
//! conditions, with a generous deadline as the failure.

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

use super::swarm::spawn;
use super::{
    Command, GossipConfig, GossipHandle, InboundMsg, NetEvent, NetTopic, SyncBlock, SyncResponse,
    Verdict,
};
use spec::driver::Topic;

const DEADLINE: Duration = Duration::from_secs(60);
const VOTES: NetTopic = NetTopic::Consensus(Topic::Votes);

fn config(head: u64, genesis: u8, bootnodes: Vec<Multiaddr>) -> GossipConfig {
    GossipConfig {
        listen: "/ip4/127.0.0.1/tcp/0".parse().expect("addr"),
        bootnodes,
        max_peers: 8,
        network_id: 7,
        genesis: [genesis; 32],
        head: (head, [head as u8; 32]),
        discover: false,
        sync_lag: Duration::from_secs(3),
        peer_count: None,
        metrics: None,
        gossip_rate: crate::gossip::rate::DEFAULT_GOSSIP_RATE,
    }
}

struct Node {
    handle: GossipHandle,
    events: mpsc::Receiver<NetEvent>,
    addr: Multiaddr,
    id: PeerId,
}

async fn node(cfg: GossipConfig) -> Node {
    let (handle, events) = spawn(Keypair::generate_ed25519(), cfg).expect("spawn");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let info = handle.info().await.expect("info");
        if let Some(addr) = info.listen.first() {
            return Node {
                id: info.peer_id,
                addr: addr.clone(),
                handle,
                events,
            };
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the swarm bound no listen address within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Answers a batch of consensus messages with `verdict(message)` for each.
fn report(n: &Node, msgs: &[InboundMsg], verdict: impl Fn(&InboundMsg) -> Verdict) {
    let report = msgs
        .iter()
        .map(|m| (m.id.clone(), m.source, verdict(m)))
        .collect();
    n.handle.send(Command::Report(report)).expect("report");
}

/// Waits for the next batch of consensus messages, answering `verdict` for
/// each; `what` names the awaited message in the failure.
async fn next_consensus(
    n: &mut Node,
    what: &str,
    verdict: impl Fn(&InboundMsg) -> Verdict,
) -> Vec<InboundMsg> {
    loop {
        let ev = tokio::time::timeout(DEADLINE, n.events.recv())
            .await
            .unwrap_or_else(|_| panic!("no consensus batch ({what}) within {DEADLINE:?}"))
            .expect("the task runs");
        if let NetEvent::Consensus(msgs) = ev {
            report(n, &msgs, &verdict);
            if !msgs.is_empty() {
                return msgs;
            }
        }
    }
}

/// Publishes distinct probes (`probe-<k>`) from `from` every 300 ms until `to`
/// receives one (gossipsub needs the subscriptions to be known first).
///
/// Probes published before the one that arrived may still be on their way
/// (the first message on a new connection often takes longer than 300 ms):
/// whoever reads `to`'s events next meets them, and must answer them as the
/// valid messages they are ([`probe_or`]). Rejecting one costs the sender
/// score like any invalid message.
async fn probe_until_received(from: &GossipHandle, to: &mut Node, verdict: Verdict) {
    let mut k = 0u32;
    loop {
        k += 1;
        from.publish(VOTES, format!("probe-{k}").into_bytes())
            .expect("publish");
        // The whole 300 ms go to this probe: other events (the peer's request
        // for the pool, typically first on a new connection) are skipped
        // without publishing the next probe early.
        let window = tokio::time::Instant::now() + Duration::from_millis(300);
        while let Ok(got) = tokio::time::timeout_at(window, to.events.recv()).await {
            match got {
                Some(NetEvent::Consensus(msgs)) => {
                    report(to, &msgs, |_| verdict);
                    return;
                }
                Some(_) => {}
                None => panic!("the swarm task of {} stopped", to.id),
            }
        }
        assert!(k < 200, "no probe reached {} in 200 tries", to.id);
    }
}

/// The verdict for a probe of [`probe_until_received`] (`Ignore`: valid, not
/// forwarded), `otherwise` for anything else.
fn probe_or(otherwise: Verdict) -> impl Fn(&InboundMsg) -> Verdict {
    move |m| {
        if m.data.starts_with(b"probe") {
            Verdict::Ignore
        } else {
            otherwise
        }
    }
}

async fn wait_for_peers(n: &Node, what: &str, want: impl Fn(&[PeerId]) -> bool) {
    wait_for(n, what, |info| want(&info.peers)).await;
}

/// Polls `n`'s [`super::NetInfo`] until `want` holds; `what` names the awaited
/// state in the failure.
async fn wait_for(n: &Node, what: &str, want: impl Fn(&super::NetInfo) -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let info = n.handle.info().await.expect("info");
        if want(&info) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {DEADLINE:?} (peers {:?}, banned {:?})",
            info.peers,
            info.banned
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_forwarded_only_after_it_is_accepted() {
    let a = node(config(0, 1, vec![])).await;
    let mut b = node(config(0, 1, vec![a.addr.clone()])).await;
    let mut c = node(config(0, 1, vec![b.addr.clone()])).await;
    wait_for_peers(&b, "B connected to A and C", |p| p.len() == 2).await;
    let b_id = b.id;
    // A → B (B accepts) → C: the path works once meshes have formed.
    let (a_handle, b_handle) = (a.handle.clone(), b.handle.clone());
    let forwarder = tokio::spawn(async move {
        loop {
            let Some(ev) = b.events.recv().await else {
                return b;
            };
            if let NetEvent::Consensus(msgs) = ev {
                let verdicts = msgs
                    .iter()
                    .map(|m| {
                        let v = if m.data.starts_with(b"bad") {
                            Verdict::Reject
                        } else {
                            Verdict::Accept
                        };
                        (m.id.clone(), m.source, v)
                    })
                    .collect();
                b_handle.send(Command::Report(verdicts)).expect("report");
                if msgs.iter().any(|m| m.data == b"stop") {
                    return b;
                }
            }
        }
    });
    probe_until_received(&a_handle, &mut c, Verdict::Accept).await;
    // Rejected by B: never reaches C. Accepted: does.
    a_handle.publish(VOTES, b"bad-1".to_vec()).expect("publish");
    a_handle
        .publish(VOTES, b"good-1".to_vec())
        .expect("publish");
    'wait: loop {
        for m in next_consensus(&mut c, "good-1 at C", |_| Verdict::Accept).await {
            if m.data.starts_with(b"probe") {
                continue;
            }
            assert_eq!(m.data, b"good-1", "the rejected message was forwarded");
            assert_eq!(m.topic, VOTES);
            assert_eq!(m.source, b_id, "C heard it from B");
            break 'wait;
        }
    }
    a_handle.publish(VOTES, b"stop".to_vec()).expect("publish");
    let _b = forwarder.await.expect("forwarder");
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_invalid_messages_is_disconnected() {
    let a = node(config(0, 1, vec![])).await;
    let mut b = node(config(0, 1, vec![a.addr.clone()])).await;
    probe_until_received(&a.handle, &mut b, Verdict::Ignore).await;
    for i in 0..6 {
        a.handle
            .publish(VOTES, format!("bad-{i}").into_bytes())
            .expect("publish");
    }
    // B rejects the bad messages, and ignores probes still on their way (they
    // are valid: rejecting one would cost A score too), until A's score falls
    // below the graylist threshold and B drops it. The end is the ban, not a
    // count of arrivals: from the ban on, A's messages are dropped unread, so
    // how many of them B sees depends on how they happened to be batched.
    let a_id = a.id;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut rejected = 0;
    loop {
        let info = b.handle.info().await.expect("info");
        if info.banned.contains(&a_id) && !info.peers.contains(&a_id) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B did not drop A for its invalid messages within {DEADLINE:?} \
             ({rejected} rejected; peers {:?}, banned {:?})",
            info.peers,
            info.banned
        );
        let ev = tokio::time::timeout(Duration::from_millis(50), b.events.recv()).await;
        if let Ok(Some(NetEvent::Consensus(msgs))) = ev {
            report(&b, &msgs, probe_or(Verdict::Reject));
            rejected += msgs.iter().filter(|m| m.data.starts_with(b"bad")).count();
        }
    }
    // Each rejection costs -10 × n² (`behaviour::score_params`, P4) against a
    // graylist at -80: one or two invalid messages are tolerated, a third is not.
    assert!(
        rejected >= 3,
        "A was dropped after only {rejected} rejected messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_requests_blocks_and_bans_a_peer_serving_bad_ones() {
    let mut a = node(config(5, 1, vec![])).await;
    let mut b = node(config(0, 1, vec![a.addr.clone()])).await;
    // B learns A's head (5 ≥ 0 + 2) and asks for 1..=5.
    let (id, from, count) = loop {
        let ev = tokio::time::timeout(DEADLINE, a.events.recv())
            .await
            .expect("a request before the deadline")
            .expect("task runs");
        if let NetEvent::ServeBlocks { id, from, count } = ev {
            break (id, from, count);
        }
    };
    assert_eq!((from, count), (1, 5));
    let served = vec![
        SyncBlock {
            block: vec![1; 10],
            certificate: vec![2; 3],
        },
        SyncBlock {
            block: vec![3; 7],
            certificate: vec![4],
        },
    ];
    a.handle
        .send(Command::Serve {
            id,
            response: SyncResponse::Blocks(served.clone()),
        })
        .expect("serve");
    let (peer, blocks) = loop {
        let ev = tokio::time::timeout(DEADLINE, b.events.recv())
            .await
            .expect("blocks before the deadline")
            .expect("task runs");
        if let NetEvent::SyncBlocks { peer, blocks } = ev {
            break (peer, blocks);
        }
    };
    assert_eq!(peer, a.id);
    assert_eq!(blocks, served);
    // The blocks did not verify: B drops A.
    b.handle
        .send(Command::SyncDone {
            peer,
            served: super::catch_up::Served::Invalid,
        })
        .expect("done");
    let a_id = a.id;
    wait_for(&b, "B bans A for blocks that did not verify", |i| {
        i.banned.contains(&a_id) && !i.peers.contains(&a_id)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_of_another_chain_is_dropped() {
    let a = node(config(0, 1, vec![])).await;
    let other = node(config(0, 2, vec![a.addr.clone()])).await;
    let same = node(config(0, 1, vec![a.addr.clone()])).await;
    let (other_id, same_id, a_id) = (other.id, same.id, a.id);
    // Whichever side notices first (identify's network id, or the status
    // response's genesis) drops and refuses the other.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let ia = a.handle.info().await.expect("info");
        let io = other.handle.info().await.expect("info");
        let refused = ia.banned.contains(&other_id) || io.banned.contains(&a_id);
        if refused && ia.peers.contains(&same_id) && !ia.peers.contains(&other_id) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "A: {ia:?}; other: {io:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(same.handle.info().await.expect("info").banned.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_ban_holds_against_redials_until_lifted() {
    let a = node(config(0, 1, vec![])).await;
    let b = node(config(0, 1, vec![a.addr.clone()])).await;
    let b_id = b.id;
    wait_for_peers(&a, "A connected to B", |p| p.contains(&b_id)).await;
    a.handle.send(Command::Ban(b_id)).expect("ban");
    wait_for(&a, "A drops B on the operator's ban", |i| {
        !i.peers.contains(&b_id) && i.operator_banned == vec![b_id] && i.banned.is_empty()
    })
    .await;
    // B keeps redialling its bootnode (every 3 s): A refuses every attempt.
    let until = tokio::time::Instant::now() + Duration::from_secs(7);
    while tokio::time::Instant::now() < until {
        let info = a.handle.info().await.expect("info");
        assert!(!info.peers.contains(&b_id), "a banned peer got back in");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.handle.send(Command::Unban(b_id)).expect("unban");
    wait_for(&a, "B back at A once the ban is lifted", |i| {
        i.peers.contains(&b_id) && i.operator_banned.is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_one_bootnode_meet_each_other_through_it() {
    let discovering = |boot: &Multiaddr| GossipConfig {
        discover: true,
        ..config(0, 1, vec![boot.clone()])
    };
    let a = node(config(0, 1, vec![])).await;
    let b = node(discovering(&a.addr)).await;
    wait_for_peers(&a, "A connected to B", |p| p.contains(&b.id)).await;
    let c = node(discovering(&a.addr)).await;
    // C asks A for its peers, learns B and dials it: B and C are linked
    // directly, and stay linked without A.
    let (b_id, c_id) = (b.id, c.id);
    wait_for_peers(&c, "C meets B through A", |p| p.contains(&b_id)).await;
    drop(a);
    wait_for_peers(&b, "B keeps C once A is gone", |p| p == [c_id]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_learns_peers_its_bootnode_meets_after_it_asked() {
    let a = node(config(0, 1, vec![])).await;
    let c = node(GossipConfig {
        discover: true,
        ..config(0, 1, vec![a.addr.clone()])
    })
    .await;
    let a_id = a.id;
    // C asks A for its peers on connecting, alongside its status: once the
    // status is in, A has answered (or is about to) with a list that cannot
    // hold B, which does not exist yet.
    wait_for(&c, "C connected to A with A's status", |i| {
        i.peers.contains(&a_id) && i.best_peer_head.is_some()
    })
    .await;
    // B does not discover: it never asks A for peers, so it never dials C. The
    // link can only come from C asking A again once A has identified B.
    let b = node(config(0, 1, vec![a.addr.clone()])).await;
    let b_id = b.id;
    wait_for_peers(&c, "C meets B, whom A met after C first asked", |p| {
        p.contains(&b_id)
    })
    .await;
}
