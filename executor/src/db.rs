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
use zknode_state::{CodeStore, Hash, NodeReader, StateTree, UpdateProof};

/// Writes back the value each key had before the first of `writes`: the tree is canonical, so
/// this restores the root the writes started from.
pub fn rewind<S: NodeReader>(
    tree: &mut StateTree<S>,
    writes: &[StateWrite],
) -> Result<(), StateError> {
    let mut first_old: HashMap<Hash, U256> = HashMap::new();
    for w in writes {
        first_old.entry(w.key).or_insert(w.old_value);
    }
    if !first_old.is_empty() {
        let kv: Vec<(Hash, U256)> = first_old.into_iter().collect();
        tree.apply_batch(&kv)?;
    }
    Ok(())
}

/// Replays `writes` on `tree` (at the batch's old root) one by one, returning each update's
/// proof against the running root: the state operations of the batch witness.
pub fn prove_writes<S: NodeReader>(
    tree: &mut StateTree<S>,
    writes: &[StateWrite],
) -> Result<Vec<UpdateProof>, StateError> {
    writes
        .iter()
        .map(|w| {
            let p = tree.set(w.key, w.new_value)?;
            debug_assert_eq!(p.old_value, w.old_value);
            Ok(p)
        })
        .collect()
}

use crate::system::{mapping_slot, STATE_ROOT_SLOT, SYSTEM_ADDRESS};

/// Where contract bytecode is found by its Poseidon hash (the tree holds only the hash).
pub trait CodeSource: Sync {
    fn code(&self, hash: &Hash) -> Result<Option<Bytes>, StateError>;
}

impl CodeSource for HashMap<Hash, Bytes> {
    fn code(&self, hash: &Hash) -> Result<Option<Bytes>, StateError> {
        Ok(self.get(hash).cloned())
    }
}

/// The node's code store: the `code` column of the state database.
impl CodeSource for zknode_state::RocksStore {
    fn code(&self, hash: &Hash) -> Result<Option<Bytes>, StateError> {
        Ok(self.get_code(hash)?.map(Bytes::from))
    }
}

impl<T: CodeSource> CodeSource for &T {
    fn code(&self, hash: &Hash) -> Result<Option<Bytes>, StateError> {
        (**self).code(hash)
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
    /// Tree keys of the balance, nonce and code-hash leaves.
    keys: [Hash; 3],
}

fn addr(a: &Address) -> keys::Address {
    a.0 .0
}

fn account_keys(a: &Address) -> [Hash; 3] {
    let k = addr(a);
    [
        keys::balance_key(&k),
        keys::nonce_key(&k),
        keys::code_key(&k),
    ]
}

/// What a tree key is derived from: the account, the leaf type (0 balance, 1 nonce, 2 code
/// hash, 3 storage, 4 code length) and, for storage, the slot. The batch witness carries it so
/// the prover can show the key is the Poseidon derivation of the account's.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct KeySource {
    pub address: keys::Address,
    pub leaf_type: u8,
    pub slot: U256,
}

impl KeySource {
    fn account(a: &Address, leaf: keys::LeafType) -> Self {
        Self {
            address: addr(a),
            leaf_type: leaf as u8,
            slot: U256::ZERO,
        }
    }
}

/// One state-tree write of a batch, with the value it replaced.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct StateWrite {
    pub key: Hash,
    pub source: KeySource,
    pub old_value: U256,
    pub new_value: U256,
}

/// What a finished batch leaves: the tree at the new root (new nodes pending), the writes in
/// order, and the bytecode the batch deployed.
pub type Finished<S> = (StateTree<S>, Vec<StateWrite>, HashMap<Hash, Bytes>);

/// What undoes one change since the last checkpoint (see [`StateDb::checkpoint`]).
#[derive(Debug)]
enum Undo {
    /// The unflushed write of a key before (none: there was none).
    Pending(Hash, Option<(KeySource, U256, U256)>),
    /// A storage slot's cached value before.
    Storage((Address, U256), U256),
    /// An account as cached before.
    Account(Address, Cached),
    /// Bytecode that was not known before.
    Code(Hash),
}

/// The state tree under the EVM for the length of one batch.
///
/// Writes are buffered and reach the tree at [`StateDb::flush`] (the executor flushes at every
/// L2 block boundary, where the state root is observable), as one parallel batched update of
/// the block's net changes. The tree is canonical, so the roots are those of writing each change
/// as it happens; the ordered [`StateWrite`]s let [`prove_writes`] rebuild the per-update proofs.
///
/// Unflushed changes can be undone back to a checkpoint (the executor takes one before each
/// transaction, so that a sequencer can drop a transaction that does not fit its batch).
pub struct StateDb<'c, S> {
    tree: StateTree<S>,
    codes: &'c dyn CodeSource,
    new_code: HashMap<Hash, Bytes>,
    accounts: HashMap<Address, Cached>,
    storage: HashMap<(Address, U256), U256>,
    /// Unflushed writes: key → (value before the block, value now).
    pending: HashMap<Hash, (KeySource, U256, U256)>,
    /// Flushed writes, in order.
    writes: Vec<StateWrite>,
    /// Since the last checkpoint, newest last; `None` when there is none to return to.
    journal: Option<Vec<Undo>>,
    /// What a read-only call sees in place of the state (never set on a batch's database).
    overrides: Option<Box<crate::overrides::StateOverrides>>,
}

impl<S: zknode_state::NodeStore + zknode_state::CodeStore> StateDb<'_, S> {
    /// Writes the bytecode deployed so far, then the tree's new nodes, to the tree's store, so
    /// that every root the tree has reached stays readable there with its code (the code goes
    /// first: a crash in between leaves unused code, never a root whose code is missing).
    /// Returns the tree's root (flushed writes only).
    pub fn commit(&mut self) -> Result<Hash, StateError> {
        if !self.new_code.is_empty() {
            let code: Vec<(Hash, &[u8])> = self
                .new_code
                .iter()
                .map(|(h, c)| (*h, c.as_ref()))
                .collect();
            self.tree.store().put_code(&code)?;
        }
        Ok(self.tree.commit()?)
    }
}

impl<'c, S: NodeReader> StateDb<'c, S> {
    pub fn new(tree: StateTree<S>, codes: &'c dyn CodeSource) -> Self {
        Self {
            tree,
            codes,
            new_code: HashMap::new(),
            accounts: HashMap::new(),
            storage: HashMap::new(),
            pending: HashMap::new(),
            writes: Vec::new(),
            journal: None,
            overrides: None,
        }
    }

    /// Makes the EVM's reads see `overrides` (read-only calls only: a write through
    /// [`Self::apply`] would mix overridden values into the tree).
    pub fn set_overrides(&mut self, overrides: crate::overrides::StateOverrides) {
        self.overrides = (!overrides.is_empty()).then(|| Box::new(overrides));
    }

    fn override_of(&self, a: &Address) -> Option<&crate::overrides::AccountOverride> {
        self.overrides.as_ref().and_then(|o| o.get(a))
    }

    /// The root with every write so far applied.
    pub fn root(&mut self) -> Result<Hash, StateError> {
        self.flush()?;
        Ok(self.tree.root())
    }

    /// Applies the buffered writes to the tree (net change per key, in key order). A checkpoint
    /// does not reach past a flush: it is dropped.
    pub fn flush(&mut self) -> Result<(), StateError> {
        self.journal = None;
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut w: Vec<StateWrite> = self
            .pending
            .drain()
            .filter(|(_, (_, old, new))| old != new)
            .map(|(key, (source, old_value, new_value))| StateWrite {
                key,
                source,
                old_value,
                new_value,
            })
            .collect();
        w.sort_unstable_by_key(|x| x.key.path_order());
        let kv: Vec<(Hash, U256)> = w.iter().map(|x| (x.key, x.new_value)).collect();
        self.tree.apply_batch(&kv)?;
        self.writes.extend(w);
        Ok(())
    }

    /// Writes flushed so far plus the keys changed since the last flush (each once).
    pub fn write_count(&self) -> usize {
        self.writes.len() + self.pending.len()
    }

    /// Ends the batch: the tree, its writes in order, and the bytecode the batch deployed.
    pub fn finish(mut self) -> Result<Finished<S>, StateError> {
        self.flush()?;
        Ok((self.tree, self.writes, self.new_code))
    }

    /// Undoes every write since the start of the batch (the tree is canonical, so writing the
    /// old values back restores the old root exactly).
    pub fn rollback(&mut self) -> Result<(), StateError> {
        self.journal = None;
        self.pending.clear();
        rewind(&mut self.tree, &self.writes)?;
        self.writes.clear();
        self.accounts.clear();
        self.storage.clear();
        self.new_code.clear();
        Ok(())
    }

    /// Starts recording how to undo what follows, until [`Self::revert_to_checkpoint`] or the
    /// next flush (an earlier checkpoint is forgotten).
    pub(crate) fn checkpoint(&mut self) {
        self.journal = Some(Vec::new());
    }

    /// Undoes every change since the checkpoint, and drops it. `false` (nothing undone) when
    /// there is no checkpoint: none was taken, or a flush came after it.
    pub(crate) fn revert_to_checkpoint(&mut self) -> bool {
        let Some(journal) = self.journal.take() else {
            return false;
        };
        for u in journal.into_iter().rev() {
            match u {
                Undo::Pending(key, Some(before)) => {
                    self.pending.insert(key, before);
                }
                Undo::Pending(key, None) => {
                    self.pending.remove(&key);
                }
                Undo::Storage(slot, v) => {
                    self.storage.insert(slot, v);
                }
                Undo::Account(a, c) => {
                    self.accounts.insert(a, c);
                }
                Undo::Code(h) => {
                    self.new_code.remove(&h);
                }
            }
        }
        true
    }

    fn record(&mut self, u: impl FnOnce() -> Undo) {
        if let Some(j) = &mut self.journal {
            j.push(u());
        }
    }

    /// How many writes have been flushed (a mark for [`Self::unflush`]).
    pub(crate) fn flushed_len(&self) -> usize {
        self.writes.len()
    }

    /// Takes the writes flushed after `mark` back out of the tree and into the buffer, as if
    /// they had never been flushed (the tree is canonical: writing their old values back
    /// restores the root they started from). Nothing may be buffered.
    pub(crate) fn unflush(&mut self, mark: usize) -> Result<(), StateError> {
        debug_assert!(self.pending.is_empty(), "unflush with writes buffered");
        let back = self.writes.split_off(mark);
        rewind(&mut self.tree, &back)?;
        for w in back {
            self.pending
                .insert(w.key, (w.source, w.old_value, w.new_value));
        }
        Ok(())
    }

    fn write(&mut self, source: KeySource, key: Hash, old: U256, value: U256) {
        if self.journal.is_some() {
            let before = self.pending.get(&key).copied();
            self.record(|| Undo::Pending(key, before));
        }
        self.pending
            .entry(key)
            .and_modify(|e| e.2 = value)
            .or_insert((source, old, value));
    }

    /// Reads the balance, nonce and code of `addrs` that are not cached yet, all at once (each
    /// tree node on their paths read and checked once, see [`StateTree::get_many`]).
    pub fn prefetch(&mut self, addrs: &[Address]) -> Result<(), StateError> {
        let mut want: Vec<Address> = addrs
            .iter()
            .filter(|a| !self.accounts.contains_key(*a))
            .copied()
            .collect();
        want.sort_unstable();
        want.dedup();
        let leaf_keys: Vec<[Hash; 3]> = want.iter().map(account_keys).collect();
        let flat: Vec<Hash> = leaf_keys.iter().flatten().copied().collect();
        let values = self.tree.get_many(&flat)?;
        for ((a, k), v) in want.iter().zip(leaf_keys).zip(values.chunks_exact(3)) {
            let c = self.account_from(*a, k, v[0], v[1], v[2])?;
            self.accounts.insert(*a, c);
        }
        Ok(())
    }

    /// An account from its balance, nonce and code-hash leaves.
    fn account_from(
        &self,
        a: Address,
        keys: [Hash; 3],
        balance: U256,
        nonce_v: U256,
        h: U256,
    ) -> Result<Cached, StateError> {
        let nonce = u64::try_from(nonce_v).map_err(|_| StateError::Overflow {
            address: a,
            what: "nonce",
            value: nonce_v,
        })?;
        let code_hash = Hash::from_u256(h).ok_or_else(|| {
            StateError::Tree(zknode_state::Error::CorruptNode {
                hash: self.tree.root(),
                reason: format!("code hash leaf of {a} is not four field elements"),
            })
        })?;
        let code = if code_hash.is_zero() {
            None
        } else {
            let code = match self.new_code.get(&code_hash) {
                Some(c) => Some(c.clone()),
                None => self.codes.code(&code_hash)?,
            };
            Some(code.ok_or(StateError::MissingCode {
                address: a,
                hash: code_hash,
            })?)
        };
        Ok(Cached {
            keys,
            balance,
            nonce,
            code_hash,
            code,
        })
    }

    fn account(&mut self, a: Address) -> Result<&Cached, StateError> {
        if !self.accounts.contains_key(&a) {
            self.prefetch(&[a])?;
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
        let old = self.storage_value(a, slot)?;
        if old != value {
            let source = KeySource {
                address: addr(&a),
                leaf_type: keys::LeafType::Storage as u8,
                slot,
            };
            self.write(source, keys::storage_key(&addr(&a), slot), old, value);
            self.record(|| Undo::Storage((a, slot), old));
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
                let src = KeySource::account(a, keys::LeafType::Balance);
                self.write(src, old.keys[0], old.balance, new.balance);
            }
            // SELFDESTRUCT on Polygon zkEVM is SENDALL (`processor/evm.rs`): revm never destroys
            // an account, which stays with what the transaction wrote to it. The code branch
            // below only ever adds code.
            new.nonce = acc.info.nonce;
            if old.nonce != new.nonce {
                let src = KeySource::account(a, keys::LeafType::Nonce);
                self.write(
                    src,
                    old.keys[1],
                    U256::from(old.nonce),
                    U256::from(new.nonce),
                );
            }
            if old.code.is_none() {
                if let Some(code) = acc.info.code.as_ref().map(|c| c.original_bytes()) {
                    if !code.is_empty() {
                        let h = keys::hash_bytecode(&code);
                        let src = KeySource::account(a, keys::LeafType::Code);
                        self.write(src, old.keys[2], U256::ZERO, h.to_u256());
                        self.write(
                            KeySource::account(a, keys::LeafType::CodeLength),
                            keys::code_length_key(&k),
                            U256::ZERO,
                            U256::from(code.len()),
                        );
                        if self.new_code.insert(h, code.clone()).is_none() {
                            self.record(|| Undo::Code(h));
                        }
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
            if let Some(before) = self.accounts.insert(*a, new) {
                self.record(|| Undo::Account(*a, before));
            }
        }
        Ok(())
    }
}

/// The keccak hash and the analysed form (jump table) of the bytecode whose Poseidon hash is
/// `poseidon`, from a bounded process-wide cache: every call of a hot contract needs both, and
/// they cost more than the rest of a small call's setup. Code never changes under its hash.
fn analyzed_code(poseidon: Hash, code: Bytes) -> (B256, Bytecode) {
    use std::sync::OnceLock;
    use zknode_state::smt::cache::ShardedCache;
    /// 16 shards of 256 contracts, each shard emptied and refilled when full.
    static C: OnceLock<ShardedCache<Hash, (B256, Bytecode)>> = OnceLock::new();
    C.get_or_init(|| ShardedCache::new(16, 256))
        .get_or_insert_with(poseidon, || (keccak256(&code), Bytecode::new_raw(code)))
}

impl<S: NodeReader> Database for StateDb<'_, S> {
    type Error = StateError;

    fn basic(&mut self, a: Address) -> Result<Option<AccountInfo>, StateError> {
        let c = self.account(a)?;
        let (mut balance, mut nonce, mut code) = (c.balance, c.nonce, c.code.clone());
        let mut poseidon = c.code_hash;
        if let Some(o) = self.override_of(&a) {
            balance = o.balance.unwrap_or(balance);
            nonce = o.nonce.unwrap_or(nonce);
            if let Some(c) = &o.code {
                code = (!c.is_empty()).then(|| c.clone());
                poseidon = Hash::ZERO;
            }
        }
        if balance.is_zero() && nonce == 0 && code.is_none() {
            return Ok(None);
        }
        let (code_hash, code) = match code {
            Some(b) if !poseidon.is_zero() => {
                let (h, c) = analyzed_code(poseidon, b);
                (h, Some(c))
            }
            Some(b) => (keccak256(&b), Some(Bytecode::new_raw(b))),
            None => (KECCAK_EMPTY, None),
        };
        Ok(Some(AccountInfo {
            balance,
            nonce,
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
        let slot = U256::from_limbs(*index.as_limbs());
        if let Some(v) = self.override_of(&a).and_then(|o| o.slot(&slot)) {
            return Ok(StorageValue::from_limbs(*v.as_limbs()));
        }
        let v = self.storage_value(a, slot)?;
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
