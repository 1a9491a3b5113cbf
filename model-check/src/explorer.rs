//! Serving the stateright Explorer (a web UI to walk the state space).

use crate::config::Config;
use crate::model::BaModel;
use stateright::Model;

/// Serves the Explorer for `cfg` on `addr` until the process is stopped.
pub fn serve(cfg: Config, addr: &str) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = addr
        .to_socket_addrs()
        .map_err(|e| format!("bad --explorer address {addr:?}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("--explorer address {addr:?} resolves to nothing"));
    }
    eprintln!(
        "model-check: serving the Explorer for {} on http://{addr}",
        cfg.name
    );
    let _checker = BaModel::new(cfg).checker().serve(addrs.as_slice());
    Ok(())
}
