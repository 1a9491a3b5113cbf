//! Keys the node holds: miner key files and the ring of them in use, the
//! geth-format account keystore and the accounts unlocked from it, and the p2p
//! node key.

pub mod accounts;
pub mod keyfile;
pub mod keyring;
pub mod keystore;
pub mod nodekey;
