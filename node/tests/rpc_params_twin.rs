//! Proptest twin of the `rpc_params` cargo-fuzz target: the same check
//! ([`node::rpc::fuzz_checks::check_params`]) on real request parameters, their
//! mutations and arbitrary text, in every `cargo test` on stable Rust.

use node::rpc::fuzz_checks::{ParamsOutcome, check_params};
use proptest::prelude::*;

/// `params` of real requests, as ethers, viem and web3.py send them.
const REAL: &[&str] = &[
    r#"["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "latest"]"#,
    r#"["0x1b4", true]"#,
    r#"["0x5", false]"#,
    r#"[{"from":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","to":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","data":"0x70a08231","gas":"0x5208"}, "pending"]"#,
    r#"[{"fromBlock":"0x1","toBlock":"latest","address":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","topics":[["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"],null]}]"#,
    r#"["0x3", {"blockHash":"0x0000000000000000000000000000000000000000000000000000000000000001"}]"#,
    r#"[{"blockNumber":"0x10"}]"#,
    r#"[]"#,
    r#"null"#,
];

#[test]
fn real_params_reach_the_typed_parsers() {
    for text in REAL {
        match check_params(text) {
            ParamsOutcome::Arguments { count, parsed } => {
                assert_eq!(
                    count, parsed,
                    "{text}: every real argument parses as something"
                );
            }
            ParamsOutcome::Refused => panic!("{text} refused"),
        }
    }
    assert_eq!(check_params("{}"), ParamsOutcome::Refused);
    assert_eq!(check_params("[1,2,3,4,5]"), ParamsOutcome::Refused);
    // geth's quantity rule: no leading zero digits.
    let one = ParamsOutcome::Arguments {
        count: 1,
        parsed: 1,
    };
    assert_eq!(check_params("[\"0x1\"]"), one);
    let refused = ParamsOutcome::Arguments {
        count: 1,
        parsed: 0,
    };
    assert_eq!(check_params("[\"0x01\"]"), refused);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_params(which in 0usize..9, pos in any::<usize>(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut bytes = REAL[which % REAL.len()].as_bytes().to_vec();
        let i = pos % bytes.len();
        if cut { bytes.truncate(i) } else { bytes[i] = byte }
        check_params(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_params(text in ".{0,200}") {
        check_params(&text);
    }

    #[test]
    fn json_shaped_params(text in r#"\[("0x[0-9a-fA-F]{0,70}"|"latest"|"pending"|true|null|\{"blockNumber":"0x[0-9a-f]{0,3}"\}|\{\}|[0-9]{1,3})(,("0x[0-9a-f]{0,66}"|"earliest"|false))?\]"#) {
        check_params(&text);
    }
}
