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
        assert!(tokio::time::Instant::now() < deadline, "never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the next batch of consensus messages, answering `verdict` for each.
async fn next_consensus(n: &mut Node, verdict: Verdict) -> Vec<InboundMsg> {
    loop {
        let ev = tokio::time::timeout(DEADLINE, n.events.recv())
            .await
            .expect("an event before the deadline")
            .expect("the task runs");
        if let NetEvent::Consensus(msgs) = ev {
            let report = msgs
                .iter()
                .map(|m| (m.id.clone(), m.source, verdict))
                .collect();
            n.handle.send(Command::Report(report)).expect("report");
            if !msgs.is_empty() {
                return msgs;
            }
        }
    }
}

/// Publishes distinct probes from `from` until `to` receives one (gossipsub
/// needs the subscriptions to be known first).
async fn probe_until_received(from: &GossipHandle, to: &mut Node, verdict: Verdict) {
    let mut k = 0u32;
    loop {
        k += 1;
        from.publish(VOTES, format!("probe-{k}").into_bytes())
            .expect("publish");
        let got = tokio::time::timeout(Duration::from_millis(300), to.events.recv()).await;
        if let Ok(Some(NetEvent::Consensus(msgs))) = got {
            let report = msgs
                .iter()
                .map(|m| (m.id.clone(), m.source, verdict))
                .collect();
            to.handle.send(Command::Report(report)).expect("report");
            return;
        }
        assert!(k < 200, "no probe arrived");
    }
}

async fn wait_for_peers(n: &Node, want: impl Fn(&[PeerId]) -> bool) {
    wait_for(n, |info| want(&info.peers)).await;
}

async fn wait_for(n: &Node, want: impl Fn(&super::NetInfo) -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let info = n.handle.info().await.expect("info");
        if want(&info) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "peers never became as wanted: {:?}",
            info.peers
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_forwarded_only_after_it_is_accepted() {
    let a = node(config(0, 1, vec![])).await;
    let mut b = node(config(0, 1, vec![a.addr.clone()])).await;
    let mut c = node(config(0, 1, vec![b.addr.clone()])).await;
    wait_for_peers(&b, |p| p.len() == 2).await;
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
        for m in next_consensus(&mut c, Verdict::Accept).await {
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
    let a_id = a.id;
    let mut rejected = 0;
    while rejected < 3 {
        let msgs = next_consensus(&mut b, Verdict::Reject).await;
        rejected += msgs.iter().filter(|m| m.data.starts_with(b"bad")).count();
    }
    wait_for(&b, |i| i.banned.contains(&a_id) && !i.peers.contains(&a_id)).await;
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
        .send(Command::SyncDone { peer, ok: false })
        .expect("done");
    let a_id = a.id;
    wait_for(&b, |i| i.banned.contains(&a_id) && !i.peers.contains(&a_id)).await;
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
    wait_for_peers(&a, |p| p.contains(&b_id)).await;
    a.handle.send(Command::Ban(b_id)).expect("ban");
    wait_for(&a, |i| {
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
    wait_for(&a, |i| {
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
    wait_for_peers(&a, |p| p.contains(&b.id)).await;
    let c = node(discovering(&a.addr)).await;
    // C asks A for its peers, learns B and dials it: B and C are linked
    // directly, and stay linked without A.
    let (b_id, c_id) = (b.id, c.id);
    wait_for_peers(&c, |p| p.contains(&b_id)).await;
    drop(a);
    wait_for_peers(&b, |p| p == [c_id]).await;
}
