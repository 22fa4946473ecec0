//! The EVM's view of the state tree: accounts, code and storage read from the tree (through a
//! cache that lives for one batch), and every change written back as a tree update with its
//! proof, in execution order.

use std::collections::HashMap;

use revm::bytecode::Bytecode;
use revm::primitives::{keccak256, Address, Bytes, StorageKey, StorageValue, B256, KECCAK_EMPTY};
use revm::state::{AccountInfo, EvmState};
use revm::Database;
use ruint::aliases::U256;
use zknode_state::keys;
use zknode_state::{Hash, NodeReader, StateTree, UpdateProof};

use crate::system::{mapping_slot, STATE_ROOT_SLOT, SYSTEM_ADDRESS};

/// Where contract bytecode is found by its Poseidon hash (the tree holds only the hash).
pub trait CodeSource {
    fn code(&self, hash: &Hash) -> Option<Bytes>;
}

impl CodeSource for HashMap<Hash, Bytes> {
    fn code(&self, hash: &Hash) -> Option<Bytes> {
        self.get(hash).cloned()
    }
}

/// Failures of the state underneath execution (never caused by the batch's contents).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Tree(#[from] zknode_state::Error),
    #[error("account {address}: {what} is {value}, above 2^64")]
    Overflow {
        address: Address,
        what: &'static str,
        value: U256,
    },
    #[error("account {address}: bytecode with hash {hash} is not in the code store")]
    MissingCode { address: Address, hash: Hash },
    #[error("the EVM failed: {0}")]
    Evm(String),
}

impl revm::database_interface::DBErrorMarker for StateError {}

/// One account as the tree holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Cached {
    balance: U256,
    nonce: u64,
    /// Poseidon bytecode hash (zero: no code).
    code_hash: Hash,
    code: Option<Bytes>,
}

fn addr(a: &Address) -> keys::Address {
    a.0 .0
}

/// The state tree under the EVM for the length of one batch.
pub struct StateDb<'c, S> {
    tree: StateTree<S>,
    codes: &'c dyn CodeSource,
    new_code: HashMap<Hash, Bytes>,
    accounts: HashMap<Address, Cached>,
    storage: HashMap<(Address, U256), U256>,
    ops: Vec<UpdateProof>,
}

impl<'c, S: NodeReader> StateDb<'c, S> {
    pub fn new(tree: StateTree<S>, codes: &'c dyn CodeSource) -> Self {
        Self {
            tree,
            codes,
            new_code: HashMap::new(),
            accounts: HashMap::new(),
            storage: HashMap::new(),
            ops: Vec::new(),
        }
    }

    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// The tree updates so far, in order.
    pub fn ops(&self) -> &[UpdateProof] {
        &self.ops
    }

    /// Ends the batch: the tree, its updates, and the bytecode the batch deployed.
    pub fn finish(self) -> (StateTree<S>, Vec<UpdateProof>, HashMap<Hash, Bytes>) {
        (self.tree, self.ops, self.new_code)
    }

    /// Undoes every update since the start of the batch (the tree is canonical, so writing the
    /// old values back in reverse order restores the old root exactly).
    pub fn rollback(&mut self) -> Result<(), StateError> {
        let ops = std::mem::take(&mut self.ops);
        for op in ops.iter().rev() {
            self.tree.set(op.key, op.old_value)?;
        }
        self.accounts.clear();
        self.storage.clear();
        self.new_code.clear();
        Ok(())
    }

    fn write(&mut self, key: Hash, value: U256) -> Result<(), StateError> {
        let p = self.tree.set(key, value)?;
        if p.old_value != p.new_value {
            self.ops.push(p);
        }
        Ok(())
    }

    fn account(&mut self, a: Address) -> Result<&Cached, StateError> {
        if !self.accounts.contains_key(&a) {
            let k = addr(&a);
            let balance = self.tree.get(&keys::balance_key(&k))?;
            let nonce_v = self.tree.get(&keys::nonce_key(&k))?;
            let nonce = u64::try_from(nonce_v).map_err(|_| StateError::Overflow {
                address: a,
                what: "nonce",
                value: nonce_v,
            })?;
            let h = self.tree.get(&keys::code_key(&k))?;
            let code_hash = Hash::from_u256(h).ok_or_else(|| {
                StateError::Tree(zknode_state::Error::CorruptNode {
                    hash: self.tree.root(),
                    reason: format!("code hash leaf of {a} is not four field elements"),
                })
            })?;
            let code = if code_hash.is_zero() {
                None
            } else {
                Some(
                    self.new_code
                        .get(&code_hash)
                        .cloned()
                        .or_else(|| self.codes.code(&code_hash))
                        .ok_or(StateError::MissingCode {
                            address: a,
                            hash: code_hash,
                        })?,
                )
            };
            self.accounts.insert(
                a,
                Cached {
                    balance,
                    nonce,
                    code_hash,
                    code,
                },
            );
        }
        Ok(&self.accounts[&a])
    }

    pub fn balance(&mut self, a: Address) -> Result<U256, StateError> {
        Ok(self.account(a)?.balance)
    }

    pub fn nonce(&mut self, a: Address) -> Result<u64, StateError> {
        Ok(self.account(a)?.nonce)
    }

    /// Bytecode length (0 for an account without code).
    pub fn code_len(&mut self, a: Address) -> Result<usize, StateError> {
        Ok(self.account(a)?.code.as_ref().map_or(0, |c| c.len()))
    }

    pub fn storage_value(&mut self, a: Address, slot: U256) -> Result<U256, StateError> {
        if let Some(v) = self.storage.get(&(a, slot)) {
            return Ok(*v);
        }
        let v = self.tree.get(&keys::storage_key(&addr(&a), slot))?;
        self.storage.insert((a, slot), v);
        Ok(v)
    }

    /// Writes one storage slot (system updates; the EVM's own go through [`Self::apply`]).
    pub fn set_storage(&mut self, a: Address, slot: U256, value: U256) -> Result<(), StateError> {
        if self.storage_value(a, slot)? != value {
            self.write(keys::storage_key(&addr(&a), slot), value)?;
            self.storage.insert((a, slot), value);
        }
        Ok(())
    }

    /// Writes what a transaction changed: balance, nonce, new code (hash and length) and
    /// storage of every touched account.
    pub fn apply(&mut self, state: &EvmState) -> Result<(), StateError> {
        let mut touched: Vec<(&Address, &revm::state::Account)> =
            state.iter().filter(|(_, acc)| acc.is_touched()).collect();
        // Deterministic update order (the proof list is part of the batch witness).
        touched.sort_unstable_by_key(|(a, _)| **a);
        for (a, acc) in touched {
            let old = self.account(*a)?.clone();
            let k = addr(a);
            let mut new = old.clone();
            new.balance = acc.info.balance;
            if old.balance != new.balance {
                self.write(keys::balance_key(&k), new.balance)?;
            }
            // SELFDESTRUCT on Polygon zkEVM is SENDALL: only the balance moves.
            if !acc.is_selfdestructed() {
                new.nonce = acc.info.nonce;
                if old.nonce != new.nonce {
                    self.write(keys::nonce_key(&k), U256::from(new.nonce))?;
                }
                if old.code.is_none() {
                    if let Some(code) = acc.info.code.as_ref().map(|c| c.original_bytes()) {
                        if !code.is_empty() {
                            let h = keys::hash_bytecode(&code);
                            self.write(keys::code_key(&k), h.to_u256())?;
                            self.write(keys::code_length_key(&k), U256::from(code.len()))?;
                            self.new_code.insert(h, code.clone());
                            new.code_hash = h;
                            new.code = Some(code);
                        }
                    }
                }
                let mut slots: Vec<(&StorageKey, &revm::state::EvmStorageSlot)> =
                    acc.storage.iter().collect();
                slots.sort_unstable_by_key(|(s, _)| **s);
                for (slot, v) in slots {
                    let slot = U256::from_limbs(*slot.as_limbs());
                    let value = U256::from_limbs(*v.present_value.as_limbs());
                    self.set_storage(*a, slot, value)?;
                }
            }
            self.accounts.insert(*a, new);
        }
        Ok(())
    }
}

impl<S: NodeReader> Database for StateDb<'_, S> {
    type Error = StateError;

    fn basic(&mut self, a: Address) -> Result<Option<AccountInfo>, StateError> {
        let c = self.account(a)?;
        if c.balance.is_zero() && c.nonce == 0 && c.code.is_none() {
            return Ok(None);
        }
        let (code_hash, code) = match &c.code {
            Some(b) => (keccak256(b), Some(Bytecode::new_raw(b.clone()))),
            None => (KECCAK_EMPTY, None),
        };
        Ok(Some(AccountInfo {
            balance: c.balance,
            nonce: c.nonce,
            code_hash,
            code,
            ..Default::default()
        }))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, StateError> {
        // `basic` always hands out the code with the account, so only the empty code is asked
        // for by hash.
        if code_hash == KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        Err(StateError::Evm(format!(
            "bytecode asked for by keccak hash {code_hash}, which is not indexed"
        )))
    }

    fn storage(&mut self, a: Address, index: StorageKey) -> Result<StorageValue, StateError> {
        let v = self.storage_value(a, U256::from_limbs(*index.as_limbs()))?;
        Ok(StorageValue::from_limbs(*v.as_limbs()))
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, StateError> {
        // The system contract keeps each finished block's state root, which is its hash.
        let v = self.storage_value(
            SYSTEM_ADDRESS,
            mapping_slot(U256::from(number), STATE_ROOT_SLOT),
        )?;
        Ok(B256::from(v.to_be_bytes::<32>()))
    }
}
