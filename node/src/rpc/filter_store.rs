//! The table of installed polling filters (geth's rules: removed after 5
//! minutes without a poll, random 128-bit hex ids), bounded by a count
//! (`--rpc.filterlimit`) and by the addresses and topics all log filters hold
//! together ([`MAX_FILTER_CRITERIA`]), so stored filters cannot exhaust memory.
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
/// Most addresses and topic alternatives held by all installed log filters
/// together (each at most 32 bytes: about 32 MiB).
pub const MAX_FILTER_CRITERIA: usize = 1_000_000;

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
#[derive(Debug)]
pub struct Filters {
    pub(crate) map: Mutex<HashMap<String, Filter>>,
    limit: usize,
}

/// Addresses and topic alternatives a filter holds.
fn criteria(kind: &Kind) -> usize {
    match kind {
        Kind::Logs { filter, .. } => {
            filter.addresses.len()
                + filter
                    .topics
                    .iter()
                    .map(|t| t.as_ref().map_or(0, Vec::len))
                    .sum::<usize>()
        }
        Kind::Blocks { .. } | Kind::Pending { .. } => 0,
    }
}

pub(crate) fn poisoned() -> RpcError {
    RpcError::Server("filter table unavailable".into())
}

pub(crate) fn not_found() -> RpcError {
    RpcError::Server("filter not found".into())
}

impl Filters {
    /// An empty table holding at most `limit` filters.
    pub fn new(limit: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            limit,
        }
    }

    pub(crate) fn install(&self, kind: Kind) -> RpcResult<String> {
        let mut map = self.map.lock().map_err(|_| poisoned())?;
        map.retain(|_, f| f.polled.elapsed() < FILTER_TIMEOUT);
        if map.len() >= self.limit {
            return Err(RpcError::Limit(format!(
                "too many filters installed (limit {}, --rpc.filterlimit)",
                self.limit
            )));
        }
        let held: usize = map.values().map(|f| criteria(&f.kind)).sum();
        if held + criteria(&kind) > MAX_FILTER_CRITERIA {
            return Err(RpcError::Limit(format!(
                "installed filters hold too many addresses and topics (limit {MAX_FILTER_CRITERIA} in all)"
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
