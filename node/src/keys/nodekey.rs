//! The node's network identity (Kaleido's `nodekey`, here a libp2p ed25519 key):
//! the 32-byte secret in hex on one line, in `<datadir>/kalgo/nodekey` unless
//! `--nodekey FILE` names another file. Made on first start, kept afterwards, so
//! the peer id in a node's bootnode address stays the same across restarts.

use std::path::{Path, PathBuf};

use libp2p::identity::Keypair;

/// Why the node key could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum NodeKeyError {
    /// File access.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The file does not hold a 32-byte hex secret.
    #[error("{0}: not a node key (expected 64 hex characters)")]
    Malformed(PathBuf),
}

/// Loads the key at `path`, or makes and stores a new one when it is absent.
pub fn load_or_create(path: &Path) -> Result<Keypair, NodeKeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(text.trim()).ok_or_else(|| NodeKeyError::Malformed(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let secret = key
                .clone()
                .try_into_ed25519()
                .map_err(|_| NodeKeyError::Malformed(path.to_path_buf()))?
                .secret();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| NodeKeyError::Io(dir.to_path_buf(), e))?;
            }
            let text = format!("{}\n", alloy_primitives::hex::encode(secret.as_ref()));
            write_private(path, text.as_bytes())
                .map_err(|e| NodeKeyError::Io(path.to_path_buf(), e))?;
            Ok(key)
        }
        Err(e) => Err(NodeKeyError::Io(path.to_path_buf(), e)),
    }
}

fn parse(hex: &str) -> Option<Keypair> {
    let mut bytes = alloy_primitives::hex::decode(hex).ok()?;
    if bytes.len() != 32 {
        return None;
    }
    Keypair::ed25519_from_bytes(&mut bytes).ok()
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
    }
}
