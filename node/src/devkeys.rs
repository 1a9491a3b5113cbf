//! **Temporary dev helper**: miner keys for this branch until `makeminerkey` (being
//! built on another branch, Kaleido §2) lands. On `--mine` the node loads
//! `<datadir>/kalgo/minerkeys/dev-<address>.key`, generating it on first use with
//! [`spec::auth::RealMinerKeys::generate`] (heights 1..100 000), and writes the public
//! keys next to it as `dev-<address>.pub`; every `*.pub` file in that folder is a
//! miner of the temporary genesis registry. The file format is ours and will go.

use std::path::{Path, PathBuf};

use actors::consensus::registry::MinerPublicKeys;
use alloy_primitives::Address;
use spec::auth::{MinerKeys, RealMinerKeys};
use spec::crypto::real::{FsKeySet, SchnorrkelVrfKey};
use spec::types::MinerId;

/// Heights covered by a dev key.
const DEV_KEY_END: u64 = 100_000;

/// Why a key could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// File access.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// Bad key bytes.
    #[error("{0}: malformed key file")]
    Malformed(PathBuf),
    /// Key generation failed.
    #[error("key generation: {0}")]
    Generate(String),
}

fn dir(node_dir: &Path) -> PathBuf {
    node_dir.join("minerkeys")
}

/// Loads or creates the dev key of `owner`.
pub fn load_or_create(
    node_dir: &Path,
    owner: Address,
    chain_id: u64,
    lifespan: u64,
) -> Result<RealMinerKeys, KeyError> {
    let d = dir(node_dir);
    std::fs::create_dir_all(&d).map_err(|e| KeyError::Io(d.clone(), e))?;
    let name = format!("dev-{owner:#x}");
    let key_path = d.join(format!("{name}.key"));
    let id = MinerId(owner.0.0);
    if key_path.exists() {
        let bytes = std::fs::read(&key_path).map_err(|e| KeyError::Io(key_path.clone(), e))?;
        let vrf_len = SchnorrkelVrfKey::BYTES;
        if bytes.len() <= vrf_len {
            return Err(KeyError::Malformed(key_path));
        }
        let vrf = SchnorrkelVrfKey::from_bytes(&bytes[..vrf_len])
            .map_err(|_| KeyError::Malformed(key_path.clone()))?;
        let votes = FsKeySet::from_bytes(&bytes[vrf_len..])
            .map_err(|_| KeyError::Malformed(key_path.clone()))?;
        return Ok(MinerKeys { id, vrf, votes });
    }
    let mut rng = rand_core::OsRng;
    let keys = RealMinerKeys::generate(&mut rng, id, chain_id, 1, DEV_KEY_END, lifespan)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let mut bytes = keys.vrf.to_bytes().to_vec();
    bytes.extend_from_slice(&keys.votes.to_bytes());
    std::fs::write(&key_path, &bytes).map_err(|e| KeyError::Io(key_path.clone(), e))?;
    let rec = keys.record(0);
    let mut public = owner.0.0.to_vec();
    public.extend_from_slice(&rec.vrf_pk);
    public.extend_from_slice(&rec.vote_master_pk);
    let pub_path = d.join(format!("{name}.pub"));
    std::fs::write(&pub_path, public).map_err(|e| KeyError::Io(pub_path, e))?;
    Ok(keys)
}

/// Every `*.pub` miner in the key folder.
pub fn public_keys(node_dir: &Path) -> Result<Vec<MinerPublicKeys>, KeyError> {
    let d = dir(node_dir);
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&d) else {
        return Ok(out);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("pub") {
            continue;
        }
        let b = std::fs::read(&path).map_err(|e| KeyError::Io(path.clone(), e))?;
        if b.len() != 84 {
            return Err(KeyError::Malformed(path));
        }
        let mut id = [0u8; 20];
        let mut vrf_pk = [0u8; 32];
        let mut vote_master_pk = [0u8; 32];
        id.copy_from_slice(&b[..20]);
        vrf_pk.copy_from_slice(&b[20..52]);
        vote_master_pk.copy_from_slice(&b[52..]);
        out.push(MinerPublicKeys {
            id: MinerId(id),
            vrf_pk,
            vote_master_pk,
        });
    }
    Ok(out)
}
