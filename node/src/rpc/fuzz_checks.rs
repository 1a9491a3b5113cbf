//! The property the `rpc_params` fuzz target (`fuzz/fuzz_targets/rpc_params.rs`) and
//! its proptest twin (`node/tests/rpc_params_twin.rs`) check, written once: any
//! `params` text a JSON-RPC client can send goes through the parsers every method
//! uses (positional arguments, quantities, block tags and EIP-1898 objects, call and
//! filter objects, trace options, state overrides) without panicking, and what
//! parses is what was sent.

use jsonrpsee::types::Params;
use serde_json::Value;

use crate::rpc::debug::TraceConfig;
use crate::rpc::overrides::StateOverrides;
use crate::rpc::params::{
    Args, BlockId, BlockTag, CallObject, FilterObject, Quantity, Quantity256, block_id,
    block_id_arg, block_tag_arg, quantity_u64, quantity_u256,
};

/// Most positional arguments any method takes (`eth_call` with overrides: 3).
const MAX_ARGS: usize = 4;

/// How far a `params` text got (so tests can show real requests reach the parsers).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ParamsOutcome {
    /// Not a JSON array (or null), or too many arguments: `invalid params`.
    Refused,
    /// Read as positional arguments; `parsed` of them parsed as some typed argument.
    Arguments {
        /// Arguments read.
        count: usize,
        /// Arguments at least one typed parser accepted.
        parsed: usize,
    },
}

/// Runs `text` (the `params` member of a request) through every argument parser.
pub fn check_params(text: &str) -> ParamsOutcome {
    let params = Params::new(Some(text));
    let Ok(args) = Args::new(&params, MAX_ARGS) else {
        return ParamsOutcome::Refused;
    };
    let mut count = 0;
    let mut parsed = 0;
    for i in 0..MAX_ARGS {
        let Some(raw) = args.raw(i).cloned() else {
            // Absent arguments: a block id defaults to latest, a tag is required.
            assert_eq!(
                block_id_arg(&args, i).ok(),
                Some(BlockId::Tag(BlockTag::Latest))
            );
            assert!(block_tag_arg(&args, i).is_err());
            continue;
        };
        count += 1;
        let mut any = false;
        if let Ok(id) = block_id_arg(&args, i) {
            any = true;
            assert_eq!(block_id(&raw).ok(), Some(id), "block id parsing is stable");
        }
        if let Ok(BlockTag::Number(n)) = block_tag_arg(&args, i) {
            any = true;
            let text = raw.as_str().map(str::to_lowercase);
            assert_eq!(text, Some(format!("{n:#x}")), "a number is canonical hex");
        }
        if let Value::String(s) = &raw {
            if let Ok(n) = quantity_u64(s) {
                any = true;
                assert_eq!(
                    s.to_lowercase(),
                    format!("{n:#x}"),
                    "a quantity is canonical"
                );
            }
            if let Ok(n) = quantity_u256(s) {
                any = true;
                assert_eq!(
                    s.to_lowercase(),
                    format!("{n:#x}"),
                    "a quantity is canonical"
                );
            }
        }
        any |= args.required::<bool>(i).is_ok();
        any |= args.required::<Quantity>(i).is_ok();
        any |= args.required::<Quantity256>(i).is_ok();
        any |= args.required::<CallObject>(i).is_ok();
        any |= args.required::<TraceConfig>(i).is_ok();
        any |= StateOverrides::from_arg(Some(&raw), i).is_ok();
        if let Ok(filter) = args.required::<FilterObject>(i) {
            any = true;
            let _ = filter.topic_sets();
        }
        any |= args.optional::<Vec<Value>>(i).is_ok_and(|v| v.is_some());
        if any {
            parsed += 1;
        }
    }
    ParamsOutcome::Arguments { count, parsed }
}
