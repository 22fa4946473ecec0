//! What a batch run returns: the receipts and outcomes of its transactions, the L2 blocks it
//! opened, its roots, commitments and state writes, the reasons a transaction is skipped, and the
//! batch witness built from a result.

use revm::primitives::{Address, Bytes, Log, B256};
use ruint::aliases::U256;
use zknode_state::{Hash, UpdateProof};

use super::BatchContext;
use crate::db::StateWrite;

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
