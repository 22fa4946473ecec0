//! The sequence sender: posts closed batches to L1 with `sequenceBatches`, through the
//! [`TxManager`].
//!
//! Each round ([`SequenceSender::step`]):
//!
//! 1. settles the recorded pending sequences (`l1_sequences`): one that L1's
//!    `lastBatchSequenced` covers is done; one whose transaction failed is failed, and so is
//!    every pending sequence after it (their accInputHash chain built on it); one the manager
//!    does not know yet (a crash between recording it and handing it over) is handed over
//!    again, its calldata rebuilt from the record;
//! 2. with no sequence in flight, packs the closed batches after the last one sequenced (by
//!    L1 or by a live record, whichever is further) into one sequence within the limits:
//!    `max_batches_per_sequence`, the calldata under `max_l1_tx_bytes`, one L2 coinbase. A
//!    closed batch over 120,000 bytes of data is an error that stops the sender: the sequencer
//!    must not produce one;
//! 3. waits until the L1 head's timestamp reaches the sequence's `maxSequenceTimestamp` (the
//!    largest last-L2-block timestamp among its batches) plus `l1_timestamp_margin_secs`, and
//!    until the L1 info tree (its leaf count at the `l1_info_block` tag) holds every leaf the
//!    batches use;
//! 4. computes each batch's accInputHash from the contract's `lastAccInputHash`, records the
//!    sequence and its hashes, then adds the transaction `sequence-{from}-{to}` to the manager.
//!
//! A range is never sent twice: the record is written before the transaction is added, a live
//! record is never built again, and the manager's ids are idempotent.

use std::sync::Arc;
use std::time::Duration;

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::{DynProvider, Provider};
use alloy::sol_types::SolCall;
use serde::Deserialize;
use zknode_executor::hashes::{acc_input_hash, batch_hash_data, AccInput};
use zknode_executor::{decode_batch, BatchEntry};
use zknode_storage::{
    Batch, BatchStatus, BlockReader, L1ForcedBatch, L1TxStatus, SequenceRecord, SequenceStatus,
    StateDb,
};

use crate::bindings::{GlobalExitRootManager, ZkEvmRollup};
use crate::txman::{TxManager, TxManagerError};

/// The owner name of the sender's transactions in the transaction manager.
pub const OWNER: &str = "sequence-sender";
/// The contract's limit on a sequence's batches.
pub const MAX_BATCHES: u64 = 1000;
/// The contract's limit on a batch's data (bytes).
pub const MAX_BATCH_DATA: usize = 120_000;

/// An L1 block tag.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum L1BlockTag {
    Latest,
    Safe,
    Finalized,
}

impl From<L1BlockTag> for BlockId {
    fn from(t: L1BlockTag) -> BlockId {
        BlockId::Number(match t {
            L1BlockTag::Latest => BlockNumberOrTag::Latest,
            L1BlockTag::Safe => BlockNumberOrTag::Safe,
            L1BlockTag::Finalized => BlockNumberOrTag::Finalized,
        })
    }
}

/// The sequence sender's settings (`[l1.sequence_sender]`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SequenceSenderConfig {
    /// How often the sender looks for closed batches and at its sequence in flight (ms).
    pub poll_interval_ms: u64,
    /// The most batches in one sequence (at most 1,000, the contract's limit).
    pub max_batches_per_sequence: u64,
    /// The largest sequenceBatches calldata (bytes).
    pub max_l1_tx_bytes: u64,
    /// The L1 block whose L1 info tree leaf count a sequence uses: "latest", "safe" or
    /// "finalized".
    pub l1_info_block: L1BlockTag,
    /// Seconds the L1 head's timestamp must be past the sequence's maxSequenceTimestamp.
    pub l1_timestamp_margin_secs: u64,
}

impl Default for SequenceSenderConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 2000,
            max_batches_per_sequence: 300,
            max_l1_tx_bytes: 131_072,
            l1_info_block: L1BlockTag::Finalized,
            l1_timestamp_margin_secs: 0,
        }
    }
}

impl SequenceSenderConfig {
    /// What is wrong with the settings, if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.max_batches_per_sequence == 0 || self.max_batches_per_sequence > MAX_BATCHES {
            return Err(format!(
                "l1.sequence_sender.max_batches_per_sequence ({}) must be 1 to {MAX_BATCHES}",
                self.max_batches_per_sequence
            ));
        }
        if self.poll_interval_ms == 0 {
            return Err("l1.sequence_sender.poll_interval_ms must be above 0".into());
        }
        if self.max_l1_tx_bytes < 1024 {
            return Err(format!(
                "l1.sequence_sender.max_l1_tx_bytes ({}) is too small for any sequence",
                self.max_l1_tx_bytes
            ));
        }
        Ok(())
    }
}

/// What stops or delays the sequence sender.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error(transparent)]
    Storage(#[from] zknode_storage::StorageError),
    #[error(transparent)]
    TxManager(#[from] TxManagerError),
    #[error("L1 RPC: {0}")]
    Rpc(#[from] Box<alloy::transports::TransportError>),
    #[error("L1 call {what}: {source}")]
    Call {
        what: &'static str,
        #[source]
        source: Box<alloy::contract::Error>,
    },
    /// Something the sender must not go past: it stops.
    #[error("the sequence sender stops: {0}")]
    Fatal(String),
}

impl From<alloy::transports::TransportError> for SenderError {
    fn from(e: alloy::transports::TransportError) -> Self {
        SenderError::Rpc(Box::new(e))
    }
}

/// What a round did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A sequence of these batches was recorded and handed to the transaction manager.
    Sent { from: u64, to: u64 },
    /// A sequence is in flight.
    InFlight,
    /// No closed batch to sequence.
    Idle,
    /// Batches are ready but L1 is not (timestamp, L1 info tree); the reason.
    Waiting(String),
}

/// The sequence sender.
pub struct SequenceSender {
    pub db: StateDb,
    pub txman: Arc<TxManager>,
    /// Reads L1 (no signing needed).
    pub provider: DynProvider,
    pub rollup: Address,
    pub global_exit_root_manager: Address,
    pub config: SequenceSenderConfig,
}

/// The ABI size of one batch in sequenceBatches' calldata: its offset, the tuple's head (the
/// offset of `transactions` and three words), the length word and the data padded to words.
fn batch_abi_bytes(data_len: usize) -> u64 {
    (32 + 4 * 32 + 32 + data_len.div_ceil(32) * 32) as u64
}

/// The calldata of a sequence with no batch: the selector, five head words, the array length.
const CALL_BASE_BYTES: u64 = 4 + 5 * 32 + 32;

fn call_err(what: &'static str) -> impl FnOnce(alloy::contract::Error) -> SenderError {
    move |e| SenderError::Call {
        what,
        source: Box::new(e),
    }
}

impl SequenceSender {
    /// Runs rounds until an error the sender must not go past ([`SenderError::Fatal`]) or a
    /// storage error; L1 errors are logged and retried after a pause that grows to 30 s.
    pub async fn run(&self) -> Result<(), SenderError> {
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let mut backoff = poll;
        let mut last_wait = String::new();
        loop {
            match self.step().await {
                Ok(Progress::Sent { .. }) => {
                    backoff = poll;
                    continue;
                }
                Ok(Progress::Waiting(why)) => {
                    if why != last_wait {
                        tracing::info!(target: "l1::sender", reason = %why, "waiting to sequence");
                        last_wait = why;
                    }
                    backoff = poll;
                }
                Ok(_) => backoff = poll,
                Err(e @ (SenderError::Fatal(_) | SenderError::Storage(_))) => {
                    tracing::error!(target: "l1::sender", error = %e, "the sequence sender stops");
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(target: "l1::sender", error = %e, retry_in_ms = backoff.as_millis() as u64, "sequence sender round failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// One round (see the module's documentation).
    pub async fn step(&self) -> Result<Progress, SenderError> {
        let rollup = ZkEvmRollup::new(self.rollup, &self.provider);
        let at = BlockId::number(self.provider.get_block_number().await?);
        let l1_last = rollup
            .lastBatchSequenced()
            .block(at)
            .call()
            .await
            .map_err(call_err("lastBatchSequenced"))?;

        let mut in_flight = false;
        let mut failed_before = false;
        for s in self.db.pending_sequences().await? {
            if l1_last >= s.to_batch {
                self.db
                    .set_sequence_status(&s.id, SequenceStatus::Done, None)
                    .await?;
                tracing::info!(target: "l1::sender", from = s.from_batch, to = s.to_batch, "sequence on L1");
                continue;
            }
            if failed_before {
                let why = "a sequence before it failed";
                self.db
                    .set_sequence_status(&s.id, SequenceStatus::Failed, Some(why))
                    .await?;
                continue;
            }
            match self.txman.status(&s.id).await? {
                None => {
                    let data = self.calldata(&s).await?;
                    self.txman.add(&s.id, OWNER, self.rollup, data).await?;
                    in_flight = true;
                }
                Some(tx) if tx.status == L1TxStatus::Failed => {
                    let why = tx.error.unwrap_or_else(|| "failed".into());
                    tracing::error!(target: "l1::sender", id = %s.id, error = %why, "sequence transaction failed: its batches will be sequenced again");
                    self.db
                        .set_sequence_status(&s.id, SequenceStatus::Failed, Some(&why))
                        .await?;
                    failed_before = true;
                }
                Some(_) => in_flight = true,
            }
        }
        if in_flight {
            return Ok(Progress::InFlight);
        }

        // Where the next sequence starts, and the accInputHash it chains from.
        let (tip, old_acc) = match self.db.last_live_sequence().await? {
            Some(s) if s.to_batch >= l1_last => (s.to_batch, s.final_acc_input_hash),
            _ => {
                let acc = rollup
                    .lastAccInputHash()
                    .block(at)
                    .call()
                    .await
                    .map_err(call_err("lastAccInputHash"))?;
                (l1_last, acc)
            }
        };
        let batches = self.collect(tip + 1).await?;
        let (Some(first), Some(last)) = (batches.first(), batches.last()) else {
            return Ok(Progress::Idle);
        };
        let (from, to) = (first.number, last.number);
        let coinbase = first.coinbase;

        let mut max_ts = 0;
        for b in &batches {
            max_ts = max_ts.max(self.last_block_timestamp(b).await?);
        }
        let head = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| SenderError::Fatal("the L1 has no latest block".into()))?;
        let ready_at = max_ts.saturating_add(self.config.l1_timestamp_margin_secs);
        if head.header.timestamp < ready_at {
            return Ok(Progress::Waiting(format!(
                "batches {from}..={to}: the L1 head's timestamp {} is before {ready_at}",
                head.header.timestamp
            )));
        }

        let mut max_index = 0u32;
        for b in &batches {
            let entries = decode_batch(&b.l2_data).map_err(|e| {
                SenderError::Fatal(format!("closed batch {} does not decode: {e}", b.number))
            })?;
            for e in entries {
                if let BatchEntry::ChangeL2Block(c) = e {
                    max_index = max_index.max(c.index_l1_info_tree);
                }
            }
        }
        let count = self.l1_info_leaf_count().await?;
        if max_index > 0 && count <= max_index {
            return Ok(Progress::Waiting(format!(
                "batches {from}..={to} use L1 info leaf {max_index}; the {:?} L1 info tree \
                 has {count} leaves",
                self.config.l1_info_block
            )));
        }
        let ger = GlobalExitRootManager::new(self.global_exit_root_manager, &self.provider);
        let l1_info_root = ger
            .l1InfoRootMap(count)
            .call()
            .await
            .map_err(call_err("l1InfoRootMap"))?;
        if l1_info_root.is_zero() {
            return Ok(Progress::Waiting(format!(
                "the L1 info root after {count} leaves is not on L1 (yet)"
            )));
        }

        let forced = self.forced_fields(&batches).await?;
        let mut acc = old_acc;
        let mut hashes = Vec::with_capacity(batches.len());
        for (b, f) in batches.iter().zip(&forced) {
            // A forced batch chains with its own fields, as the contract does.
            acc = acc_input_hash(&AccInput {
                old_acc_input_hash: acc,
                batch_hash_data: batch_hash_data(&b.l2_data),
                l1_info_root: f.as_ref().map_or(l1_info_root, |f| f.global_exit_root),
                timestamp_limit: f.as_ref().map_or(max_ts, |f| f.forced_at),
                sequencer: coinbase,
                forced_block_hash_l1: f.as_ref().map_or(B256::ZERO, |f| f.block_hash_l1),
            });
            hashes.push(acc);
        }
        let record = SequenceRecord {
            id: self.free_id(from, to).await?,
            from_batch: from,
            to_batch: to,
            l1_info_tree_leaf_count: count,
            max_sequence_timestamp: max_ts,
            l1_info_root,
            l2_coinbase: coinbase,
            old_acc_input_hash: old_acc,
            final_acc_input_hash: acc,
            status: SequenceStatus::Pending,
            error: None,
            acc_input_hashes: hashes,
        };
        if !self.db.insert_sequence(&record).await? {
            return Err(SenderError::Fatal(format!(
                "a live sequence starting at batch {from} is recorded already"
            )));
        }
        tracing::info!(target: "l1::sender", id = %record.id, from, to, leaf_count = count, max_timestamp = max_ts, acc = %acc, "sequence recorded");
        let data = encode(&record, &batches, &forced);
        if let Err(e) = self.txman.add(&record.id, OWNER, self.rollup, data).await {
            // The next round hands the record over again.
            tracing::warn!(target: "l1::sender", id = %record.id, error = %e, "handing the sequence to the transaction manager failed");
        }
        Ok(Progress::Sent { from, to })
    }

    /// The closed batches from `from` on that fit one sequence.
    async fn collect(&self, from: u64) -> Result<Vec<Batch>, SenderError> {
        let mut out: Vec<Batch> = Vec::new();
        let mut bytes = CALL_BASE_BYTES;
        let max_count = self.config.max_batches_per_sequence.min(MAX_BATCHES);
        let mut n = from;
        while (out.len() as u64) < max_count {
            let Some(b) = self.db.batch(n).await? else {
                break;
            };
            if b.status == BatchStatus::Open {
                break;
            }
            if b.l2_data.len() > MAX_BATCH_DATA {
                return Err(SenderError::Fatal(format!(
                    "closed batch {n} holds {} bytes of data; L1 takes at most {MAX_BATCH_DATA}",
                    b.l2_data.len()
                )));
            }
            let size = batch_abi_bytes(b.l2_data.len());
            if bytes + size > self.config.max_l1_tx_bytes {
                if out.is_empty() {
                    return Err(SenderError::Fatal(format!(
                        "closed batch {n} alone needs {} bytes of calldata, over \
                         l1.sequence_sender.max_l1_tx_bytes ({})",
                        bytes + size,
                        self.config.max_l1_tx_bytes
                    )));
                }
                break;
            }
            if out.first().is_some_and(|f| f.coinbase != b.coinbase) {
                break;
            }
            bytes += size;
            out.push(b);
            n += 1;
        }
        Ok(out)
    }

    /// The timestamp of a batch's last L2 block (the batch's own for a batch with none).
    async fn last_block_timestamp(&self, b: &Batch) -> Result<u64, SenderError> {
        let numbers = self.db.batch_block_numbers(b.number).await?;
        let Some(&last) = numbers.last() else {
            return Ok(b.timestamp);
        };
        let block = self.db.block_by_number(last).await?.ok_or_else(|| {
            SenderError::Fatal(format!("block {last} of batch {} is missing", b.number))
        })?;
        Ok(block.header.timestamp)
    }

    /// The L1 info tree's leaf count at the configured tag; 0 where the manager was not
    /// deployed yet at that block.
    async fn l1_info_leaf_count(&self) -> Result<u32, SenderError> {
        let tag: BlockId = self.config.l1_info_block.into();
        let code = self
            .provider
            .get_code_at(self.global_exit_root_manager)
            .block_id(tag)
            .await?;
        if code.is_empty() {
            return Ok(0);
        }
        let ger = GlobalExitRootManager::new(self.global_exit_root_manager, &self.provider);
        let count = ger
            .depositCount()
            .block(tag)
            .call()
            .await
            .map_err(call_err("depositCount"))?;
        u32::try_from(count)
            .map_err(|_| SenderError::Fatal(format!("L1 info tree leaf count {count} above 2^32")))
    }

    /// `sequence-{from}-{to}`, or with `-2`, `-3`, … when a failed sequence of the same range
    /// took it.
    async fn free_id(&self, from: u64, to: u64) -> Result<String, SenderError> {
        let base = format!("sequence-{from}-{to}");
        let mut id = base.clone();
        let mut k = 1;
        while self.db.sequence(&id).await?.is_some() || self.txman.status(&id).await?.is_some() {
            k += 1;
            id = format!("{base}-{k}");
        }
        Ok(id)
    }

    /// The calldata of a recorded sequence, its batches read back from the database.
    async fn calldata(&self, s: &SequenceRecord) -> Result<Bytes, SenderError> {
        let mut batches = Vec::new();
        for n in s.from_batch..=s.to_batch {
            let b = self.db.batch(n).await?.ok_or_else(|| {
                SenderError::Fatal(format!("batch {n} of sequence {} is missing", s.id))
            })?;
            batches.push(b);
        }
        let forced = self.forced_fields(&batches).await?;
        Ok(encode(s, &batches, &forced))
    }

    /// The L1 queue entry of each batch that executes a forced batch.
    async fn forced_fields(
        &self,
        batches: &[Batch],
    ) -> Result<Vec<Option<L1ForcedBatch>>, SenderError> {
        let mut out = Vec::with_capacity(batches.len());
        for b in batches {
            out.push(match b.forced_batch_number {
                None => None,
                Some(n) => Some(self.db.l1_forced_batch(n).await?.ok_or_else(|| {
                    SenderError::Fatal(format!(
                        "batch {} executes forced batch {n}, which the database no longer holds",
                        b.number
                    ))
                })?),
            });
        }
        Ok(out)
    }
}

/// sequenceBatches' calldata for a sequence of `batches` (with the queue entry of each forced
/// one).
fn encode(s: &SequenceRecord, batches: &[Batch], forced: &[Option<L1ForcedBatch>]) -> Bytes {
    let call = ZkEvmRollup::sequenceBatchesCall {
        batches: batches
            .iter()
            .zip(forced)
            .map(|(b, f)| ZkEvmRollup::BatchData {
                transactions: b.l2_data.clone(),
                forcedGlobalExitRoot: f.as_ref().map_or(B256::ZERO, |f| f.global_exit_root),
                forcedTimestamp: f.as_ref().map_or(0, |f| f.forced_at),
                forcedBlockHashL1: f.as_ref().map_or(B256::ZERO, |f| f.block_hash_l1),
            })
            .collect(),
        l1InfoTreeLeafCount: s.l1_info_tree_leaf_count,
        maxSequenceTimestamp: s.max_sequence_timestamp,
        expectedFinalAccInputHash: s.final_acc_input_hash,
        l2Coinbase: s.l2_coinbase,
    };
    call.abi_encode().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Address;

    #[test]
    fn the_size_estimate_is_the_encoding() {
        let record = |n: usize| SequenceRecord {
            id: "x".into(),
            from_batch: 1,
            to_batch: n as u64,
            l1_info_tree_leaf_count: 3,
            max_sequence_timestamp: 9,
            l1_info_root: B256::ZERO,
            l2_coinbase: Address::ZERO,
            old_acc_input_hash: B256::ZERO,
            final_acc_input_hash: B256::ZERO,
            status: SequenceStatus::Pending,
            error: None,
            acc_input_hashes: Vec::new(),
        };
        let batch = |len: usize| Batch {
            number: 1,
            status: BatchStatus::Closed,
            coinbase: Address::ZERO,
            timestamp: 0,
            global_exit_root: B256::ZERO,
            state_root: B256::ZERO,
            local_exit_root: B256::ZERO,
            l2_data: vec![7u8; len].into(),
            resources: None,
            acc_input_hash: None,
            closing_reason: None,
            virtual_tx_hash: None,
            verified_tx_hash: None,
            forced_batch_number: None,
        };
        for lens in [vec![], vec![0], vec![1, 31, 32, 33], vec![120_000, 5]] {
            let batches: Vec<Batch> = lens.iter().map(|&l| batch(l)).collect();
            let expected: u64 =
                CALL_BASE_BYTES + lens.iter().map(|&l| batch_abi_bytes(l)).sum::<u64>();
            assert_eq!(
                encode(&record(lens.len()), &batches, &vec![None; batches.len()]).len() as u64,
                expected,
                "{lens:?}"
            );
        }
    }
}
