//! The chain configuration (geth's `genesis.json` `config` object plus Kaleido's
//! `algorand` section) and the EVM fork schedule it implies.

use alloy_primitives::U256;
use revm::primitives::hardfork::SpecId;
use serde::{Deserialize, Serialize};

use crate::execution::miner::contract::{EvidenceConfig, MinerContractConfig};
use spec::absence::AbsenceRule;
use spec::registration::RegistrationLimits;

/// What is wrong with a chain configuration (a genesis file's `config`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `config.chainId` is missing or zero.
    #[error("config.chainId is missing or zero")]
    MissingChainId,
    /// `config.algorand` is missing.
    #[error("config.algorand is missing")]
    MissingAlgorand,
    /// `config.algorand` has invalid values.
    #[error("config.algorand: {0}")]
    InvalidAlgorand(&'static str),
    /// A fork is scheduled before (or without) a fork that must precede it.
    #[error("fork {fork} is scheduled before {earlier} (or {earlier} is unset)")]
    ForkOrder {
        /// The later fork.
        fork: &'static str,
        /// The fork that must come first.
        earlier: &'static str,
    },
}

/// How consensus committees are chosen (the consensus crate interprets it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommitteeMode {
    /// Algorand's stake-weighted VRF sortition.
    #[default]
    Sortition,
    /// Every registered miner votes with its exact weight.
    Fixed,
}

/// Kaleido's `config.algorand` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlgorandConfig {
    /// 2λ in milliseconds.
    pub timeout_two_lambda: u64,
    /// Total sortition weight W.
    pub total_weight: u64,
    /// Blocks per miner-key interval.
    pub interval_size: u64,
    /// Committee selection.
    #[serde(default)]
    pub committee_mode: CommitteeMode,
    /// Blocks per reward "year" (40 / 20 / 10 coins per block); Kaleido mainnet 10,512,000.
    #[serde(default = "default_block_year")]
    pub block_year: u64,
    /// Stake lookback `L` (kalgo's fix for W5): stakes and the miner set for height
    /// `h` are read from the state after block `h − 1 − L`; must be below
    /// `spec::registration::MIN_START_DELAY`. 0 is Kaleido's behaviour.
    #[serde(default)]
    pub stake_lookback: u64,
    /// Heights per forward-secure vote sub-key (Kaleido §2.2 lifespan), the same
    /// for every miner of the chain: votes are verified with this value, so a key
    /// registered with another lifespan cannot vote. Default 100 (Kaleido's).
    #[serde(default = "default_lifespan")]
    pub lifespan: u64,
    /// First block of kalgo's registration limits (absent: never, so an existing
    /// chain keeps executing as before until its operators schedule them; new
    /// chains have them from genesis): a new registration must come straight
    /// from its stake owner's own transaction (no contract registers on anyone's
    /// behalf), hold at least `minerMinStake`, and fit the block's
    /// `maxRegistrationsPerBlock` and the interval's list (refused, never cut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_rules_block: Option<u64>,
    /// Least stake (balance, wei) a new registration needs under the limits.
    #[serde(default)]
    pub miner_min_stake: U256,
    /// Most new registrations one block may hold under the limits.
    #[serde(default = "default_max_registrations_per_block")]
    pub max_registrations_per_block: u64,
    /// Whether round 1's proposal wait (the filter timer) is set by each node
    /// from the arrival times of recent best proposals (go-algorand v39's
    /// dynamic filter timeout) instead of 2λ. Absent: off, as before.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dynamic_filter_timeout: bool,
    /// Least round-1 proposal wait in milliseconds under
    /// `dynamicFilterTimeout`: at least 1, at most `timeoutTwoLambda`.
    /// Absent: a tenth of 2λ ([`AlgorandConfig::filter_timeout_min_ms`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_timeout_min: Option<u64>,
    /// First block of kalgo's equivocation penalties (absent: never, so an
    /// existing chain keeps executing exactly as before, the miner contract's
    /// `reportEquivocation` and `suspendedUntil` included; new chains have them
    /// from genesis): from it on, `reportEquivocation` takes evidence and
    /// suspends the miner it proves equivocated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equivocation_rules_block: Option<u64>,
    /// Blocks a miner proven to equivocate stays suspended, counted from the
    /// block that carries the evidence; also how old evidence may be. More
    /// than `stakeLookback`.
    #[serde(default = "default_equivocation_suspension")]
    pub equivocation_suspension: u64,
    /// First block of kalgo's absentee rule (`spec::absence`; absent: never,
    /// so an existing chain keeps executing exactly as before, the miner
    /// contract's `heartbeat` and `liveness` included; new chains have it from
    /// genesis): from it on every block records its proposer as seen and marks
    /// absent the miners silent for too long, which leave the committees until
    /// they send `heartbeat()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absentee_rules_block: Option<u64>,
    /// How many times its expected blocks per proposal (`total / stake`) a
    /// miner may stay silent, on top of `stakeLookback`, before it is marked
    /// absent. At least 1.
    #[serde(default = "default_absentee_factor")]
    pub absentee_factor: u64,
}

fn default_absentee_factor() -> u64 {
    spec::absence::DEFAULT_ABSENTEE_FACTOR
}

/// New chains' `equivocationSuspension`: 100,000 blocks (about 2.3 days at 2 s).
pub const DEFAULT_EQUIVOCATION_SUSPENSION: u64 = 100_000;

fn default_equivocation_suspension() -> u64 {
    DEFAULT_EQUIVOCATION_SUSPENSION
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl AlgorandConfig {
    /// The least round-1 proposal wait under `dynamicFilterTimeout`, in ms:
    /// `filterTimeoutMin`, or a tenth of 2λ (at least 1 ms).
    pub fn filter_timeout_min_ms(&self) -> u64 {
        self.filter_timeout_min
            .unwrap_or(self.timeout_two_lambda / 10)
            .max(1)
    }
}

fn default_max_registrations_per_block() -> u64 {
    64
}

fn default_block_year() -> u64 {
    10_512_000
}

fn default_lifespan() -> u64 {
    spec::registration::DEFAULT_LIFESPAN
}

impl Default for AlgorandConfig {
    fn default() -> Self {
        Self {
            timeout_two_lambda: 2000,
            total_weight: 10_000_000_000,
            interval_size: 1_000_000,
            committee_mode: CommitteeMode::Sortition,
            block_year: default_block_year(),
            stake_lookback: 0,
            lifespan: default_lifespan(),
            registration_rules_block: Some(0),
            miner_min_stake: U256::from(COIN),
            max_registrations_per_block: default_max_registrations_per_block(),
            dynamic_filter_timeout: false,
            filter_timeout_min: None,
            equivocation_rules_block: Some(0),
            equivocation_suspension: DEFAULT_EQUIVOCATION_SUSPENSION,
            absentee_rules_block: Some(0),
            absentee_factor: spec::absence::DEFAULT_ABSENTEE_FACTOR,
        }
    }
}

/// The `config` object of a genesis file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainConfig {
    /// EIP-155 chain id (required).
    pub chain_id: Option<u64>,
    /// Homestead activation block.
    pub homestead_block: Option<u64>,
    /// EIP-150 (Tangerine Whistle) activation block.
    #[serde(rename = "eip150Block")]
    pub eip150_block: Option<u64>,
    /// EIP-155 activation block (replay protection; part of Spurious Dragon).
    #[serde(rename = "eip155Block")]
    pub eip155_block: Option<u64>,
    /// EIP-158/161 (Spurious Dragon) activation block.
    #[serde(rename = "eip158Block")]
    pub eip158_block: Option<u64>,
    /// Byzantium activation block.
    pub byzantium_block: Option<u64>,
    /// Constantinople activation block (run as Petersburg: revm has no EIP-1283 spec).
    pub constantinople_block: Option<u64>,
    /// Petersburg activation block.
    pub petersburg_block: Option<u64>,
    /// Istanbul activation block.
    pub istanbul_block: Option<u64>,
    /// Berlin activation block.
    pub berlin_block: Option<u64>,
    /// London activation block.
    pub london_block: Option<u64>,
    /// Shanghai activation time (also switches on post-merge semantics: PREVRANDAO).
    pub shanghai_time: Option<u64>,
    /// Cancun activation time.
    pub cancun_time: Option<u64>,
    /// Prague activation time.
    pub prague_time: Option<u64>,
    /// Kaleido's consensus parameters.
    pub algorand: Option<AlgorandConfig>,
}

/// One KAL in wei.
const COIN: u128 = 1_000_000_000_000_000_000;

impl ChainConfig {
    /// A new chain: every fork up to Prague active from genesis (Prague is the
    /// newest spec used here; Osaka's per-tx gas cap is not wanted yet).
    pub fn new_chain(chain_id: u64) -> Self {
        Self {
            chain_id: Some(chain_id),
            homestead_block: Some(0),
            eip150_block: Some(0),
            eip155_block: Some(0),
            eip158_block: Some(0),
            byzantium_block: Some(0),
            constantinople_block: Some(0),
            petersburg_block: Some(0),
            istanbul_block: Some(0),
            berlin_block: Some(0),
            london_block: Some(0),
            shanghai_time: Some(0),
            cancun_time: Some(0),
            prague_time: Some(0),
            algorand: Some(AlgorandConfig::default()),
        }
    }

    /// Kaleido's mainnet schedule: Homestead 1, EIP-150 2, EIP-155/158 3, Byzantium 4.
    pub fn kaleido(chain_id: u64) -> Self {
        Self {
            chain_id: Some(chain_id),
            homestead_block: Some(1),
            eip150_block: Some(2),
            eip155_block: Some(3),
            eip158_block: Some(3),
            byzantium_block: Some(4),
            algorand: Some(AlgorandConfig::default()),
            ..Default::default()
        }
    }

    /// The chain id (validated configs always have one).
    pub fn chain_id(&self) -> u64 {
        self.chain_id.unwrap_or_default()
    }

    fn block_forks(&self) -> [(&'static str, Option<u64>); 11] {
        [
            ("homesteadBlock", self.homestead_block),
            ("eip150Block", self.eip150_block),
            ("eip155Block", self.eip155_block),
            ("eip158Block", self.eip158_block),
            ("byzantiumBlock", self.byzantium_block),
            ("constantinopleBlock", self.constantinople_block),
            ("petersburgBlock", self.petersburg_block),
            ("istanbulBlock", self.istanbul_block),
            ("berlinBlock", self.berlin_block),
            ("londonBlock", self.london_block),
            ("", None),
        ]
    }

    /// Checks the chain id and that forks are activated in order.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.chain_id.is_none_or(|id| id == 0) {
            return Err(ConfigError::MissingChainId);
        }
        if self.algorand.is_none() {
            return Err(ConfigError::MissingAlgorand);
        }
        check_order(
            self.block_forks()
                .into_iter()
                .filter(|(n, _)| !n.is_empty()),
        )?;
        check_order(
            [
                ("shanghaiTime", self.shanghai_time),
                ("cancunTime", self.cancun_time),
                ("pragueTime", self.prague_time),
            ]
            .into_iter(),
        )?;
        if self.shanghai_time.is_some() && self.london_block.is_none() {
            return Err(ConfigError::ForkOrder {
                fork: "shanghaiTime",
                earlier: "londonBlock",
            });
        }
        if let Some(a) = &self.algorand
            && (a.timeout_two_lambda == 0 || a.total_weight == 0 || a.interval_size == 0)
        {
            return Err(ConfigError::InvalidAlgorand(
                "timeoutTwoLambda, totalWeight and intervalSize must be positive",
            ));
        }
        if let Some(a) = &self.algorand
            && (a.lifespan == 0 || a.lifespan > spec::registration::MAX_LIFESPAN)
        {
            return Err(ConfigError::InvalidAlgorand(
                "lifespan must be between 1 and 100",
            ));
        }
        if let Some(a) = &self.algorand
            && u128::try_from(a.miner_min_stake).is_err()
        {
            return Err(ConfigError::InvalidAlgorand(
                "minerMinStake must fit 128 bits (stake is read as a 128-bit number)",
            ));
        }
        if let Some(a) = &self.algorand
            && a.filter_timeout_min
                .is_some_and(|m| m == 0 || m > a.timeout_two_lambda)
        {
            return Err(ConfigError::InvalidAlgorand(
                "filterTimeoutMin must be between 1 and timeoutTwoLambda (ms)",
            ));
        }
        if let Some(a) = &self.algorand
            && a.equivocation_suspension <= a.stake_lookback
        {
            return Err(ConfigError::InvalidAlgorand(
                "equivocationSuspension must be more than stakeLookback blocks",
            ));
        }
        if let Some(a) = &self.algorand
            && a.absentee_factor == 0
        {
            return Err(ConfigError::InvalidAlgorand(
                "absenteeFactor must be at least 1",
            ));
        }
        if let Some(a) = &self.algorand
            && a.stake_lookback >= spec::registration::MIN_START_DELAY
        {
            return Err(ConfigError::InvalidAlgorand(
                "stakeLookback must be below the registration delay (100)",
            ));
        }
        Ok(())
    }

    /// The miner contract's settings (enabled whenever `config.algorand` is set).
    pub fn miner_contract(&self) -> Option<MinerContractConfig> {
        self.algorand.as_ref().map(|a| MinerContractConfig {
            interval: a.interval_size,
            limits: a.registration_rules_block.map(|from| RegistrationLimits {
                from,
                min_stake: u128::try_from(a.miner_min_stake).unwrap_or(u128::MAX),
                per_block: a.max_registrations_per_block,
            }),
            evidence: a.equivocation_rules_block.map(|from| EvidenceConfig {
                from,
                suspension: a.equivocation_suspension,
                lookback: a.stake_lookback,
                chain_id: self.chain_id(),
                lifespan: a.lifespan,
            }),
            absence: a.absentee_rules_block.map(|from| AbsenceRule {
                from,
                factor: a.absentee_factor,
                lookback: a.stake_lookback,
            }),
        })
    }

    /// The stake lookback (0 without `config.algorand`).
    pub fn stake_lookback(&self) -> u64 {
        self.algorand.as_ref().map_or(0, |a| a.stake_lookback)
    }

    /// The revm spec active for a block at `number` with `timestamp`.
    pub fn spec_at(&self, number: u64, timestamp: u64) -> SpecId {
        let at_block = |b: Option<u64>| b.is_some_and(|b| number >= b);
        let at_time = |t: Option<u64>| t.is_some_and(|t| timestamp >= t);
        if at_time(self.prague_time) {
            SpecId::PRAGUE
        } else if at_time(self.cancun_time) {
            SpecId::CANCUN
        } else if at_time(self.shanghai_time) {
            SpecId::SHANGHAI
        } else if at_block(self.london_block) {
            SpecId::LONDON
        } else if at_block(self.berlin_block) {
            SpecId::BERLIN
        } else if at_block(self.istanbul_block) {
            SpecId::ISTANBUL
        } else if at_block(self.petersburg_block) || at_block(self.constantinople_block) {
            SpecId::PETERSBURG
        } else if at_block(self.byzantium_block) {
            SpecId::BYZANTIUM
        } else if at_block(self.eip158_block) {
            SpecId::SPURIOUS_DRAGON
        } else if at_block(self.eip150_block) {
            SpecId::TANGERINE
        } else if at_block(self.homestead_block) {
            SpecId::HOMESTEAD
        } else {
            SpecId::FRONTIER
        }
    }

    /// Block reward paid to the coinbase at height `number` (Kaleido's schedule:
    /// 40 coins up to one block-year, 20 up to two, then 10).
    pub fn block_reward(&self, number: u64) -> U256 {
        let year = self
            .algorand
            .as_ref()
            .map_or_else(default_block_year, |a| a.block_year);
        let coins: u128 = if number <= year {
            40
        } else if number <= year.saturating_mul(2) {
            20
        } else {
            10
        };
        U256::from(coins * COIN)
    }
}

fn check_order(
    forks: impl Iterator<Item = (&'static str, Option<u64>)>,
) -> Result<(), ConfigError> {
    let mut last: Option<(&'static str, Option<u64>)> = None;
    for (name, at) in forks {
        if let Some((prev_name, prev_at)) = last {
            match (prev_at, at) {
                (None, Some(_)) => {
                    return Err(ConfigError::ForkOrder {
                        fork: name,
                        earlier: prev_name,
                    });
                }
                (Some(p), Some(n)) if n < p => {
                    return Err(ConfigError::ForkOrder {
                        fork: name,
                        earlier: prev_name,
                    });
                }
                _ => {}
            }
        }
        last = Some((name, at));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kaleido_schedule_is_byzantium_from_block_4() {
        let c = ChainConfig::kaleido(888);
        assert!(c.validate().is_ok());
        assert_eq!(c.spec_at(0, 0), SpecId::FRONTIER);
        assert_eq!(c.spec_at(3, 0), SpecId::SPURIOUS_DRAGON);
        assert_eq!(c.spec_at(4, 0), SpecId::BYZANTIUM);
        assert_eq!(c.spec_at(10_000_000, u64::MAX), SpecId::BYZANTIUM);
    }

    #[test]
    fn new_chain_is_prague() {
        let c = ChainConfig::new_chain(1337);
        assert!(c.validate().is_ok());
        assert_eq!(c.spec_at(0, 0), SpecId::PRAGUE);
    }

    #[test]
    fn out_of_order_forks_are_rejected() {
        let mut c = ChainConfig::kaleido(888);
        c.byzantium_block = Some(1);
        assert_eq!(
            c.validate(),
            Err(ConfigError::ForkOrder {
                fork: "byzantiumBlock",
                earlier: "eip158Block"
            })
        );
        let mut c = ChainConfig::kaleido(888);
        c.london_block = Some(10);
        assert!(matches!(c.validate(), Err(ConfigError::ForkOrder { .. })));
        let mut c = ChainConfig::kaleido(888);
        c.chain_id = None;
        assert_eq!(c.validate(), Err(ConfigError::MissingChainId));
    }

    #[test]
    fn filter_timeout_keys_default_off_and_are_checked() {
        let with = |json: &str| -> Result<ChainConfig, String> {
            let text = format!(
                r#"{{ "chainId": 5, "algorand": {{ "timeoutTwoLambda": 1000,
                "totalWeight": 100, "intervalSize": 10 {json} }} }}"#
            );
            let c: ChainConfig = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            c.validate().map_err(|e| e.to_string())?;
            Ok(c)
        };
        let off = with("").expect("no keys");
        let a = off.algorand.clone().expect("algorand");
        assert!(!a.dynamic_filter_timeout);
        assert_eq!(a.filter_timeout_min_ms(), 100);
        // Absent keys stay absent when written back (existing genesis files
        // keep their bytes).
        let written = serde_json::to_string(&off).expect("json");
        assert!(!written.contains("dynamicFilterTimeout"), "{written}");
        assert!(!written.contains("filterTimeoutMin"), "{written}");
        let on =
            with(r#", "dynamicFilterTimeout": true, "filterTimeoutMin": 250"#).expect("valid keys");
        let a = on.algorand.expect("algorand");
        assert!(a.dynamic_filter_timeout);
        assert_eq!(a.filter_timeout_min_ms(), 250);
        assert!(with(r#", "filterTimeoutMin": 1000"#).is_ok());
        for bad in [
            r#", "filterTimeoutMin": 0"#,
            r#", "filterTimeoutMin": 1001"#,
        ] {
            let e = with(bad).expect_err(bad);
            assert!(
                e.contains("filterTimeoutMin must be between 1"),
                "{bad}: {e}"
            );
        }
        let e = with(r#", "dynamicFilterTimeout": "yes""#).expect_err("not a bool");
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn reward_schedule() {
        let mut c = ChainConfig::kaleido(889);
        if let Some(a) = c.algorand.as_mut() {
            a.block_year = 1000;
        }
        assert_eq!(c.block_reward(1000), U256::from(40 * COIN));
        assert_eq!(c.block_reward(1001), U256::from(20 * COIN));
        assert_eq!(c.block_reward(2001), U256::from(10 * COIN));
    }
}
