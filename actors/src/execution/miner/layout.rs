//! Storage layout of the miner contract (Kaleido §2.5, §3.2), kept slot-compatible so
//! Kaleido's `GenesisStorage` lines mean the same here.
//!
//! - slot 0: `minerMap[uint64 sn][address] → {start, lifespan, coinbase, vrf, vote}`:
//!   `base = keccak(pad32(miner) ‖ keccak(pad32(sn) ‖ pad32(0)))`; `base+0` packs
//!   `coinbase ‖ lifespan ‖ start` (big-endian bytes 0..20, 20..24, 24..32), `base+1`
//!   the VRF key, `base+2` the vote key.
//! - slot 1: `newMiners[uint64 start] → address[]` (length at
//!   `keccak(pad32(start) ‖ pad32(1))`, element `i` at `keccak(that) + i`).
//! - slot 2 (kalgo's addition): `intervalMiners[uint64 sn] → address[]`, every miner
//!   registered in interval `sn`, so the registry can be listed without scanning a
//!   million `newMiners` entries.
//! - slot 3 (kalgo's): the registrations counter of the current block.
//! - slot 4 (kalgo's): `suspension[address] → from << 128 | coveredThrough << 64 |
//!   until`: a miner proven to equivocate is out of every committee of heights
//!   `from..=until`, and evidence of its offences at heights up to
//!   `coveredThrough` is refused as already punished ([`Suspension`]).
//! - slot 5 (kalgo's): `liveness[address] → deadline << 128 | lastSeen << 64 |
//!   absentSince`: the last block the miner proposed or sent a heartbeat in,
//!   the block that marked it absent (0: present), and the last block of its
//!   bound as the stakes stood when it was seen ([`Liveness`], `spec::absence`).

use alloy_primitives::{Address, B256, U256, keccak256};
pub use spec::absence::Liveness;
pub use spec::evidence::Suspension;
use spec::registration::Registration;

/// Slot of `minerMap`.
pub const MINER_MAP_SLOT: u64 = 0;
/// Slot of `newMiners`.
pub const NEW_MINERS_SLOT: u64 = 1;
/// Slot of `intervalMiners` (kalgo's addition).
pub const INTERVAL_MINERS_SLOT: u64 = 2;

/// Slot of `suspension` (kalgo's addition).
pub const SUSPENSION_SLOT: u64 = 4;

/// Slot of `liveness` (kalgo's addition).
pub const LIVENESS_SLOT: u64 = 5;

fn mapping_slot(key: B256, slot: B256) -> U256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(key.as_slice());
    buf[32..].copy_from_slice(slot.as_slice());
    U256::from_be_bytes(keccak256(buf).0)
}

fn word(v: u64) -> B256 {
    B256::from(U256::from(v))
}

/// `base` of `minerMap[sn][miner]`.
pub fn miner_base_slot(sn: u64, miner: Address) -> U256 {
    let inner = mapping_slot(word(sn), word(MINER_MAP_SLOT));
    mapping_slot(miner.into_word(), B256::from(inner))
}

/// Length slot of a `mapping(uint64 => address[])` at `slot` for `key`.
pub fn array_len_slot(slot: u64, key: u64) -> U256 {
    mapping_slot(word(key), word(slot))
}

/// Slot of element `index` of the array whose length is at `len_slot`.
pub fn array_elem_slot(len_slot: U256, index: u64) -> U256 {
    U256::from_be_bytes(keccak256(B256::from(len_slot)).0).wrapping_add(U256::from(index))
}

/// Slot of `suspension[miner]`.
pub fn suspension_slot(miner: Address) -> U256 {
    mapping_slot(miner.into_word(), word(SUSPENSION_SLOT))
}

/// A miner's suspension ([`Suspension`], `spec::evidence`) from its stored word.
pub fn unpack_suspension(word: U256) -> Suspension {
    let limbs = word.as_limbs();
    Suspension {
        until: limbs[0],
        covered_through: limbs[1],
        from: limbs[2],
    }
}

/// The stored word of a miner's suspension.
pub fn pack_suspension(s: &Suspension) -> U256 {
    (U256::from(s.from) << 128) | (U256::from(s.covered_through) << 64) | U256::from(s.until)
}

/// Slot of `liveness[miner]`.
pub fn liveness_slot(miner: Address) -> U256 {
    mapping_slot(miner.into_word(), word(LIVENESS_SLOT))
}

/// A miner's liveness record ([`Liveness`], `spec::absence`) from its stored word.
pub fn unpack_liveness(word: U256) -> Liveness {
    let limbs = word.as_limbs();
    Liveness {
        absent_since: limbs[0],
        last_seen: limbs[1],
        deadline: limbs[2],
    }
}

/// The stored word of a miner's liveness record.
pub fn pack_liveness(l: &Liveness) -> U256 {
    (U256::from(l.deadline) << 128) | (U256::from(l.last_seen) << 64) | U256::from(l.absent_since)
}

/// The packed word `coinbase ‖ lifespan ‖ start` (Kaleido `MakeStartLifespanCoinbase`).
pub fn pack(reg: &Registration) -> U256 {
    let mut b = [0u8; 32];
    b[..20].copy_from_slice(&reg.coinbase);
    b[20..24].copy_from_slice(&reg.lifespan.to_be_bytes());
    b[24..].copy_from_slice(&reg.start.to_be_bytes());
    U256::from_be_bytes(b)
}

/// Inverse of [`pack`] plus the two key words.
pub fn unpack(packed: U256, vrf: U256, vote: U256) -> Registration {
    let b = packed.to_be_bytes::<32>();
    let mut coinbase = [0u8; 20];
    coinbase.copy_from_slice(&b[..20]);
    let mut lifespan = [0u8; 4];
    lifespan.copy_from_slice(&b[20..24]);
    let mut start = [0u8; 8];
    start.copy_from_slice(&b[24..]);
    Registration {
        start: u64::from_be_bytes(start),
        lifespan: u32::from_be_bytes(lifespan),
        coinbase,
        vrf_pk: vrf.to_be_bytes(),
        vote_pk: vote.to_be_bytes(),
    }
}

/// The three `minerMap` slots of a registration (Kaleido's `GenesisStorage` lines).
pub fn registration_slots(miner: Address, reg: &Registration, interval: u64) -> [(U256, U256); 3] {
    let sn = reg.start.checked_div(interval).unwrap_or_default();
    let base = miner_base_slot(sn, miner);
    [
        (base, pack(reg)),
        (
            base.wrapping_add(U256::from(1)),
            U256::from_be_bytes(reg.vrf_pk),
        ),
        (
            base.wrapping_add(U256::from(2)),
            U256::from_be_bytes(reg.vote_pk),
        ),
    ]
}

/// Every slot a genesis needs for `miners` (registrations, `newMiners` and
/// `intervalMiners` arrays), as if each had called `set`.
pub fn genesis_storage(miners: &[(Address, Registration)], interval: u64) -> Vec<(U256, U256)> {
    use std::collections::BTreeMap;
    let mut out: BTreeMap<U256, U256> = BTreeMap::new();
    let push = |slot: u64, key: u64, miner: Address, out: &mut BTreeMap<U256, U256>| {
        let len_slot = array_len_slot(slot, key);
        let len = out.get(&len_slot).copied().unwrap_or_default();
        let idx = u64::try_from(len).unwrap_or(u64::MAX);
        out.insert(
            array_elem_slot(len_slot, idx),
            U256::from_be_slice(miner.as_slice()),
        );
        out.insert(len_slot, len + U256::from(1));
    };
    for (miner, reg) in miners {
        out.extend(registration_slots(*miner, reg, interval));
        push(NEW_MINERS_SLOT, reg.start, *miner, &mut out);
        let sn = reg.start.checked_div(interval).unwrap_or_default();
        push(INTERVAL_MINERS_SLOT, sn, *miner, &mut out);
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256};

    #[test]
    fn suspension_word_round_trip() {
        let s = Suspension {
            from: 7,
            until: 56,
            covered_through: 6,
        };
        assert_eq!(unpack_suspension(pack_suspension(&s)), s);
        assert_eq!(unpack_suspension(U256::ZERO), Suspension::default());
        let max = Suspension {
            from: u64::MAX,
            until: u64::MAX - 1,
            covered_through: u64::MAX - 2,
        };
        assert_eq!(unpack_suspension(pack_suspension(&max)), max);
    }

    #[test]
    fn liveness_word_round_trip() {
        let l = Liveness {
            last_seen: 12,
            absent_since: 40,
            deadline: 30,
        };
        assert_eq!(
            pack_liveness(&l),
            (U256::from(30) << 128) | (U256::from(12) << 64) | U256::from(40)
        );
        assert_eq!(unpack_liveness(pack_liveness(&l)), l);
        assert_eq!(unpack_liveness(U256::ZERO), Liveness::default());
        let max = Liveness {
            last_seen: u64::MAX,
            absent_since: u64::MAX - 1,
            deadline: u64::MAX - 2,
        };
        assert_eq!(unpack_liveness(pack_liveness(&max)), max);
    }

    #[test]
    fn kaleido_genesis_slot_vectors() {
        let main = address!("45Ec182EDC6774c9A2926172F1Fd996e59b58CED");
        let test = address!("0e09768B2B2e7aa534243f8bf9AFdC145DdA8EDa");
        assert_eq!(
            B256::from(miner_base_slot(1 / 1_000_000, main)),
            b256!("06ff3c55f357d4545a14dcc167670bf1dcc8bb45dcd90fa4a085a02a39da3a8a")
        );
        assert_eq!(
            B256::from(miner_base_slot(0, test)),
            b256!("82f1831a162a7f3e29811d2195e3e69849199225cd98cdaac26cbc717f24fcaf")
        );
        // The inner hash for sn = 0 is keccak(0^64) (§2.5).
        assert_eq!(
            B256::from(mapping_slot(B256::ZERO, B256::ZERO)),
            b256!("ad3228b676f7d3cd4284a5443f17f1962b36e491b30a40b2405849e597ba5fb5")
        );
    }

    #[test]
    fn packed_word_matches_kaleido_layout() {
        let reg = Registration {
            start: 1,
            lifespan: 100,
            coinbase: test_addr(),
            vrf_pk: [1; 32],
            vote_pk: [2; 32],
        };
        let w = pack(&reg).to_be_bytes::<32>();
        assert_eq!(&w[..20], &test_addr());
        assert_eq!(&w[20..], &[0, 0, 0, 0x64, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            unpack(
                pack(&reg),
                U256::from_be_bytes([1; 32]),
                U256::from_be_bytes([2; 32])
            ),
            reg
        );
        let slots = registration_slots(Address::from(test_addr()), &reg, 1_000_000);
        assert_eq!(slots[1].0, slots[0].0 + U256::from(1));
        let g = genesis_storage(&[(Address::from(test_addr()), reg)], 1_000_000);
        assert_eq!(g.len(), 3 + 2 + 2);
        assert!(g.contains(&(array_len_slot(NEW_MINERS_SLOT, 1), U256::from(1))));
    }

    fn test_addr() -> [u8; 20] {
        address!("0e09768B2B2e7aa534243f8bf9AFdC145DdA8EDa").0.0
    }
}
