//! Account state at a block's root, read from the state tree.

use alloy_primitives::{Address, B256, U256};
use zknode_pool::AccountReader;
use zknode_state::{keys, CodeStore, RocksStore, StateTree};

use crate::RpcError;

pub(crate) fn root_hash(b: &B256) -> Result<zknode_state::Hash, RpcError> {
    zknode_state::Hash::from_u256(U256::from_be_bytes(b.0))
        .ok_or_else(|| RpcError::internal("stored root", format!("{b} is not a tree root")))
}

/// Account reads at one state root.
pub(crate) struct AtRoot<'a> {
    tree: StateTree<&'a RocksStore>,
}

impl<'a> AtRoot<'a> {
    pub(crate) fn new(store: &'a RocksStore, root: &B256) -> Result<Self, RpcError> {
        Ok(Self {
            tree: StateTree::at_root(store, root_hash(root)?),
        })
    }

    pub(crate) fn read(&self, key: &zknode_state::Hash) -> Result<U256, RpcError> {
        self.tree
            .get(key)
            .map_err(|e| RpcError::internal("state tree", e))
    }

    pub(crate) fn balance(&self, a: &Address) -> Result<U256, RpcError> {
        self.read(&keys::balance_key(&a.0 .0))
    }

    pub(crate) fn nonce(&self, a: &Address) -> Result<u64, RpcError> {
        Ok(u64::try_from(self.read(&keys::nonce_key(&a.0 .0))?).unwrap_or(u64::MAX))
    }

    pub(crate) fn code(&self, a: &Address) -> Result<Vec<u8>, RpcError> {
        let h = self.read(&keys::code_key(&a.0 .0))?;
        if h.is_zero() {
            return Ok(Vec::new());
        }
        let hash = zknode_state::Hash::from_u256(h)
            .ok_or_else(|| RpcError::internal("state tree", "a code hash is not canonical"))?;
        Ok(self
            .tree
            .store()
            .get_code(&hash)
            .map_err(|e| RpcError::internal("code store", e))?
            .unwrap_or_default())
    }

    pub(crate) fn storage(&self, a: &Address, slot: U256) -> Result<U256, RpcError> {
        self.read(&keys::storage_key(&a.0 .0, slot))
    }
}

impl AccountReader for AtRoot<'_> {
    fn account(&self, address: Address) -> Result<(u64, U256), String> {
        let n = self.nonce(&address).map_err(|e| e.message)?;
        let b = self.balance(&address).map_err(|e| e.message)?;
        Ok((n, b))
    }
}
