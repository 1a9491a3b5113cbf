//! The operator namespaces `admin` (peers of the libp2p network) and `miner`
//! (whether this node proposes and votes). Both only ask actors by message: the
//! gossip actor ([`actors::gossip::actor::admin`]) for the network, the
//! consensus actor ([`SetMining`]) for mining. Served on IPC always, on HTTP and
//! WebSocket only when listed in `--http.api` / `--ws.api`.
//!
//! Peers are named by enode URLs (`enode://<node id>@<ip>:<port>?discport=0`, for
//! nodes with a secp256k1 key) or by libp2p multiaddrs ending in
//! `/p2p/<peer id>`, e.g. `/ip4/127.0.0.1/tcp/38883/p2p/16Uiu2…`; see
//! [`actors::gossip::enode`]. `admin_nodeInfo().enode` and `admin_peers()[].enode`
//! give the enode URL where there is one, else the multiaddr.

use std::str::FromStr;

use actors::gossip::actor::admin::{AddPeer, AdminError, BanPeer, NodeInfo, RemovePeer, UnbanPeer};
use actors::gossip::enode::{enode_url, parse_peer_address};
use actors::runtime::SetMining;
use jsonrpsee::RpcModule;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde_json::{Value, json};

use crate::rpc::{
    context::Ctx,
    error::{RpcError, RpcResult},
    params::Args,
};

/// The error of a network method on a node without network (`--dev`).
pub const NO_NETWORK: &str = "this node runs without a network (--dev): no peers";

/// The gossip actor, or the error of a node without a network.
fn gossip(ctx: &Ctx) -> Result<&actix::Addr<actors::gossip::actor::GossipActor>, RpcError> {
    ctx.gossip
        .as_ref()
        .ok_or_else(|| RpcError::Server(NO_NETWORK.into()))
}
/// The error of `miner_start` on a node without miner keys.
pub const NO_KEYS: &str = "this node has no miner keys (start it with --mine --miner.stakeowner)";

/// Argument `i` as a peer address: an enode URL or a multiaddr ending in
/// `/p2p/<peer id>`; anything else is invalid params.
fn peer_addr(a: &Args, i: usize) -> RpcResult<Multiaddr> {
    let text: String = a.required(i)?;
    parse_peer_address(&text).map_err(|e| RpcError::InvalidParams(e.to_string()))
}

/// What `enode` fields show for `peer` at `addr`: its enode URL, else the
/// multiaddr (ed25519 identities have no enode URL).
fn enode_or_multiaddr(peer: &PeerId, addr: &Multiaddr) -> String {
    enode_url(peer, addr).unwrap_or_else(|| match addr.iter().last() {
        Some(Protocol::P2p(_)) => addr.to_string(),
        _ => addr.clone().with(Protocol::P2p(*peer)).to_string(),
    })
}

fn is_loopback(a: &Multiaddr) -> bool {
    a.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

/// Argument `i` as a peer: a bare peer id (`16Uiu2…`, `12D3KooW…`), an enode URL
/// or a multiaddr ending in `/p2p/<peer id>`; anything else is invalid params.
fn peer_arg(a: &Args, i: usize) -> RpcResult<PeerId> {
    let text: String = a.required(i)?;
    let text = text.trim();
    if !text.starts_with('/') && !text.starts_with("enode://") {
        return PeerId::from_str(text)
            .map_err(|e| RpcError::InvalidParams(format!("invalid peer id {text:?}: {e}")));
    }
    let addr = peer_addr(a, i)?;
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Ok(peer),
        _ => Err(RpcError::InvalidParams(format!(
            "multiaddr {text:?} lacks /p2p/<peer id>"
        ))),
    }
}

fn admin_err(e: AdminError) -> RpcError {
    match e {
        AdminError::NoPeerId(_) => RpcError::InvalidParams(e.to_string()),
        AdminError::Gossip(g) => RpcError::Server(format!("network unavailable: {g}")),
    }
}

fn mailbox(e: actix::MailboxError) -> RpcError {
    RpcError::Server(format!("network unavailable: {e}"))
}

/// Registers `admin_nodeInfo`, `admin_peers`, `admin_addPeer`, `admin_removePeer`,
/// `admin_banPeer`, `admin_unbanPeer` and `admin_bannedPeers`.
pub fn register_admin(m: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_async_method("admin_nodeInfo", |p, ctx, _| async move {
        Args::new(&p, 0)?;
        let (id, enode, listen) = match &ctx.gossip {
            Some(g) => {
                let info = g
                    .send(NodeInfo)
                    .await
                    .map_err(mailbox)?
                    .map_err(admin_err)?;
                let listen: Vec<String> = info.listen.iter().map(|a| a.to_string()).collect();
                // A reachable address first: loopback only when there is no other.
                let best = info
                    .listen
                    .iter()
                    .find(|a| !is_loopback(a))
                    .or(info.listen.first());
                let enode = best.map(|a| {
                    let bare: Multiaddr = a
                        .iter()
                        .filter(|p| !matches!(p, Protocol::P2p(_)))
                        .collect();
                    enode_or_multiaddr(&info.peer_id, &bare)
                });
                (Value::String(info.peer_id.to_string()), enode, listen)
            }
            None => (Value::Null, None, Vec::new()),
        };
        let head = ctx.chain.head()?;
        Ok::<Value, RpcError>(json!({
            "id": id,
            "name": ctx.client_version,
            "enode": enode,
            "listenAddrs": listen,
            "protocols": {
                "kalgo": {
                    "chainId": ctx.config.chain_id(),
                    "head": head.as_ref().map(|h| h.hash),
                    "headNumber": head.map_or(0, |h| h.number),
                }
            }
        }))
    })?;
    m.register_async_method("admin_peers", |p, ctx, _| async move {
        Args::new(&p, 0)?;
        let Some(g) = &ctx.gossip else {
            return Ok::<Value, RpcError>(json!([]));
        };
        let info = g
            .send(NodeInfo)
            .await
            .map_err(mailbox)?
            .map_err(admin_err)?;
        let mut peers = info.peer_addrs;
        peers.sort_by_key(|(p, _, _)| p.to_bytes());
        let list: Vec<Value> = peers
            .into_iter()
            .map(|(peer, addr, dialled)| {
                json!({
                    "id": peer.to_string(),
                    "enode": enode_or_multiaddr(&peer, &addr),
                    "network": {
                        "remoteAddress": addr.to_string(),
                        "inbound": !dialled,
                    },
                })
            })
            .collect();
        Ok(Value::Array(list))
    })?;
    m.register_async_method("admin_addPeer", |p, ctx, _| async move {
        let a = Args::new(&p, 1)?;
        let addr = peer_addr(&a, 0)?;
        let g = gossip(&ctx)?;
        g.send(AddPeer(addr))
            .await
            .map_err(mailbox)?
            .map_err(admin_err)?;
        Ok::<Value, RpcError>(Value::Bool(true))
    })?;
    m.register_async_method("admin_removePeer", |p, ctx, _| async move {
        let a = Args::new(&p, 1)?;
        let addr = peer_addr(&a, 0)?;
        let g = gossip(&ctx)?;
        g.send(RemovePeer(addr))
            .await
            .map_err(mailbox)?
            .map_err(admin_err)?;
        Ok::<Value, RpcError>(Value::Bool(true))
    })?;
    register_bans(m)
}

/// `admin_banPeer(peer)`: disconnects the peer (a peer id or a multiaddr ending
/// in `/p2p/<peer id>`) and refuses it — its dials and this node's redials —
/// until `admin_unbanPeer(peer)`. Bans last until unbanned or the node stops.
/// `admin_bannedPeers()` lists them, with the peers refused for a while for
/// misbehaviour (invalid gossip or sync data, another network).
fn register_bans(m: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_async_method("admin_banPeer", |p, ctx, _| async move {
        let a = Args::new(&p, 1)?;
        let peer = peer_arg(&a, 0)?;
        let g = gossip(&ctx)?;
        g.send(BanPeer(peer))
            .await
            .map_err(mailbox)?
            .map_err(admin_err)?;
        Ok::<Value, RpcError>(Value::Bool(true))
    })?;
    m.register_async_method("admin_unbanPeer", |p, ctx, _| async move {
        let a = Args::new(&p, 1)?;
        let peer = peer_arg(&a, 0)?;
        let g = gossip(&ctx)?;
        g.send(UnbanPeer(peer))
            .await
            .map_err(mailbox)?
            .map_err(admin_err)?;
        Ok::<Value, RpcError>(Value::Bool(true))
    })?;
    m.register_async_method("admin_bannedPeers", |p, ctx, _| async move {
        Args::new(&p, 0)?;
        let Some(g) = &ctx.gossip else {
            return Ok::<Value, RpcError>(json!([]));
        };
        let info = g
            .send(NodeInfo)
            .await
            .map_err(mailbox)?
            .map_err(admin_err)?;
        let mut list: Vec<(String, &str)> = info
            .operator_banned
            .iter()
            .map(|p| (p.to_string(), "operator"))
            .chain(info.banned.iter().map(|p| (p.to_string(), "misbehaviour")))
            .collect();
        list.sort();
        let list: Vec<Value> = list
            .into_iter()
            .map(|(id, reason)| json!({ "id": id, "reason": reason }))
            .collect();
        Ok(Value::Array(list))
    })?;
    Ok(())
}

/// Registers `miner_start` (optional thread count, ignored as in geth's BA*-less
/// sense: there is no hashing) and `miner_stop`; both answer `null`.
pub fn register_miner(m: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_async_method("miner_start", |p, ctx, _| async move {
        let a = Args::new(&p, 1)?;
        let _threads: Option<Value> = a.optional(0)?;
        let on = ctx
            .miner
            .send(SetMining(true))
            .await
            .map_err(|e| RpcError::Server(format!("consensus unavailable: {e}")))?;
        if !on {
            return Err(RpcError::Server(NO_KEYS.into()));
        }
        Ok::<Value, RpcError>(Value::Null)
    })?;
    m.register_async_method("miner_stop", |p, ctx, _| async move {
        Args::new(&p, 0)?;
        ctx.miner
            .send(SetMining(false))
            .await
            .map_err(|e| RpcError::Server(format!("consensus unavailable: {e}")))?;
        Ok::<Value, RpcError>(Value::Null)
    })?;
    Ok(())
}
