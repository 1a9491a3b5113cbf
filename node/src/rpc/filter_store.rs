//! The table of installed polling filters (geth's rules: removed after 5
//! minutes without a poll, at most [`MAX_FILTERS`], random 128-bit hex ids).
//! The methods that use it are in [`crate::rpc::filters`].

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actors::execution::query::LogFilter;
use alloy_primitives::B256;
use rand_core::{OsRng, RngCore};

use crate::rpc::error::{RpcError, RpcResult};

/// A filter not polled for this long is removed (geth's deadline).
pub const FILTER_TIMEOUT: Duration = Duration::from_secs(300);
/// Most filters installed at once.
pub const MAX_FILTERS: usize = 10_000;

#[derive(Debug)]
pub(crate) enum Kind {
    /// Next block whose hash to report.
    Blocks { next: u64 },
    /// The filter and the next block to scan; `to` of the filter is the last.
    Logs {
        filter: LogFilter,
        open_end: bool,
        next: u64,
    },
    /// Pooled hashes already reported.
    Pending { seen: HashSet<B256> },
}

#[derive(Debug)]
pub(crate) struct Filter {
    pub(crate) kind: Kind,
    pub(crate) polled: Instant,
}

/// The filters installed by `eth_new*Filter`, by id.
#[derive(Debug, Default)]
pub struct Filters {
    pub(crate) map: Mutex<HashMap<String, Filter>>,
}

pub(crate) fn poisoned() -> RpcError {
    RpcError::Server("filter table unavailable".into())
}

pub(crate) fn not_found() -> RpcError {
    RpcError::Server("filter not found".into())
}

impl Filters {
    pub(crate) fn install(&self, kind: Kind) -> RpcResult<String> {
        let mut map = self.map.lock().map_err(|_| poisoned())?;
        map.retain(|_, f| f.polled.elapsed() < FILTER_TIMEOUT);
        if map.len() >= MAX_FILTERS {
            return Err(RpcError::Limit(format!(
                "too many filters (limit {MAX_FILTERS})"
            )));
        }
        let mut bytes = [0u8; 16];
        OsRng.fill_bytes(&mut bytes);
        let id = format!("{:#x}", u128::from_be_bytes(bytes));
        map.insert(
            id.clone(),
            Filter {
                kind,
                polled: Instant::now(),
            },
        );
        Ok(id)
    }

    pub(crate) fn uninstall(&self, id: &str) -> RpcResult<bool> {
        let mut map = self.map.lock().map_err(|_| poisoned())?;
        Ok(map.remove(id).is_some())
    }
}
