//! State and block overrides for read-only calls (`eth_call`'s third and fourth parameters, as
//! geth takes them): what an account's balance, nonce, code or storage is for one call, and
//! the block it runs in. Nothing here reaches the tree: the overrides sit in front of the
//! [`crate::StateDb`] reads the EVM makes.

use std::collections::HashMap;

use revm::primitives::{Address, Bytes};
use ruint::aliases::U256;

/// One account's overrides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountOverride {
    pub balance: Option<U256>,
    pub nonce: Option<u64>,
    pub code: Option<Bytes>,
    /// The whole storage: slots not named read as zero.
    pub state: Option<HashMap<U256, U256>>,
    /// Slots replaced; the others read as stored.
    pub state_diff: HashMap<U256, U256>,
}

/// Overrides by account.
pub type StateOverrides = HashMap<Address, AccountOverride>;

/// The block a call runs in, where it should not be the last stored block's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockOverrides {
    pub number: Option<u64>,
    pub time: Option<u64>,
    pub coinbase: Option<Address>,
    pub gas_limit: Option<u64>,
    pub prev_randao: Option<revm::primitives::B256>,
}

impl AccountOverride {
    /// The overridden value of `slot`: `Some` when the override decides it.
    pub(crate) fn slot(&self, slot: &U256) -> Option<U256> {
        match &self.state {
            Some(all) => Some(all.get(slot).copied().unwrap_or_default()),
            None => self.state_diff.get(slot).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_replaces_all_slots_state_diff_only_its_own() {
        let one = U256::from(1);
        let two = U256::from(2);
        let full = AccountOverride {
            state: Some(HashMap::from([(one, two)])),
            ..Default::default()
        };
        assert_eq!(full.slot(&one), Some(two));
        assert_eq!(full.slot(&two), Some(U256::ZERO));
        let diff = AccountOverride {
            state_diff: HashMap::from([(one, two)]),
            ..Default::default()
        };
        assert_eq!(diff.slot(&one), Some(two));
        assert_eq!(diff.slot(&two), None);
    }
}
