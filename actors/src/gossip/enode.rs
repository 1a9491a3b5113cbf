//! geth's enode URLs beside libp2p multiaddrs, so Kaleido's bootnode lists,
//! `static-nodes.json` and `admin.addPeer("enode://…")` keep working.
//!
//! An enode URL is `enode://<node id>@<ip>:<tcp port>[?discport=<udp port>]`,
//! the node id being the 64-byte uncompressed secp256k1 public key (x ‖ y) in
//! hex. A node whose libp2p identity is a secp256k1 key has one: its peer id
//! inlines that key, so the URL and the multiaddr
//! `/ip4/<ip>/tcp/<port>/p2p/<peer id>` name the same peer and convert both ways.
//! kalgo has no UDP discovery, so it writes `?discport=0` and ignores the query
//! when reading. Nodes with an ed25519 identity have no enode URL.

use std::net::IpAddr;

use libp2p::identity::{PublicKey, secp256k1};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// Longest peer address accepted (an enode URL is about 160 bytes).
pub const MAX_PEER_ADDRESS: usize = 1024;

/// Why a peer address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerAddressError {
    /// Longer than [`MAX_PEER_ADDRESS`].
    #[error("peer address longer than {MAX_PEER_ADDRESS} bytes")]
    TooLong,
    /// `enode://` without `<node id>@<ip>:<port>`.
    #[error("enode URL {0:?}: want enode://<128 hex digits>@<ip>:<port>")]
    EnodeShape(String),
    /// The node id is not 64 bytes of hex.
    #[error("enode URL {0:?}: the node id must be 128 hex digits")]
    NodeIdHex(String),
    /// The node id is not a point on secp256k1.
    #[error("enode URL {0:?}: the node id is not a secp256k1 public key")]
    NodeIdKey(String),
    /// The host is not an IP address (geth 1.8 takes no host names either).
    #[error("enode URL {0:?}: the host must be an IP address")]
    Host(String),
    /// The port is not a number in 1–65535.
    #[error("enode URL {0:?}: bad TCP port")]
    Port(String),
    /// Not a multiaddr.
    #[error("invalid multiaddr {0:?}: {1}")]
    Multiaddr(String, String),
    /// A multiaddr without the peer.
    #[error("multiaddr {0:?} lacks /p2p/<peer id>")]
    NoPeer(String),
}

/// The multiaddr an enode URL names: `/ip4|ip6/<ip>/tcp/<port>/p2p/<peer id>`.
pub fn parse_enode(url: &str) -> Result<Multiaddr, PeerAddressError> {
    let shape = || PeerAddressError::EnodeShape(url.to_string());
    let rest = url.strip_prefix("enode://").ok_or_else(shape)?;
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (id, host_port) = rest.split_once('@').ok_or_else(shape)?;
    let key = node_key(id).map_err(|e| match e {
        KeyError::Hex => PeerAddressError::NodeIdHex(url.to_string()),
        KeyError::Curve => PeerAddressError::NodeIdKey(url.to_string()),
    })?;
    let (host, port) = host_port.rsplit_once(':').ok_or_else(shape)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = host
        .parse()
        .map_err(|_| PeerAddressError::Host(url.to_string()))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| PeerAddressError::Port(url.to_string()))?;
    let peer = PeerId::from_public_key(&PublicKey::from(key));
    Ok(Multiaddr::from(ip)
        .with(Protocol::Tcp(port))
        .with(Protocol::P2p(peer)))
}

enum KeyError {
    Hex,
    Curve,
}

fn node_key(id: &str) -> Result<secp256k1::PublicKey, KeyError> {
    if id.len() != 128 {
        return Err(KeyError::Hex);
    }
    let raw = alloy_primitives::hex::decode(id).map_err(|_| KeyError::Hex)?;
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(0x04);
    sec1.extend_from_slice(&raw);
    secp256k1::PublicKey::try_from_bytes(&sec1).map_err(|_| KeyError::Curve)
}

/// A peer address as operators type it: an enode URL or a multiaddr ending in
/// `/p2p/<peer id>`.
pub fn parse_peer_address(text: &str) -> Result<Multiaddr, PeerAddressError> {
    let text = text.trim();
    if text.len() > MAX_PEER_ADDRESS {
        return Err(PeerAddressError::TooLong);
    }
    if text.starts_with("enode://") {
        return parse_enode(text);
    }
    let addr: Multiaddr = text.parse().map_err(|e: libp2p::multiaddr::Error| {
        PeerAddressError::Multiaddr(text.to_string(), e.to_string())
    })?;
    match addr.iter().last() {
        Some(Protocol::P2p(_)) => Ok(addr),
        _ => Err(PeerAddressError::NoPeer(text.to_string())),
    }
}

/// The secp256k1 key a peer id inlines, if it is one.
fn secp256k1_key(peer: &PeerId) -> Option<secp256k1::PublicKey> {
    let hash = multihash_identity_digest(peer)?;
    PublicKey::try_decode_protobuf(hash)
        .ok()?
        .try_into_secp256k1()
        .ok()
}

/// The digest of an identity multihash (code 0): the encoded public key.
fn multihash_identity_digest(peer: &PeerId) -> Option<&[u8]> {
    let mh: &libp2p::multihash::Multihash<64> = peer.as_ref();
    (mh.code() == 0).then(|| mh.digest())
}

/// The enode URL of `peer` reached at `addr` (its first IP and TCP port), or
/// `None` when the peer's identity is not secp256k1 or `addr` has no IP/TCP.
pub fn enode_url(peer: &PeerId, addr: &Multiaddr) -> Option<String> {
    let key = secp256k1_key(peer)?;
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) if ip.is_none() => ip = Some(IpAddr::from(a)),
            Protocol::Ip6(a) if ip.is_none() => ip = Some(IpAddr::from(a)),
            Protocol::Tcp(t) if port.is_none() => port = Some(t),
            _ => {}
        }
    }
    let host = match ip? {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    let id = alloy_primitives::hex::encode(&key.to_bytes_uncompressed()[1..]);
    Some(format!("enode://{id}@{host}:{}?discport=0", port?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::identity::Keypair;

    fn secp_peer() -> (PeerId, String) {
        let key = Keypair::generate_secp256k1();
        let public = key.public().try_into_secp256k1().expect("a secp256k1 key");
        let id = alloy_primitives::hex::encode(&public.to_bytes_uncompressed()[1..]);
        (key.public().to_peer_id(), id)
    }

    #[test]
    fn an_enode_url_and_its_multiaddr_name_the_same_peer() {
        let (peer, id) = secp_peer();
        let url = format!("enode://{id}@172.31.204.223:32668?discport=0");
        let addr = parse_peer_address(&url).expect("an enode URL");
        assert_eq!(
            addr.to_string(),
            format!("/ip4/172.31.204.223/tcp/32668/p2p/{peer}")
        );
        assert_eq!(enode_url(&peer, &addr), Some(url));
        let v6 = parse_enode(&format!("enode://{id}@[::1]:30303")).expect("IPv6");
        assert_eq!(v6.to_string(), format!("/ip6/::1/tcp/30303/p2p/{peer}"));
    }

    #[test]
    fn ed25519_peers_have_no_enode_url() {
        let peer = Keypair::generate_ed25519().public().to_peer_id();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().expect("multiaddr");
        assert_eq!(enode_url(&peer, &addr), None);
    }

    #[test]
    fn malformed_addresses_are_refused_with_their_reason() {
        let (_, id) = secp_peer();
        let cases = [
            ("enode://abc@1.2.3.4:1", "node id"),
            (&format!("enode://{id}"), "want enode"),
            (&format!("enode://{id}@host.example:1"), "IP address"),
            (&format!("enode://{id}@1.2.3.4:0"), "port"),
            (&format!("enode://{id}@1.2.3.4:99999"), "port"),
            (
                &format!("enode://{}@1.2.3.4:1", "00".repeat(64)),
                "secp256k1",
            ),
            (&format!("enode://{}@1.2.3.4:1", "zz".repeat(64)), "hex"),
            ("/ip4/1.2.3.4/tcp/1", "lacks /p2p/"),
            ("not an address", "invalid multiaddr"),
        ];
        for (text, want) in cases {
            let e = parse_peer_address(text).expect_err(text).to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        assert_eq!(
            parse_peer_address(&"x".repeat(MAX_PEER_ADDRESS + 1)),
            Err(PeerAddressError::TooLong)
        );
    }
}
