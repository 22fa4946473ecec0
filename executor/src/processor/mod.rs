//! Executes one batch the way Polygon's fork-12 processor does: decode, open L2 blocks, run each
//! transaction on revm over the state tree, keep the system contract's block bookkeeping and the
//! per-block info tree, and compute the batch's commitments.

use std::collections::BTreeMap;

use rayon::prelude::*;
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::result::{EVMError, ExecutionResult, Output};
use revm::interpreter::interpreter_types::{InterpreterTypes, StackTr};
use revm::interpreter::{
    Host, Instruction, InstructionContext, InstructionExecResult, InstructionResult,
};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, Log, TxKind, B256};
use revm::{Context, ExecuteEvm, MainBuilder, MainContext};
use ruint::aliases::U256;
use zknode_state::{Hash, MemoryStore, NodeReader, StateTree, UpdateProof};

use crate::codec::{decode_batch, BatchEntry, ChangeL2Block, RawTx};
use crate::db::{prove_writes, rewind, CodeSource, StateDb, StateError, StateWrite};
use crate::hashes::{
    acc_input_hash, batch_hash_data, l1_info_leaf_hash, l1_info_zero_leaf, verify_l1_info_proof,
    AccInput, L1InfoLeaf,
};
use crate::system::{
    header_key, log_key, log_value, mapping_slot, tx_key, BlockInfoLeaf, HeaderParam,
    BLOCK_GAS_LIMIT, BLOCK_INFO_ROOT_SLOT, GER_MANAGER_ADDRESS, GER_MAPPING_SLOT, LAST_BLOCK_SLOT,
    LOCAL_EXIT_ROOT_SLOT, STATE_ROOT_SLOT, SYSTEM_ADDRESS, TIMESTAMP_SLOT, TX_GAS_LIMIT,
};

/// What a batch is executed against, besides the state.
#[derive(Clone, Debug)]
pub struct BatchContext {
    pub chain_id: u64,
    pub fork_id: u64,
    pub sequencer: Address,
    pub timestamp_limit: u64,
    pub l1_info_root: B256,
    pub old_acc_input_hash: B256,
    /// Zero for a sequenced batch; the L1 block hash for a forced batch.
    pub forced_block_hash_l1: B256,
    /// The L1 info leaves the batch's changeL2Block entries point at, by index.
    pub l1_info: BTreeMap<u32, L1InfoLeaf>,
    /// Check each used L1 info leaf's Merkle proof against `l1_info_root`.
    pub verify_l1_info_proofs: bool,
    /// Also return each state update's proof ([`BatchResult::ops`]), as the batch witness
    /// needs; without, only the ordered writes (the proofs can be rebuilt later with
    /// [`crate::db::prove_writes`] from the old root).
    pub with_proofs: bool,
}

impl BatchContext {
    pub fn is_forced(&self) -> bool {
        !self.forced_block_hash_l1.is_zero()
    }
}

/// Errors that stop execution. Bad batch contents are not errors: they give an invalid batch or
/// skipped transactions in the [`BatchResult`].
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("changeL2Block names L1 info leaf {0}, which the batch context does not provide")]
    MissingL1Info(u32),
    #[error("L1 info leaf {0} does not verify against the batch's L1 info root")]
    BadL1InfoProof(u32),
}

/// Why a transaction did not run.
pub const INVALID_CHAIN_ID: &str = "TX INVALID: Chain ID does not match";
pub const INVALID_SIGNATURE: &str = "TX INVALID: Failed signature";
pub const INVALID_NONCE: &str = "TX INVALID: Invalid nonce";
pub const INVALID_FUNDS: &str = "TX INVALID: Not enough funds to pay total transaction cost";
pub const INVALID_SENDER_CODE: &str =
    "TX INVALID: EIP3607 Do not allow transactions for which tx.sender has any code deployed";
pub const INVALID_GAS_LIMIT: &str = "TX INVALID: Gas limit exceeds maximum allowed";

/// A transaction's receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub success: bool,
    pub gas_used: u64,
    pub cumulative_gas_used: u64,
    pub logs: Vec<Log>,
    pub contract_address: Option<Address>,
    /// Revert reason or halt reason of a failed transaction.
    pub failure: Option<String>,
}

/// What happened to one transaction of the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxResult {
    /// Position among the batch's transactions (changeL2Block entries not counted).
    pub index: usize,
    pub from: Option<Address>,
    pub eth_hash: B256,
    /// Polygon's L2 transaction hash (linear Poseidon), when the sender is known.
    pub l2_hash: Option<U256>,
    pub effective_percentage: u8,
    /// L2 block number the transaction belongs to.
    pub block: u64,
    /// Index within its block, for executed transactions.
    pub index_in_block: Option<u64>,
    /// `Err(reason)`: skipped, the state is unchanged by it.
    pub outcome: Result<Receipt, String>,
}

/// An L2 block the batch opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L2Block {
    pub number: u64,
    pub timestamp: u64,
    pub coinbase: Address,
    pub gas_limit: u64,
    pub gas_used: u64,
    pub global_exit_root: B256,
    pub block_hash_l1: B256,
    /// The state root when the block opened (the previous block's hash).
    pub parent_hash: B256,
    /// The root of the block's info tree (header fields and receipts).
    pub block_info_root: B256,
    /// The state root after the block's last write: the block's hash.
    pub hash: B256,
    /// Indexes into [`BatchResult::txs`].
    pub txs: Vec<usize>,
}

/// The outcome of a batch.
#[derive(Clone, Debug)]
pub struct BatchResult {
    pub old_state_root: Hash,
    pub new_state_root: Hash,
    pub batch_hash_data: B256,
    pub new_acc_input_hash: B256,
    pub new_local_exit_root: B256,
    /// Set when the whole batch is invalid (undecodable data, a timestamp past the limit, …):
    /// the state is then unchanged.
    pub invalid_batch: Option<String>,
    pub txs: Vec<TxResult>,
    pub blocks: Vec<L2Block>,
    /// Every state-tree write, in order (net per L2 block), with the value it replaced.
    pub writes: Vec<StateWrite>,
    /// The proof of each write against the running root, when asked for
    /// ([`BatchContext::with_proofs`]): what the batch witness carries.
    pub ops: Vec<UpdateProof>,
    /// Bytecode deployed by the batch, by Poseidon hash (to be kept in the code store).
    pub new_code: Vec<(Hash, Bytes)>,
}

impl BatchResult {
    /// The batch witness of this result: the old root, every write with the account it belongs
    /// to and its proof, the batch data and the chain inputs. `None` when the batch ran without
    /// [`BatchContext::with_proofs`] (see [`crate::db::prove_writes`] to add them later).
    pub fn witness(
        &self,
        ctx: &BatchContext,
        batch_l2_data: &[u8],
        batch_number: u64,
    ) -> Option<zknode_witness::BatchWitness> {
        if self.ops.len() != self.writes.len() {
            return None;
        }
        let ops = self
            .writes
            .iter()
            .zip(&self.ops)
            .map(|(w, p)| {
                (
                    w.source.address,
                    w.source.leaf_type,
                    w.source.slot,
                    p.clone(),
                )
            })
            .collect();
        let chain = zknode_witness::ChainInputs {
            chain_id: ctx.chain_id,
            fork_id: ctx.fork_id,
            sequencer: ctx.sequencer.0 .0,
            timestamp_limit: ctx.timestamp_limit,
            l1_info_root: ctx.l1_info_root.0,
            old_acc_input_hash: ctx.old_acc_input_hash.0,
            batch_number,
        };
        Some(zknode_witness::BatchWitness::from_proofs(
            self.old_state_root,
            ops,
            chain,
            batch_l2_data.to_vec(),
        ))
    }
}

fn hash_to_b256(h: &Hash) -> B256 {
    B256::from(h.to_u256().to_be_bytes::<32>())
}

fn b256_to_u256(b: &B256) -> U256 {
    U256::from_be_bytes(b.0)
}

/// The open L2 block.
struct OpenBlock {
    record: L2Block,
    /// Writes to the block info tree (built at once when the block closes).
    info: Vec<(Hash, U256)>,
    tx_index: u64,
    log_index: u64,
}

impl OpenBlock {
    fn set(&mut self, key: Hash, value: U256) {
        self.info.push((key, value));
    }

    /// The block info tree's root.
    fn info_root(&self) -> Result<Hash, ExecError> {
        let mut t = StateTree::open(MemoryStore::new()).map_err(StateError::from)?;
        Ok(t.apply_batch(&self.info).map_err(StateError::from)?)
    }
}

type Evm<'c, S> = revm::handler::MainnetEvm<revm::handler::MainnetContext<StateDb<'c, S>>>;

struct Run<'c, S: NodeReader> {
    ctx: &'c BatchContext,
    evm: Evm<'c, S>,
    block: Option<OpenBlock>,
    blocks: Vec<L2Block>,
    txs: Vec<TxResult>,
}

/// Executes `batch_l2_data` on `tree` (whose current root is the batch's old root). Returns the
/// tree at the new root (its new nodes pending until the caller commits) and the result.
pub fn execute_batch<'c, S: NodeReader>(
    tree: StateTree<S>,
    codes: &'c dyn CodeSource,
    ctx: &'c BatchContext,
    batch_l2_data: &[u8],
) -> Result<(StateTree<S>, BatchResult), ExecError> {
    let old_state_root = tree.root();
    let db = StateDb::new(tree, codes);
    let mut cfg = CfgEnv::new_with_spec(SpecId::BERLIN);
    cfg.chain_id = ctx.chain_id;
    let mut evm = Context::mainnet().with_db(db).with_cfg(cfg).build_mainnet();
    // Fork 12 is Berlin plus PUSH0 (EIP-3855).
    evm.instruction
        .insert_instruction(0x5f, Instruction::new(push0), 2);
    // BLOCKHASH reads the system contract's record of any earlier block, not only the last 256.
    evm.instruction
        .insert_instruction(0x40, Instruction::new(blockhash), 20);
    let mut run = Run {
        ctx,
        evm,
        block: None,
        blocks: Vec::new(),
        txs: Vec::new(),
    };
    let mut invalid_batch = run.process(batch_l2_data)?;
    if invalid_batch.is_some() {
        run.db().rollback()?;
        run.txs.clear();
        run.blocks.clear();
    }
    let new_local_exit_root = B256::from(
        run.db()
            .storage_value(GER_MANAGER_ADDRESS, U256::from(LOCAL_EXIT_ROOT_SLOT))?
            .to_be_bytes::<32>(),
    );
    let (mut tree, writes, new_code) = run.evm.ctx.journaled_state.database.finish()?;
    let ops = if ctx.with_proofs && !writes.is_empty() {
        // Back to the old root, then forward one write at a time.
        let new_root = tree.root();
        rewind(&mut tree, &writes)?;
        debug_assert_eq!(tree.root(), old_state_root);
        let ops = prove_writes(&mut tree, &writes)?;
        debug_assert_eq!(tree.root(), new_root);
        ops
    } else {
        Vec::new()
    };
    let bh = batch_hash_data(batch_l2_data);
    let new_acc_input_hash = acc_input_hash(&AccInput {
        old_acc_input_hash: ctx.old_acc_input_hash,
        batch_hash_data: bh,
        l1_info_root: ctx.l1_info_root,
        timestamp_limit: ctx.timestamp_limit,
        sequencer: ctx.sequencer,
        forced_block_hash_l1: ctx.forced_block_hash_l1,
    });
    if invalid_batch.is_some() {
        debug_assert_eq!(tree.root(), old_state_root);
    }
    let mut new_code: Vec<(Hash, Bytes)> = new_code.into_iter().collect();
    new_code.sort_unstable_by_key(|(h, _)| *h);
    let new_state_root = tree.root();
    Ok((
        tree,
        BatchResult {
            old_state_root,
            new_state_root,
            batch_hash_data: bh,
            new_acc_input_hash,
            new_local_exit_root,
            invalid_batch: invalid_batch.take(),
            txs: run.txs,
            blocks: run.blocks,
            writes,
            ops,
            new_code,
        },
    ))
}

impl<'c, S: NodeReader> Run<'c, S> {
    fn db(&mut self) -> &mut StateDb<'c, S> {
        &mut self.evm.ctx.journaled_state.database
    }

    fn sys(&mut self, slot: U256) -> Result<U256, ExecError> {
        Ok(self.db().storage_value(SYSTEM_ADDRESS, slot)?)
    }

    fn set_sys(&mut self, slot: U256, v: U256) -> Result<(), ExecError> {
        Ok(self.db().set_storage(SYSTEM_ADDRESS, slot, v)?)
    }

    /// Runs the batch; `Some(reason)` when it is invalid as a whole.
    fn process(&mut self, data: &[u8]) -> Result<Option<String>, ExecError> {
        let entries = match decode_batch(data) {
            Ok(e) => e,
            Err(e) => return Ok(Some(e.to_string())),
        };
        let forced = self.ctx.is_forced();
        if forced
            && entries
                .iter()
                .any(|e| matches!(e, BatchEntry::ChangeL2Block(_)))
        {
            return Ok(Some("a forced batch may not contain changeL2Block".into()));
        }
        if !forced && !matches!(entries.first(), None | Some(BatchEntry::ChangeL2Block(_))) {
            return Ok(Some(
                "a sequenced batch must start with changeL2Block".into(),
            ));
        }
        // Senders first, on all cores: signature checks need no state.
        let senders: Vec<Option<Result<Address, &'static str>>> = entries
            .par_iter()
            .map(|e| match e {
                BatchEntry::ChangeL2Block(_) => None,
                BatchEntry::Tx(tx) => Some(match tx.chain_id {
                    Some(c) if c != self.ctx.chain_id => Err(INVALID_CHAIN_ID),
                    _ => tx.recover_sender().map_err(|_| INVALID_SIGNATURE),
                }),
            })
            .collect();
        // Every account the batch names, read in parallel before execution needs it.
        let mut named: Vec<Address> = vec![self.ctx.sequencer];
        for (e, s) in entries.iter().zip(&senders) {
            if let (BatchEntry::Tx(tx), Some(Ok(from))) = (e, s) {
                named.push(*from);
                named.extend(tx.to);
            }
        }
        self.db().prefetch(&named)?;
        let mut n_tx = 0;
        for (i, entry) in entries.iter().enumerate() {
            if i == 0 && forced {
                if let Some(r) = self.change_l2_block(None)? {
                    return Ok(Some(r));
                }
            }
            let next_is_change = matches!(entries.get(i + 1), Some(BatchEntry::ChangeL2Block(_)));
            match (entry, &senders[i]) {
                (BatchEntry::ChangeL2Block(c), _) => {
                    if let Some(r) = self.change_l2_block(Some(c))? {
                        return Ok(Some(r));
                    }
                    if next_is_change {
                        self.consolidate()?;
                    }
                }
                (BatchEntry::Tx(tx), Some(sender)) => {
                    let index = n_tx;
                    n_tx += 1;
                    let executed_ok = self.transaction(index, tx, *sender)?;
                    // Polygon's processor closes a block early only after a transaction that
                    // ran to success.
                    if executed_ok && next_is_change {
                        self.consolidate()?;
                    }
                }
                (BatchEntry::Tx(_), None) => unreachable!("every transaction has a sender entry"),
            }
        }
        self.consolidate()?;
        Ok(None)
    }

    /// Opens an L2 block (`None`: the implicit block of a forced batch). `Some(reason)` makes
    /// the batch invalid.
    fn change_l2_block(&mut self, c: Option<&ChangeL2Block>) -> Result<Option<String>, ExecError> {
        let old_number = self.sys(U256::from(LAST_BLOCK_SLOT))?;
        let parent = self.db().root()?;
        // A block the reference leaves unconsolidated (its last transaction failed or was
        // skipped) ends here: its info root never reaches the system contract, and its hash is
        // the root as the next block opens.
        if let Some(open) = self.block.take() {
            let mut r = open.record.clone();
            r.block_info_root = hash_to_b256(&open.info_root()?);
            r.hash = hash_to_b256(&parent);
            self.blocks.push(r);
        }
        let parent_u = parent.to_u256();
        self.set_sys(mapping_slot(old_number, STATE_ROOT_SLOT), parent_u)?;
        let number = old_number + U256::from(1);
        self.set_sys(U256::from(LAST_BLOCK_SLOT), number)?;
        let current_ts = self.sys(U256::from(TIMESTAMP_SLOT))?;
        let limit = U256::from(self.ctx.timestamp_limit);
        let mut timestamp = U256::ZERO;
        let mut ger = B256::ZERO;
        let mut block_hash_l1 = B256::ZERO;
        match c {
            None => {
                if limit > current_ts {
                    timestamp = limit;
                    self.set_sys(U256::from(TIMESTAMP_SLOT), limit)?;
                }
                ger = self.ctx.l1_info_root;
                block_hash_l1 = self.ctx.forced_block_hash_l1;
                self.set_ger(ger, block_hash_l1)?;
            }
            Some(c) => {
                let new_ts = current_ts + U256::from(c.delta_timestamp);
                if new_ts > limit {
                    return Ok(Some(format!(
                        "block timestamp {new_ts} is past the batch's limit {limit}"
                    )));
                }
                timestamp = new_ts;
                self.set_sys(U256::from(TIMESTAMP_SLOT), new_ts)?;
                if c.index_l1_info_tree != 0 {
                    let idx = c.index_l1_info_tree;
                    let leaf = self
                        .ctx
                        .l1_info
                        .get(&idx)
                        .ok_or(ExecError::MissingL1Info(idx))?;
                    let mut value = l1_info_leaf_hash(leaf);
                    if value == l1_info_zero_leaf() {
                        value = B256::ZERO;
                    }
                    if self.ctx.verify_l1_info_proofs {
                        if !verify_l1_info_proof(value, &leaf.smt_proof, idx, self.ctx.l1_info_root)
                        {
                            return Err(ExecError::BadL1InfoProof(idx));
                        }
                        if value.is_zero() {
                            return Ok(Some(format!("L1 info leaf {idx} is empty")));
                        }
                    }
                    if new_ts < U256::from(leaf.timestamp) {
                        return Ok(Some(format!(
                            "block timestamp {new_ts} is before L1 info leaf {idx}'s {}",
                            leaf.timestamp
                        )));
                    }
                    ger = leaf.global_exit_root;
                    // The block carries the leaf's L1 block hash; the global exit root manager
                    // records a GER once, with the L1 block hash that first brought it in.
                    block_hash_l1 = leaf.block_hash;
                    if !ger.is_zero() {
                        let slot = mapping_slot(b256_to_u256(&ger), GER_MAPPING_SLOT);
                        if self
                            .db()
                            .storage_value(GER_MANAGER_ADDRESS, slot)?
                            .is_zero()
                        {
                            self.set_ger(ger, block_hash_l1)?;
                        }
                    }
                }
            }
        }
        let number_u64 = u64::try_from(number).unwrap_or(u64::MAX);
        let timestamp_u64 = u64::try_from(timestamp).unwrap_or(u64::MAX);
        let mut block = OpenBlock {
            record: L2Block {
                number: number_u64,
                timestamp: timestamp_u64,
                coinbase: self.ctx.sequencer,
                gas_limit: BLOCK_GAS_LIMIT,
                gas_used: 0,
                global_exit_root: ger,
                block_hash_l1,
                parent_hash: hash_to_b256(&parent),
                block_info_root: B256::ZERO,
                hash: B256::ZERO,
                txs: Vec::new(),
            },
            info: Vec::with_capacity(64),
            tx_index: 0,
            log_index: 0,
        };
        let coinbase = U256::from_be_slice(self.ctx.sequencer.as_slice());
        for (p, v) in [
            (HeaderParam::PreviousBlockHash, parent_u),
            (HeaderParam::Coinbase, coinbase),
            (HeaderParam::Number, number),
            (HeaderParam::GasLimit, U256::from(BLOCK_GAS_LIMIT)),
            (HeaderParam::Timestamp, timestamp),
            (HeaderParam::GlobalExitRoot, b256_to_u256(&ger)),
            (HeaderParam::BlockHashL1, b256_to_u256(&block_hash_l1)),
        ] {
            block.set(header_key(p), v);
        }
        self.block = Some(block);
        Ok(None)
    }

    fn set_ger(&mut self, ger: B256, block_hash: B256) -> Result<(), ExecError> {
        let slot = mapping_slot(b256_to_u256(&ger), GER_MAPPING_SLOT);
        Ok(self
            .db()
            .set_storage(GER_MANAGER_ADDRESS, slot, b256_to_u256(&block_hash))?)
    }

    /// Closes the open block: its gas used goes into its info tree, whose root goes into the
    /// system contract. With no block open, an empty info root is written (as the reference
    /// does).
    fn consolidate(&mut self) -> Result<(), ExecError> {
        let (info_root, record) = match self.block.take() {
            Some(mut b) => {
                let gas = U256::from(b.record.gas_used);
                b.set(header_key(HeaderParam::GasUsed), gas);
                (b.info_root()?, Some(b.record))
            }
            None => (Hash::ZERO, None),
        };
        self.set_sys(U256::from(BLOCK_INFO_ROOT_SLOT), info_root.to_u256())?;
        if let Some(mut r) = record {
            r.block_info_root = hash_to_b256(&info_root);
            r.hash = hash_to_b256(&self.db().root()?);
            self.blocks.push(r);
        }
        Ok(())
    }

    /// Runs one transaction. Returns whether it executed successfully.
    fn transaction(
        &mut self,
        index: usize,
        tx: &RawTx,
        sender: Result<Address, &'static str>,
    ) -> Result<bool, ExecError> {
        let block_number = self.block.as_ref().map_or(0, |b| b.record.number);
        let mut result = TxResult {
            index,
            from: sender.ok(),
            eth_hash: tx.eth_hash(),
            l2_hash: sender.ok().map(|f| tx.l2_hash(&f)),
            effective_percentage: tx.effective_percentage,
            block: block_number,
            index_in_block: None,
            outcome: Err(String::new()),
        };
        let from = match sender {
            Ok(f) => f,
            Err(reason) => {
                result.outcome = Err(reason.into());
                self.txs.push(result);
                return Ok(false);
            }
        };
        let egp = tx.effective_gas_price();
        let skip = {
            let db = self.db();
            let balance = db.balance(from)?;
            if db.nonce(from)? != tx.nonce {
                Some(INVALID_NONCE)
            } else if U256::from(tx.gas_limit)
                .checked_mul(egp)
                .and_then(|c| c.checked_add(tx.value))
                .is_none_or(|cost| cost > balance)
            {
                Some(INVALID_FUNDS)
            } else if db.code_len(from)? > 0 {
                Some(INVALID_SENDER_CODE)
            } else if tx.gas_limit > TX_GAS_LIMIT {
                Some(INVALID_GAS_LIMIT)
            } else {
                None
            }
        };
        if let Some(reason) = skip {
            result.outcome = Err(reason.into());
            self.txs.push(result);
            return Ok(false);
        }
        let timestamp = self.sys(U256::from(TIMESTAMP_SLOT))?;
        let gas_price = u128::try_from(egp).unwrap_or(u128::MAX);
        self.evm.ctx.block = BlockEnv {
            number: U256::from(block_number),
            beneficiary: self.ctx.sequencer,
            timestamp,
            gas_limit: BLOCK_GAS_LIMIT,
            basefee: 0,
            difficulty: U256::ZERO,
            prevrandao: None,
            ..Default::default()
        };
        let env = TxEnv {
            tx_type: 0,
            caller: from,
            gas_limit: tx.gas_limit,
            gas_price,
            kind: match tx.to {
                Some(a) => TxKind::Call(a),
                None => TxKind::Create,
            },
            value: tx.value,
            data: tx.data.clone(),
            nonce: tx.nonce,
            chain_id: tx.chain_id,
            ..Default::default()
        };
        let out = match self.evm.transact(env) {
            Ok(o) => o,
            Err(EVMError::Database(e)) => return Err(e.into()),
            Err(EVMError::Transaction(e)) => {
                result.outcome = Err(format!("TX INVALID: {e}"));
                self.txs.push(result);
                return Ok(false);
            }
            Err(e) => return Err(StateError::Evm(e.to_string()).into()),
        };
        self.db().apply(&out.state)?;
        let (success, gas_used, logs, contract_address, failure) = match out.result {
            ExecutionResult::Success {
                gas, logs, output, ..
            } => {
                let created = match output {
                    Output::Create(_, a) => a,
                    Output::Call(_) => None,
                };
                (true, gas.tx_gas_used(), logs, created, None)
            }
            ExecutionResult::Revert { gas, output, .. } => (
                false,
                gas.tx_gas_used(),
                Vec::new(),
                None,
                Some(revert_reason(&output)),
            ),
            ExecutionResult::Halt { reason, gas, .. } => (
                false,
                gas.tx_gas_used(),
                Vec::new(),
                None,
                Some(format!("{reason:?}")),
            ),
        };
        let block = self
            .block
            .as_mut()
            .expect("a transaction always runs inside a block");
        block.record.gas_used += gas_used;
        let cumulative = block.record.gas_used;
        let ti = block.tx_index;
        let l2_hash = result.l2_hash.expect("a sender was recovered");
        block.set(tx_key(ti, BlockInfoLeaf::TxHash), l2_hash);
        block.set(
            tx_key(ti, BlockInfoLeaf::TxStatus),
            U256::from(success as u64),
        );
        block.set(
            tx_key(ti, BlockInfoLeaf::TxCumulativeGasUsed),
            U256::from(cumulative),
        );
        for log in &logs {
            let li = block.log_index;
            block.set(
                log_key(ti, li),
                log_value(&log.data.data, log.data.topics()),
            );
            block.log_index += 1;
        }
        block.set(
            tx_key(ti, BlockInfoLeaf::TxEffectivePercentage),
            U256::from(tx.effective_percentage),
        );
        block.tx_index += 1;
        block.record.txs.push(self.txs.len());
        result.index_in_block = Some(ti);
        result.outcome = Ok(Receipt {
            success,
            gas_used,
            cumulative_gas_used: cumulative,
            logs,
            contract_address,
            failure,
        });
        self.txs.push(result);
        Ok(success)
    }
}

/// PUSH0: pushes a zero word (EIP-3855), which revm gates behind Shanghai.
fn push0<H: ?Sized, W: InterpreterTypes>(
    ctx: InstructionContext<'_, H, W>,
) -> InstructionExecResult {
    if ctx.interpreter.stack.push(revm::primitives::U256::ZERO) {
        Ok(())
    } else {
        Err(InstructionResult::StackOverflow)
    }
}

/// BLOCKHASH as Polygon's zkEVM has it: the state root recorded for any block before the
/// current one (0 for the current block and later ones).
fn blockhash<H: Host + ?Sized, W: InterpreterTypes>(
    ctx: InstructionContext<'_, H, W>,
) -> InstructionExecResult {
    let Some([number]) = ctx.interpreter.stack.popn::<1>() else {
        return Err(InstructionResult::StackUnderflow);
    };
    let current = ctx.host.block_number();
    let hash = match u64::try_from(number) {
        Ok(n) if number < current => U256::from_be_bytes(
            ctx.host
                .block_hash(n)
                .ok_or(InstructionResult::FatalExternalError)?
                .0,
        ),
        _ => U256::ZERO,
    };
    if ctx.interpreter.stack.push(hash) {
        Ok(())
    } else {
        Err(InstructionResult::StackOverflow)
    }
}

/// `Error(string)` decoded when the revert data carries one, else the data in hex.
fn revert_reason(out: &Bytes) -> String {
    const ERROR_SELECTOR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    if out.len() >= 68 && out[..4] == ERROR_SELECTOR {
        let len = U256::from_be_slice(&out[36..68]);
        if let Ok(n) = usize::try_from(len) {
            if let Some(s) = out.get(68..).and_then(|r| r.get(..n)) {
                if let Ok(s) = std::str::from_utf8(s) {
                    return s.to_string();
                }
            }
        }
    }
    if out.is_empty() {
        "execution reverted".into()
    } else {
        format!("execution reverted: 0x{}", hex::encode(out))
    }
}
