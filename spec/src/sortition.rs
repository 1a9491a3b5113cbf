//! Sortition: stake → weight (Kaleido §3.6), binomial seat selection (§4.3),
//! proposer priority (§4.5) and seed derivation (§4.4).
//!
//! # Numeric method of the binomial CDF (deterministic on every platform)
//!
//! `choose(hash, n, t, W)` returns the smallest `j ∈ [0, min(n,t)]` with
//! `x < cdf(j)`, where `x = hash / (2²⁵⁶ − 1)` and `cdf` is the CDF of
//! `Binomial(n, p = t/W)`; `min(n,t)` if there is none. Only IEEE-754 basic
//! operations (`+ − × ÷`, which Rust never contracts into FMAs) and the pure-Rust
//! `libm` crate (`lgamma`, `log`, `log1p`, `exp`) are used, never the platform libm
//! behind `f64::ln/exp`, so every node computes bit-identical results.
//!
//! 1. `x` is `hash / 2²⁵⁶` rounded to the nearest double (the ratio to `2²⁵⁶ − 1`
//!    differs by a factor `1 + 2⁻²⁵⁶`, which only breaks exact ties, always upward).
//! 2. `p = t/W` and `q = (W−t)/W` are each one correctly rounded division.
//! 3. The pmf at the mode `m = ⌊(n+1)·t/W⌋` (exact integer arithmetic) is computed
//!    in log space with Loader's saddle-point formula (as in R's `dbinom`):
//!    `log pmf = stirlerr(n) − stirlerr(m) − stirlerr(n−m) − bd0(m, np) − bd0(n−m, nq)
//!    − ½·(log 2π + log m + log1p(−m/n))`, which keeps ~1e-15 relative accuracy for
//!    `n` up to 10¹⁰ where `lgamma` differences would cancel catastrophically. The
//!    ends `m = 0` (`n·log1p(−p)`) and `m = n` (`n·log p`) are handled directly; in log
//!    space `(1−p)ⁿ` may underflow harmlessly.
//! 4. From the mode, the ratio recurrences `pmf(k−1) = pmf(k)·k·q / ((n−k+1)·p)`
//!    (downward) and `pmf(k+1) = pmf(k)·(n−k)·p / ((k+1)·q)` (upward) give the other
//!    terms. Downward stops below `pmf(m)·2⁻¹²⁰` (or at 0); the CDF is the plain sum in
//!    ascending `k`. If `x < pmf(m)·2⁻⁶⁰` (probability ≈ 1e-18, e.g. hash = 0), the
//!    walk is redone down to `k = 0` with no cut, so tiny `x` are still exact.
//!    Upward stops at the first `j` with `x < cdf(j)`, or when adding a term no longer
//!    changes the sum (beyond the mode terms only shrink, so the answer is then
//!    `min(n,t)`). A true CDF never exceeds 1, so each partial sum is compared as
//!    `min(sum, 1)`: rounding can push the sum just above 1, and `x = 1` (hash
//!    `ff…ff`) must select `min(n,t)` as in Kaleido.
//!
//! Compared with Kaleido (Boost's `ibeta`), this is accurate to a few ulps; the
//! Appendix A.1 vectors match (tests below).

use crate::codec::Credential;
use crate::crypto::{CryptoError, VrfHash, VrfInput, VrfProver, VrfVerifier};
use crate::params::{CommitteeMode, Params};
use crate::types::{Height, Step};
use sha2::{Digest, Sha512_256};
use thiserror::Error;

/// Why a weight or a selection could not be computed.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum SortitionError {
    /// The total stake is zero.
    #[error("total stake is zero")]
    ZeroTotalStake,
    /// A miner's stake exceeds the total stake.
    #[error("stake exceeds the total stake")]
    StakeAboveTotal,
    /// The total weight W is zero.
    #[error("total weight is zero")]
    ZeroTotalWeight,
    /// `n > W` or `t > W` (Kaleido aborts the process here, §4.3 step 6 / B3).
    #[error("weight {n} or committee size {t} exceeds the total weight {w}")]
    AboveTotalWeight {
        /// The miner's weight.
        n: u64,
        /// The expected committee size.
        t: u64,
        /// The total weight.
        w: u64,
    },
    /// In fixed-committee mode a stake does not fit a 64-bit weight.
    #[error("stake does not fit a 64-bit weight")]
    WeightOverflow,
}

/// `floor(a·b/d)` and whether the remainder is non-zero, exactly, for `b < d`,
/// without overflow (binary double-and-add over the bits of `a`).
fn mul_div_small(a: u64, b: u128, d: u128) -> (u128, bool) {
    let (mut q, mut rem) = (0u128, 0u128);
    for bit in (0..64).rev() {
        q <<= 1;
        if rem >= d - rem {
            rem -= d - rem;
            q += 1;
        } else {
            rem += rem;
        }
        if (a >> bit) & 1 == 1 {
            if rem >= d - b {
                rem -= d - b;
                q += 1;
            } else {
                rem += b;
            }
        }
    }
    (q, rem != 0)
}

/// Stake → weight normalised to `total_weight` (Kaleido §3.6, `GetWeight`):
/// `own = floor(W·B/T)`; if the division has a remainder, add 1 when the sortition
/// hash is above `0x80 00…00` (big-endian), 0 when below, and when equal add 1 only
/// if `own` is odd. Exact integer arithmetic; `T = 0` is an error.
pub fn weight(
    total_weight: u64,
    stake: u128,
    total_stake: u128,
    hash: &VrfHash,
) -> Result<u64, SortitionError> {
    if total_stake == 0 {
        return Err(SortitionError::ZeroTotalStake);
    }
    if stake > total_stake {
        return Err(SortitionError::StakeAboveTotal);
    }
    if stake == total_stake {
        return Ok(total_weight);
    }
    let (own, rem) = mul_div_small(total_weight, stake, total_stake);
    // own < W because stake < total_stake.
    let own = u64::try_from(own).map_err(|_| SortitionError::WeightOverflow)?;
    if !rem {
        return Ok(own);
    }
    let mut half = [0u8; 32];
    half[0] = 0x80;
    let up = match hash.cmp(&half) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => own % 2 == 1,
    };
    Ok(own + u64::from(up))
}

/// `x = hash / (2²⁵⁶ − 1)` as the nearest double (Kaleido §4.3 step 4, `hash2float`).
pub fn hash_to_unit(hash: &VrfHash) -> f64 {
    let Some(first) = hash.iter().position(|b| *b != 0) else {
        return 0.0;
    };
    // Bit position (from the least significant end) of the leading one.
    let lead = (31 - first) * 8 + (7 - hash[first].leading_zeros() as usize);
    // 64 bits starting at the leading one, and a sticky flag for the rest.
    let mut buf = [0u8; 40];
    buf[..32].copy_from_slice(hash);
    let shift = 255 - lead; // leading one moves to bit 255 of the shifted number
    let (byte_shift, bit_shift) = (shift / 8, shift % 8);
    let mut top = [0u8; 9];
    for (i, t) in top.iter_mut().enumerate() {
        *t = buf.get(byte_shift + i).copied().unwrap_or(0);
    }
    let wide = u128::from_be_bytes({
        let mut w = [0u8; 16];
        w[..9].copy_from_slice(&top);
        w
    }) << bit_shift;
    let m = (wide >> 64) as u64; // leading one at bit 63
    let mant = m >> 11; // 53 bits
    let round_bit = (m >> 10) & 1;
    // Round to nearest; a tie rounds up because hash/(2²⁵⁶−1) > hash/2²⁵⁶.
    let mant = mant + round_bit;
    let exp = lead as i32 - 52 - 256;
    libm::scalbn(mant as f64, exp)
}

const LN_2PI: f64 = 1.837_877_066_409_345_5;
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Loader's Stirling error `log(n!) − log(√(2πn)·(n/e)ⁿ)`.
fn stirlerr(n: f64) -> f64 {
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    if n <= 15.0 {
        return libm::lgamma(n + 1.0) - (n + 0.5) * libm::log(n) + n - LN_SQRT_2PI;
    }
    let nn = n * n;
    if n > 500.0 {
        (S0 - S1 / nn) / n
    } else if n > 80.0 {
        (S0 - (S1 - S2 / nn) / nn) / n
    } else if n > 35.0 {
        (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n
    }
}

/// Loader's deviance term `x·log(x/m) + m − x`, computed stably.
fn bd0(x: f64, m: f64) -> f64 {
    if (x - m).abs() < 0.1 * (x + m) {
        let mut v = (x - m) / (x + m);
        let mut s = (x - m) * v;
        let mut ej = 2.0 * x * v;
        v *= v;
        for j in 1..1000u32 {
            ej *= v;
            let s1 = s + ej / f64::from(2 * j + 1);
            if s1 == s {
                return s1;
            }
            s = s1;
        }
    }
    x * libm::log(x / m) + m - x
}

/// `pmf(k)` of `Binomial(n, p)` at `0 ≤ k ≤ n` (step 3 of the module doc).
fn pmf_at(k: u64, n: u64, p: f64, q: f64) -> f64 {
    let (kf, nf) = (k as f64, n as f64);
    if k == 0 {
        return libm::exp(nf * libm::log1p(-p));
    }
    if k == n {
        return libm::exp(nf * libm::log(p));
    }
    let lc =
        stirlerr(nf) - stirlerr(kf) - stirlerr(nf - kf) - bd0(kf, nf * p) - bd0(nf - kf, nf * q);
    let lf = LN_2PI + libm::log(kf) + libm::log1p(-kf / nf);
    libm::exp(lc - 0.5 * lf)
}

/// Binomial seat selection (Kaleido §4.3 steps 4–5): the number of seats `j` a
/// miner of weight `n` gets in a committee of expected size `t` out of total weight
/// `w`, from its sortition hash. Capped at `min(n, t)`. See the module doc for the
/// numeric method.
pub fn choose(hash: &VrfHash, n: u64, t: u64, w: u64) -> Result<u64, SortitionError> {
    if w == 0 {
        return Err(SortitionError::ZeroTotalWeight);
    }
    if n > w || t > w {
        return Err(SortitionError::AboveTotalWeight { n, t, w });
    }
    let max_j = n.min(t);
    if max_j == 0 {
        return Ok(0);
    }
    if t == w {
        // p = 1: all mass at n = max_j.
        return Ok(max_j);
    }
    let x = hash_to_unit(hash);
    let p = t as f64 / w as f64;
    let q = (w - t) as f64 / w as f64;
    let down = (w - t) as f64 / t as f64; // q/p
    let up = t as f64 / (w - t) as f64; // p/q
    // m ≤ max_j since t < w (see module doc).
    let mode = u64::try_from(u128::from(n + 1) * u128::from(t) / u128::from(w))
        .unwrap_or(max_j)
        .min(max_j);
    let pm = pmf_at(mode, n, p, q);
    let cut = pm * libm::scalbn(1.0, -120);
    let full = x < pm * libm::scalbn(1.0, -60);
    // Downward walk: terms[i] = pmf(mode − i).
    let mut terms = Vec::with_capacity(64);
    terms.push(pm);
    let mut cur = pm;
    let mut k = mode;
    while k > 0 {
        cur *= (k as f64 * down) / ((n - k + 1) as f64);
        k -= 1;
        if !full && cur < cut {
            k += 1;
            break;
        }
        terms.push(cur);
    }
    let lo = k;
    let mut cdf = 0.0;
    for (i, term) in terms.iter().rev().enumerate() {
        cdf += term;
        if x < cdf.min(1.0) {
            return Ok(lo + i as u64);
        }
    }
    // Upward walk from the mode.
    let mut k = mode;
    let mut cur = pm;
    while k < max_j {
        cur *= ((n - k) as f64 * up) / ((k + 1) as f64);
        k += 1;
        let next = cdf + cur;
        if next == cdf {
            return Ok(max_j);
        }
        cdf = next;
        if x < cdf.min(1.0) {
            return Ok(k);
        }
    }
    Ok(max_j)
}

/// A miner's number of seats at `step` (Kaleido §3.6 + §4.3): in sortition mode,
/// the §3.6 weight of its stake fed to [`choose`] with the step's expected committee
/// size; in fixed-committee mode, its exact weight (stake), with no sortition.
pub fn seats(
    params: &Params,
    step: Step,
    stake: u128,
    total_stake: u128,
    hash: &VrfHash,
) -> Result<u64, SortitionError> {
    match params.mode {
        // Every registered miner votes with its exact stake share, normalised to W
        // like sortition weights (stakes are wei: they do not fit seats as they are);
        // the quorum is then taken over W (`Params::thresholds(params.total_weight)`).
        CommitteeMode::Fixed { .. } => weight(params.total_weight, stake, total_stake, hash),
        CommitteeMode::Sortition => {
            let n = weight(params.total_weight, stake, total_stake, hash)?;
            choose(
                hash,
                n,
                params.committee(step).expected,
                params.total_weight,
            )
        }
    }
}

/// Domain tag of the per-seat priority hash.
pub const CTX_PRIORITY: &[u8] = b"kalgo/priority/v1";

/// Proposer priority (Kaleido §4.5, domain-separated): the minimum over seats
/// `i = 1..=j` of SHA-512/256(`"kalgo/priority/v1"` ‖ sortition hash ‖ BE64(i)),
/// compared as bytes (smaller wins). `None` when `j = 0` (no priority: worst).
pub fn priority(hash: &VrfHash, j: u64) -> Option<[u8; 32]> {
    (1..=j)
        .map(|i| {
            let mut d = Sha512_256::new();
            d.update(CTX_PRIORITY);
            d.update(hash);
            d.update(i.to_be_bytes());
            <[u8; 32]>::from(d.finalize())
        })
        .min()
}

/// Seed of `height` (Kaleido §4.4, fixed for W5): the proposer's VRF over
/// (chain id, height, previous seed) only; returns the credential for the proposal
/// and the new seed.
pub fn derive_seed<P: VrfProver>(
    prover: &P,
    chain_id: u64,
    height: Height,
    prev_seed: &[u8; 32],
) -> (Credential, [u8; 32]) {
    prover.prove(&VrfInput::seed(chain_id, height, prev_seed))
}

/// Verifies a proposal's seed credential (Kaleido §4.4) and returns the new seed.
pub fn verify_seed<V: VrfVerifier>(
    verifier: &V,
    vrf_pk: &[u8; 32],
    chain_id: u64,
    height: Height,
    prev_seed: &[u8; 32],
    cred: &Credential,
) -> Result<[u8; 32], CryptoError> {
    verifier.verify(vrf_pk, &VrfInput::seed(chain_id, height, prev_seed), cred)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_core::{RngCore, SeedableRng};
    use sha2::Sha256;

    const W: u64 = 10_000_000_000;

    fn sha256(s: &str) -> [u8; 32] {
        Sha256::digest(s.as_bytes()).into()
    }

    /// Kaleido Appendix A.1: `sortition.Choose(hash, n, t, W=10¹⁰)`.
    #[test]
    fn kaleido_vectors() {
        let (a, b, c) = (sha256("a"), sha256("b"), sha256("c"));
        assert_eq!(a[..4], [0xca, 0x97, 0x81, 0x12]);
        let table: [(u64, u64, [u64; 3]); 8] = [
            (W, 20, [20, 17, 16]),
            (W, 1500, [1500, 1473, 1465]),
            (W, 2990, [2990, 2952, 2940]),
            (W, 5000, [5000, 4951, 4936]),
            (5_000_000_000, 1500, [772, 731, 725]),
            (1_000_000_000, 1500, [160, 141, 139]),
            (10_000_000, 1500, [2, 1, 0]),
            (10_000_000, 20, [0, 0, 0]),
        ];
        for (n, t, expect) in table {
            let got = [a, b, c].map(|h| choose(&h, n, t, W).unwrap());
            assert_eq!(got, expect, "n={n} t={t}");
        }
        for (byte, expect) in [
            (0x00u8, 0u64),
            (0x40, 142),
            (0x80, 150),
            (0xc0, 158),
            (0xff, 1500),
        ] {
            assert_eq!(
                choose(&[byte; 32], 1_000_000_000, 1500, W),
                Ok(expect),
                "byte {byte:#x}"
            );
        }
    }

    #[test]
    fn unit_conversion_is_exact_where_it_can_be() {
        assert_eq!(hash_to_unit(&[0; 32]), 0.0);
        assert_eq!(hash_to_unit(&[0xff; 32]), 1.0);
        let mut half = [0u8; 32];
        half[0] = 0x80;
        assert_eq!(hash_to_unit(&half), 0.5);
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(hash_to_unit(&one), libm::scalbn(1.0, -256));
        let mut h = [0u8; 32];
        h[0] = 0x40;
        h[7] = 0x01; // beyond the 53 mantissa bits: rounds to 0.25 exactly
        assert_eq!(hash_to_unit(&h), 0.25);
    }

    #[test]
    fn weight_rounding_rule() {
        let mut half = [0u8; 32];
        half[0] = 0x80;
        let mut above = half;
        above[31] = 1;
        let below = [0x7f; 32];
        // 10·1/3 = 3.33…: remainder, so rounding depends on the hash.
        assert_eq!(weight(10, 1, 3, &above), Ok(4));
        assert_eq!(weight(10, 1, 3, &below), Ok(3));
        assert_eq!(weight(10, 1, 3, &half), Ok(4)); // own = 3 is odd
        assert_eq!(weight(10, 2, 3, &half), Ok(6)); // own = 6 is even
        assert_eq!(weight(10, 1, 2, &above), Ok(5)); // exact: no rounding
        assert_eq!(weight(W, 3, 3, &above), Ok(W));
        assert_eq!(weight(W, 0, 3, &above), Ok(0));
        assert_eq!(weight(W, 1, 0, &above), Err(SortitionError::ZeroTotalStake));
        assert_eq!(
            weight(W, 4, 3, &above),
            Err(SortitionError::StakeAboveTotal)
        );
        // Huge stakes (wei) do not overflow: floor(W·(T−1)/T) = W − 1 plus rounding.
        assert_eq!(weight(W, u128::MAX - 1, u128::MAX, &below), Ok(W - 1));
        assert_eq!(weight(W, u128::MAX / 2, u128::MAX, &below), Ok(W / 2 - 1));
        assert_eq!(
            choose(&[0; 32], W + 1, 20, W),
            Err(SortitionError::AboveTotalWeight {
                n: W + 1,
                t: 20,
                w: W
            })
        );
        assert_eq!(
            choose(&[0; 32], 5, 20, 0),
            Err(SortitionError::ZeroTotalWeight)
        );
        assert_eq!(choose(&[0x55; 32], 5, 20, 20), Ok(5));
    }

    #[test]
    fn priority_is_min_over_seats() {
        let h = [3u8; 32];
        assert_eq!(priority(&h, 0), None);
        let p1 = priority(&h, 1).unwrap();
        let p20 = priority(&h, 20).unwrap();
        assert!(p20 <= p1);
        for j in 1..20 {
            assert!(priority(&h, j + 1).unwrap() <= priority(&h, j).unwrap());
        }
    }

    fn sample_moments(n: u64, t: u64, seed: u64, samples: usize) -> (f64, f64) {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let js: Vec<f64> = (0..samples)
            .map(|_| {
                let mut h = [0u8; 32];
                rng.fill_bytes(&mut h);
                choose(&h, n, t, W).unwrap() as f64
            })
            .collect();
        let mean = js.iter().sum::<f64>() / samples as f64;
        let var = js.iter().map(|j| (j - mean) * (j - mean)).sum::<f64>() / (samples as f64 - 1.0);
        (mean, var)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// Mean and variance of the seats follow Binomial(n, t/W) (uncapped regime).
        #[test]
        fn seats_follow_the_binomial_law(n in 100_000_000u64..=W, ti in 0usize..4, seed in any::<u64>()) {
            let t = [20u64, 1500, 2990, 5000][ti];
            let p = t as f64 / W as f64;
            let (mean, var) = (n as f64 * p, n as f64 * p * (1.0 - p));
            // Keep the cap min(n, t) far (> 6σ) from the mean so the law is uncapped.
            prop_assume!((t as f64) > mean + 6.0 * var.sqrt());
            let samples = 1500;
            let (m, v) = sample_moments(n, t, seed, samples);
            let se_mean = (var / samples as f64).sqrt();
            let se_var = var * (2.0 / (samples as f64 - 1.0)).sqrt() + 1.0;
            prop_assert!((m - mean).abs() < 5.0 * se_mean, "mean {} vs {}", m, mean);
            prop_assert!((v - var).abs() < 6.0 * se_var, "var {} vs {}", v, var);
        }
    }

    proptest! {
        #[test]
        fn capped_monotone_and_deterministic(
            h1 in proptest::array::uniform32(any::<u8>()),
            h2 in proptest::array::uniform32(any::<u8>()),
            n in 0u64..=W,
            t in 0u64..=5000,
        ) {
            let j1 = choose(&h1, n, t, W).unwrap();
            let j2 = choose(&h2, n, t, W).unwrap();
            prop_assert!(j1 <= n.min(t) && j2 <= n.min(t));
            prop_assert_eq!(choose(&h1, n, t, W).unwrap(), j1);
            if h1 <= h2 {
                prop_assert!(j1 <= j2);
            } else {
                prop_assert!(j1 >= j2);
            }
        }

        #[test]
        fn weight_is_floor_or_ceil(stake in any::<u64>(), extra in 1u64..u64::MAX, h in proptest::array::uniform32(any::<u8>())) {
            let total = u128::from(stake) + u128::from(extra);
            let w = weight(W, u128::from(stake), total, &h).unwrap();
            let exact = u128::from(W) * u128::from(stake) / total;
            prop_assert!(u128::from(w) == exact || u128::from(w) == exact + 1);
        }
    }
}
