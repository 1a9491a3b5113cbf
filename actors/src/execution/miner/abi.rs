//! Kaleido's miner contract ABI (§3.2) and the `MinerKey` calldata (§2.4), with
//! `alloy-sol-types` (no hand encoding).

use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::{SolCall, sol};
use spec::registration::Registration;

sol! {
    /// The miner contract at `0x1000…0002` (decompiled ABI, Kaleido §3.2).
    interface IMiner {
        /// A registration was added for `start` by `miner`.
        event Added(uint256 start, address miner);
        /// A registration (keys or coinbase) was updated.
        event Updated(uint256 start, address miner);
        /// kalgo's: `miner` was proven to equivocate at (`height`, `round`,
        /// `step`) and is out of the committee up to height `suspendedUntil`.
        event Equivocated(address indexed miner, uint64 height, uint32 round, uint32 step, uint64 suspendedUntil);
        /// kalgo's: `miner` showed it is online (its `heartbeat()` landed in `block`)
        /// and is no longer absent.
        event Heartbeat(address indexed miner, uint64 block);
        /// Registers `msg.sender` (selector `0x39fb25e9`).
        function set(uint64 start, uint32 lifespan, address coinbase, bytes32 vrfVerifier, bytes32 voteVerifier) external returns (bool);
        /// Changes the coinbase of the registration for the interval of `number`.
        function setCoinbase(uint256 number, address coinbase) external returns (bool);
        /// The registration of `miner` for the interval of `number`.
        function get(uint256 number, address miner) external view returns (uint64, uint32, address, bytes32, bytes32);
        /// Whether `miner` is a miner at height `number`.
        function isMinerOfHeight(uint256 number, address miner) external view returns (bool);
        /// Number of miners registered with `start == number`.
        function getNewAddedMinersCount(uint256 number) external view returns (uint256);
        /// The `index`-th miner registered with `start == number`.
        function getNewAddedMiner(uint256 number, uint32 index) external view returns (address);
        /// kalgo's: evidence that one miner signed two votes for different values at
        /// one (height, round, step): two wire-encoded votes. Suspends the miner.
        function reportEquivocation(bytes first, bytes second) external returns (bool);
        /// kalgo's: the last height `miner` is suspended for (0: never suspended).
        function suspendedUntil(address miner) external view returns (uint64);
        /// kalgo's: `msg.sender`, a registered miner, is online; clears its absence mark.
        function heartbeat() external returns (bool);
        /// kalgo's: the last block `miner` proposed or sent a heartbeat in, the
        /// block that marked it absent (0: present), and the last block its bound
        /// allowed as the stakes stood when it was seen (0: not known).
        function liveness(address miner) external view returns (uint64 lastSeen, uint64 absentSince, uint64 deadline);
    }
}

/// The `MinerKey` blob `makeminerkey` prints: calldata of `set(...)` (164 bytes,
/// selector `0x39fb25e9`, Kaleido §2.4).
pub fn miner_key_calldata(reg: &Registration) -> Bytes {
    IMiner::setCall {
        start: reg.start,
        lifespan: reg.lifespan,
        coinbase: Address::from(reg.coinbase),
        vrfVerifier: B256::from(reg.vrf_pk),
        voteVerifier: B256::from(reg.vote_pk),
    }
    .abi_encode()
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{hex, keccak256};
    use alloy_sol_types::SolEvent;

    #[test]
    fn miner_key_calldata_byte_by_byte() {
        let reg = Registration {
            start: 1,
            lifespan: 100,
            coinbase: hex!("0e09768B2B2e7aa534243f8bf9AFdC145DdA8EDa"),
            vrf_pk: [0xaa; 32],
            vote_pk: [0xbb; 32],
        };
        let b = miner_key_calldata(&reg);
        assert_eq!(b.len(), 164);
        assert_eq!(&b[..4], &hex!("39fb25e9"));
        assert_eq!(
            &keccak256("set(uint64,uint32,address,bytes32,bytes32)")[..4],
            &b[..4]
        );
        let mut word = [0u8; 32];
        word[31] = 1;
        assert_eq!(&b[4..36], &word);
        word[31] = 100;
        assert_eq!(&b[36..68], &word);
        assert_eq!(&b[68..80], &[0u8; 12]);
        assert_eq!(&b[80..100], &reg.coinbase);
        assert_eq!(&b[100..132], &[0xaa; 32]);
        assert_eq!(&b[132..164], &[0xbb; 32]);
    }

    #[test]
    fn selectors_and_topics_match_kaleido() {
        assert_eq!(IMiner::setCoinbaseCall::SELECTOR, hex!("fcea86d7"));
        assert_eq!(IMiner::getCall::SELECTOR, hex!("7db6e675"));
        assert_eq!(IMiner::isMinerOfHeightCall::SELECTOR, hex!("e2162f0b"));
        assert_eq!(
            IMiner::getNewAddedMinersCountCall::SELECTOR,
            hex!("9532c1fb")
        );
        assert_eq!(IMiner::getNewAddedMinerCall::SELECTOR, hex!("1089602c"));
        assert_eq!(&IMiner::Added::SIGNATURE_HASH[..4], &hex!("8ba5cdc3"));
        assert_eq!(&IMiner::Updated::SIGNATURE_HASH[..4], &hex!("335a1db8"));
    }
}
