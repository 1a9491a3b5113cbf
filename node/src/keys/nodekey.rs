//! The node's network identity (Kaleido's `nodekey`): a libp2p key in
//! `<datadir>/kalgo/nodekey` unless `--nodekey FILE` names another file. Made on
//! first start, kept afterwards, so the peer id in a node's bootnode address (and
//! its enode URL) stays the same across restarts.
//!
//! New keys are secp256k1, as geth's, so the node has an enode URL
//! (`admin.nodeInfo.enode`). The file holds the 32-byte secret in hex on its first
//! line — what geth reads from a `nodekey` — and the word `secp256k1` on the
//! second. A file with the hex line alone is an ed25519 key, as kalgo wrote them
//! before: such nodes keep their peer id and are reached by multiaddr only.

use std::path::{Path, PathBuf};

use libp2p::identity::Keypair;

/// Why the node key could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum NodeKeyError {
    /// File access.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The file does not hold a 32-byte hex secret and a known curve.
    #[error(
        "{0}: not a node key (expected 64 hex characters, then optionally secp256k1 or ed25519)"
    )]
    Malformed(PathBuf),
}

/// The curve word of secp256k1 key files (second line).
const SECP256K1: &str = "secp256k1";

/// Loads the key at `path`, or makes and stores a new secp256k1 key when it is
/// absent.
pub fn load_or_create(path: &Path) -> Result<Keypair, NodeKeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).ok_or_else(|| NodeKeyError::Malformed(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = libp2p::identity::secp256k1::SecretKey::generate();
            let text = format!(
                "{}\n{SECP256K1}\n",
                alloy_primitives::hex::encode(secret.to_bytes())
            );
            let key = Keypair::from(libp2p::identity::secp256k1::Keypair::from(secret));
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| NodeKeyError::Io(dir.to_path_buf(), e))?;
            }
            write_private(path, text.as_bytes())
                .map_err(|e| NodeKeyError::Io(path.to_path_buf(), e))?;
            Ok(key)
        }
        Err(e) => Err(NodeKeyError::Io(path.to_path_buf(), e)),
    }
}

/// A key file's text: the hex secret, then optionally the curve (`secp256k1` or
/// `ed25519`; absent = ed25519).
fn parse(text: &str) -> Option<Keypair> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut bytes = alloy_primitives::hex::decode(lines.next()?).ok()?;
    if bytes.len() != 32 {
        return None;
    }
    let curve = lines.next();
    if lines.next().is_some() {
        return None;
    }
    match curve {
        None | Some("ed25519") => Keypair::ed25519_from_bytes(&mut bytes).ok(),
        Some(SECP256K1) => {
            let secret = libp2p::identity::secp256k1::SecretKey::try_from_bytes(&mut bytes).ok()?;
            Some(Keypair::from(libp2p::identity::secp256k1::Keypair::from(
                secret,
            )))
        }
        Some(_) => None,
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kalgo").join("nodekey");
        let a = load_or_create(&path).expect("create");
        let b = load_or_create(&path).expect("load");
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
    }

    #[test]
    fn new_keys_are_secp256k1_and_old_ed25519_files_keep_their_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nodekey");
        let new = load_or_create(&path).expect("create");
        assert!(new.public().try_into_secp256k1().is_ok(), "a secp256k1 key");
        let text = std::fs::read_to_string(&path).expect("read");
        let first = text.lines().next().expect("a hex line");
        assert_eq!(first.len(), 64, "geth reads the first 64 hex characters");
        assert_eq!(text.lines().nth(1), Some("secp256k1"));

        let old = dir.path().join("old");
        let hex = "11".repeat(32);
        std::fs::write(&old, format!("{hex}\n")).expect("write");
        let a = load_or_create(&old).expect("load");
        let mut bytes = alloy_primitives::hex::decode(&hex).expect("hex");
        let b = Keypair::ed25519_from_bytes(&mut bytes).expect("ed25519");
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        assert_eq!(
            std::fs::read_to_string(&old).expect("read"),
            format!("{hex}\n")
        );
    }

    #[test]
    fn a_malformed_key_file_is_an_error_and_stays_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nodekey");
        std::fs::write(&path, "zz").expect("write");
        assert!(matches!(
            load_or_create(&path),
            Err(NodeKeyError::Malformed(_))
        ));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "zz");
        std::fs::write(&path, "ab".repeat(31)).expect("write");
        assert!(load_or_create(&path).is_err());
        for text in [
            format!("{}\nrsa\n", "ab".repeat(32)),
            format!("{}\nsecp256k1\nmore\n", "ab".repeat(32)),
            format!("{}\nsecp256k1\n", "00".repeat(32)),
        ] {
            std::fs::write(&path, &text).expect("write");
            assert!(load_or_create(&path).is_err(), "{text:?} was accepted");
        }
    }
}
