//! The L1 transaction manager: sends the node's L1 transactions (sequences now, proofs later)
//! from one account and sees each through to confirmation.
//!
//! Every transaction is recorded in the state database (`l1_txs`) before it is sent, and every
//! signed version's hash (`l1_tx_hashes`) before that version is sent, so that a restarted
//! process picks up where it left: it neither loses a transaction nor sends one twice. The
//! nonce is assigned once, when the transaction is recorded (one above the highest nonce of the
//! sender's unfinished transactions, and at least the L1's pending nonce); every resend reuses
//! it.
//!
//! Each round ([`TxManager::tick`]) looks at every unfinished transaction, lowest nonce first:
//!
//! - `created`: signed with EIP-1559 fees from the L1 (capped by `max_fee_per_gas`), the
//!   hash recorded, then sent;
//! - `sent`: a successful receipt for any of its hashes makes it `mined`, a reverted one
//!   `failed` with the contract's error name; with neither, a transaction the L1 no longer
//!   knows (dropped from the mempool) is sent again, and one older than `bump_after_secs` is
//!   signed again with both fees raised by `fee_bump_percent` and by at least the 12.5% the
//!   replacement rule asks; a nonce the L1 has passed without any of our versions being mined
//!   was taken by another transaction: `failed`;
//! - `mined`: the block's hash is checked each round, and an L1 reorg that removed the block
//!   moves it back to `sent`; `confirmations` blocks later it is `confirmed`.
//!
//! Gas is estimated when a transaction is added, with a margin and an offset; an estimate that
//! reverts records the transaction as `failed` with the decoded custom error and no nonce.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::eips::BlockNumberOrTag;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, Bytes, TxKind, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::TransportError;
use serde::Deserialize;
use zknode_storage::{L1TxInsert, L1TxMined, L1TxRecord, L1TxStatus, NewL1Tx, StateDb};

use crate::revert_error_name;

/// The transaction manager's settings (`[l1.tx_manager]`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TxManagerConfig {
    /// How often unfinished transactions are looked at (ms).
    pub poll_interval_ms: u64,
    /// Blocks after the one that mined a transaction before it counts as confirmed.
    pub confirmations: u64,
    /// Gas added to the estimate, after the margin.
    pub gas_offset: u64,
    /// Percent added to the gas estimate.
    pub gas_margin_percent: u64,
    /// A transaction not mined this long after its last version was sent is sent again with
    /// higher fees (seconds).
    pub bump_after_secs: u64,
    /// How much a bump raises both fees (percent); never less than the 12.5% replacement rule.
    pub fee_bump_percent: u64,
    /// The most the manager offers per gas (wei): a cap on every max fee, bumps included.
    pub max_fee_per_gas: u64,
    /// The least priority fee offered (wei).
    pub min_priority_fee_per_gas: u64,
}

impl Default for TxManagerConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 1000,
            confirmations: 6,
            gas_offset: 20_000,
            gas_margin_percent: 20,
            bump_after_secs: 60,
            fee_bump_percent: 25,
            max_fee_per_gas: 500_000_000_000,
            min_priority_fee_per_gas: 1_000_000,
        }
    }
}

impl TxManagerConfig {
    /// What is wrong with the settings, if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.poll_interval_ms == 0 {
            return Err("l1.tx_manager.poll_interval_ms must be above 0".into());
        }
        if self.max_fee_per_gas == 0 || self.min_priority_fee_per_gas > self.max_fee_per_gas {
            return Err(format!(
                "l1.tx_manager: max_fee_per_gas ({}) must be above 0 and at least \
                 min_priority_fee_per_gas ({})",
                self.max_fee_per_gas, self.min_priority_fee_per_gas
            ));
        }
        Ok(())
    }
}

/// What the transaction manager ran into.
#[derive(Debug, thiserror::Error)]
pub enum TxManagerError {
    #[error(transparent)]
    Storage(#[from] zknode_storage::StorageError),
    #[error("L1 RPC: {0}")]
    Rpc(#[from] Box<TransportError>),
    #[error("signing an L1 transaction: {0}")]
    Sign(String),
    #[error("{0}")]
    Unexpected(String),
}

impl From<TransportError> for TxManagerError {
    fn from(e: TransportError) -> Self {
        TxManagerError::Rpc(Box::new(e))
    }
}

pub type TxResult<T> = std::result::Result<T, TxManagerError>;

/// Counters of what the manager did, since the process started.
#[derive(Debug, Default)]
pub struct TxManagerMetrics {
    /// Signed versions sent (first sends, resends and bumps).
    pub sent: AtomicU64,
    /// Versions sent with raised fees.
    pub bumped: AtomicU64,
    /// Versions sent again after the L1 dropped the transaction.
    pub resent: AtomicU64,
    pub mined: AtomicU64,
    pub confirmed: AtomicU64,
    pub failed: AtomicU64,
    /// Mined transactions whose block an L1 reorg removed.
    pub reorged: AtomicU64,
}

fn bump(m: &AtomicU64) {
    m.fetch_add(1, Ordering::Relaxed);
}

/// The L1 transaction manager of one account.
pub struct TxManager {
    db: StateDb,
    provider: DynProvider,
    signer: PrivateKeySigner,
    chain_id: u64,
    config: TxManagerConfig,
    /// Serializes [`TxManager::add`]: nonces are handed out one at a time.
    add_lock: tokio::sync::Mutex<()>,
    pub metrics: TxManagerMetrics,
}

impl std::fmt::Debug for TxManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxManager")
            .field("sender", &self.signer.address())
            .field("chain_id", &self.chain_id)
            .finish()
    }
}

/// A revert in an RPC error: the custom error's name (or the node's message) when the call
/// reverted; `None` for any other error.
pub fn revert_reason(e: &TransportError) -> Option<String> {
    let payload = e.as_error_resp()?;
    if let Some(data) = payload.as_revert_data() {
        return Some(match revert_error_name(&data) {
            Some(name) => format!("reverted with {name}()"),
            None if data.is_empty() => "execution reverted".to_string(),
            None => format!("execution reverted (data {data})"),
        });
    }
    payload
        .message
        .contains("revert")
        .then(|| payload.message.to_string())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `x` raised by `percent`, and by at least 12.5% (rounded up) and 1.
fn bumped(x: u128, percent: u64) -> u128 {
    let by_percent = x.saturating_mul(100 + u128::from(percent)) / 100;
    let by_rule = x.saturating_add(x.div_ceil(8).max(1));
    by_percent.max(by_rule)
}

impl TxManager {
    /// A manager sending from `signer`'s account through `provider` (which needs no wallet of
    /// its own: the manager signs), recording in `db`.
    pub async fn new(
        db: StateDb,
        provider: DynProvider,
        signer: PrivateKeySigner,
        config: TxManagerConfig,
    ) -> TxResult<TxManager> {
        config.check().map_err(TxManagerError::Unexpected)?;
        let chain_id = provider.get_chain_id().await?;
        Ok(TxManager {
            db,
            provider,
            signer,
            chain_id,
            config,
            add_lock: Default::default(),
            metrics: Default::default(),
        })
    }

    /// The account the manager sends from.
    pub fn sender(&self) -> Address {
        self.signer.address()
    }

    pub fn config(&self) -> &TxManagerConfig {
        &self.config
    }

    /// Records a call of `to` with `data` under `id` (chosen by the owner, e.g.
    /// `sequence-5-9`), to be sent by the next rounds. Adding an id that is recorded already
    /// changes nothing. Gas is estimated now: an estimate that reverts records the transaction
    /// as failed with the reason (see [`TxManager::status`]); an RPC failure records nothing
    /// and is returned, so that the caller may add it again.
    pub async fn add(&self, id: &str, owner: &str, to: Address, data: Bytes) -> TxResult<()> {
        let _one_at_a_time = self.add_lock.lock().await;
        if self.db.l1_tx(id).await?.is_some() {
            return Ok(());
        }
        let sender = self.sender();
        let mut new = NewL1Tx {
            id: id.to_string(),
            owner: owner.to_string(),
            sender,
            to,
            value: U256::ZERO,
            data,
            gas_limit: 0,
        };
        let request = TransactionRequest::default()
            .from(sender)
            .to(to)
            .input(new.data.clone().into());
        let estimate = match self.provider.estimate_gas(request).await {
            Ok(g) => g,
            Err(e) => match revert_reason(&e) {
                Some(reason) => {
                    tracing::error!(target: "l1::txman", id, %reason, "the transaction's gas estimation reverted: not sending it");
                    self.db.insert_failed_l1_tx(&new, &reason).await?;
                    bump(&self.metrics.failed);
                    return Ok(());
                }
                None => return Err(e.into()),
            },
        };
        new.gas_limit = estimate
            .saturating_add(estimate.saturating_mul(self.config.gas_margin_percent) / 100)
            .saturating_add(self.config.gas_offset);
        let pending = self
            .provider
            .get_transaction_count(sender)
            .pending()
            .await?;
        match self.db.insert_l1_tx(&new, pending).await? {
            L1TxInsert::Recorded { nonce } => {
                tracing::info!(target: "l1::txman", id, owner, nonce, gas = new.gas_limit, "L1 transaction recorded");
            }
            L1TxInsert::Exists => {}
        }
        Ok(())
    }

    /// The recorded transaction `id`, with where it stands; `None` when never added.
    pub async fn status(&self, id: &str) -> TxResult<Option<L1TxRecord>> {
        Ok(self.db.l1_tx(id).await?)
    }

    /// Runs rounds until the task is dropped; an error is logged and the round tried again
    /// after a pause that grows up to 30 s.
    pub async fn run(&self) {
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let mut backoff = poll;
        loop {
            match self.tick().await {
                Ok(()) => backoff = poll,
                Err(e) => {
                    tracing::warn!(target: "l1::txman", error = %e, retry_in_ms = backoff.as_millis() as u64, "L1 transaction manager round failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// One round over every unfinished transaction, lowest nonce first.
    pub async fn tick(&self) -> TxResult<()> {
        let txs = self.db.unfinished_l1_txs(self.sender()).await?;
        if txs.is_empty() {
            return Ok(());
        }
        let head = self.provider.get_block_number().await?;
        let mut latest_nonce = None;
        for tx in txs {
            match tx.status {
                L1TxStatus::Created => {
                    self.send_version(&tx, None).await?;
                }
                L1TxStatus::Sent => {
                    // Read before the receipts: a nonce passed with no receipt found after it
                    // was really taken by another transaction.
                    let nonce = match latest_nonce {
                        Some(n) => n,
                        None => {
                            let n = self
                                .provider
                                .get_transaction_count(self.sender())
                                .latest()
                                .await?;
                            latest_nonce = Some(n);
                            n
                        }
                    };
                    self.review_sent(&tx, nonce, head).await?;
                }
                L1TxStatus::Mined => self.review_mined(&tx, head).await?,
                L1TxStatus::Confirmed | L1TxStatus::Failed => {}
            }
        }
        Ok(())
    }

    /// The fees to offer now: the L1's suggestion, at least the configured priority fee,
    /// capped by the configured max fee.
    async fn suggested_fees(&self) -> TxResult<(u128, u128)> {
        let est = self.provider.estimate_eip1559_fees().await?;
        let cap = u128::from(self.config.max_fee_per_gas);
        let prio = est
            .max_priority_fee_per_gas
            .max(u128::from(self.config.min_priority_fee_per_gas))
            .min(cap);
        let max_fee = est.max_fee_per_gas.max(prio).min(cap);
        Ok((max_fee, prio))
    }

    /// Signs a version of `tx` with `fees` (`None`: the L1's suggestion now), records its
    /// hash, then sends it.
    async fn send_version(&self, tx: &L1TxRecord, fees: Option<(u128, u128)>) -> TxResult<B256> {
        let nonce = tx.nonce.ok_or_else(|| {
            TxManagerError::Unexpected(format!("L1 transaction {} has no nonce", tx.id))
        })?;
        let (max_fee, prio) = match fees {
            Some(f) => f,
            None => self.suggested_fees().await?,
        };
        let mut unsigned = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit: tx.gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: prio,
            to: TxKind::Call(tx.to),
            value: tx.value,
            access_list: Default::default(),
            input: tx.data.clone(),
        };
        let sig = self
            .signer
            .sign_transaction_sync(&mut unsigned)
            .map_err(|e| TxManagerError::Sign(e.to_string()))?;
        let signed = unsigned.into_signed(sig);
        let hash = *signed.hash();
        let raw = TxEnvelope::Eip1559(signed).encoded_2718();
        let fee = |v: u128| {
            u64::try_from(v)
                .map_err(|_| TxManagerError::Unexpected(format!("fee {v} wei per gas above 2^64")))
        };
        self.db
            .record_l1_tx_send(&tx.id, hash, fee(max_fee)?, fee(prio)?)
            .await?;
        match self.provider.send_raw_transaction(&raw).await {
            Ok(_) => {
                bump(&self.metrics.sent);
                tracing::info!(target: "l1::txman", id = %tx.id, nonce, %hash, max_fee, priority_fee = prio, "L1 transaction sent");
            }
            Err(e) => {
                let msg = e.to_string();
                if msg.contains("already known") || msg.contains("known transaction") {
                    tracing::debug!(target: "l1::txman", id = %tx.id, %hash, "the L1 knows this version already");
                } else {
                    // Recorded, so a later round looks for it and sends again if it is unknown.
                    tracing::warn!(target: "l1::txman", id = %tx.id, nonce, %hash, error = %msg, "sending an L1 transaction failed");
                }
            }
        }
        Ok(hash)
    }

    /// A sent transaction: mined, reverted, dropped, stuck or still waiting.
    async fn review_sent(&self, tx: &L1TxRecord, latest_nonce: u64, head: u64) -> TxResult<()> {
        let mut known = false;
        for &hash in tx.hashes.iter().rev() {
            if let Some(receipt) = self.provider.get_transaction_receipt(hash).await? {
                let (Some(block_number), Some(block_hash)) =
                    (receipt.block_number, receipt.block_hash)
                else {
                    known = true;
                    continue;
                };
                let mined = L1TxMined {
                    tx_hash: hash,
                    block_number,
                    block_hash,
                };
                if receipt.status() {
                    self.db.set_l1_tx_mined(&tx.id, &mined).await?;
                    bump(&self.metrics.mined);
                    tracing::info!(target: "l1::txman", id = %tx.id, %hash, block = block_number, "L1 transaction mined");
                    return self
                        .review_mined(
                            &L1TxRecord {
                                status: L1TxStatus::Mined,
                                mined: Some(mined),
                                ..tx.clone()
                            },
                            head,
                        )
                        .await;
                }
                let reason = self.revert_reason_of(tx, block_number).await;
                tracing::error!(target: "l1::txman", id = %tx.id, %hash, block = block_number, %reason, "L1 transaction reverted");
                self.db
                    .set_l1_tx_failed(&tx.id, &reason, Some(&mined))
                    .await?;
                bump(&self.metrics.failed);
                return Ok(());
            }
            if !known && self.provider.get_transaction_by_hash(hash).await?.is_some() {
                known = true;
            }
        }
        let nonce = tx.nonce.unwrap_or(0);
        if latest_nonce > nonce {
            // Every version was looked for after the nonce was read: none was mined.
            let reason = format!(
                "nonce {nonce} was taken by another transaction of {}",
                self.sender()
            );
            tracing::error!(target: "l1::txman", id = %tx.id, %reason, "L1 transaction lost its nonce");
            self.db.set_l1_tx_failed(&tx.id, &reason, None).await?;
            bump(&self.metrics.failed);
            return Ok(());
        }
        let last_fees = tx
            .max_fee
            .zip(tx.max_priority_fee)
            .map(|(f, p)| (u128::from(f), u128::from(p)));
        if !known {
            tracing::warn!(target: "l1::txman", id = %tx.id, nonce, "the L1 does not know the transaction (dropped): sending it again");
            bump(&self.metrics.resent);
            let fees = match last_fees {
                Some((f, p)) => {
                    let (sf, sp) = self.suggested_fees().await?;
                    Some((f.max(sf), p.max(sp)))
                }
                None => None,
            };
            self.send_version(tx, fees).await?;
            return Ok(());
        }
        let waited = now_ms().saturating_sub(tx.sent_at_ms.unwrap_or(0));
        if waited < self.config.bump_after_secs.saturating_mul(1000) {
            return Ok(());
        }
        let Some((old_max, old_prio)) = last_fees else {
            return Ok(());
        };
        let cap = u128::from(self.config.max_fee_per_gas);
        let (sug_max, sug_prio) = self.suggested_fees().await?;
        let max_fee = bumped(old_max, self.config.fee_bump_percent)
            .max(sug_max)
            .min(cap);
        let prio = bumped(old_prio, self.config.fee_bump_percent)
            .max(sug_prio)
            .min(max_fee);
        if max_fee < old_max + old_max.div_ceil(8) || prio < old_prio + old_prio.div_ceil(8) {
            tracing::warn!(target: "l1::txman", id = %tx.id, nonce, max_fee = old_max, cap, head, "L1 transaction not mined, and its fees cannot be raised past l1.tx_manager.max_fee_per_gas");
            return Ok(());
        }
        tracing::info!(target: "l1::txman", id = %tx.id, nonce, old_max_fee = old_max, max_fee, priority_fee = prio, "L1 transaction not mined in time: raising its fees");
        bump(&self.metrics.bumped);
        self.send_version(tx, Some((max_fee, prio))).await?;
        Ok(())
    }

    /// A mined transaction: still in the chain (else back to sent), confirmed when deep enough.
    async fn review_mined(&self, tx: &L1TxRecord, head: u64) -> TxResult<()> {
        let Some(mined) = tx.mined else {
            return Ok(());
        };
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(mined.block_number))
            .await?;
        if block.as_ref().map(|b| b.header.hash) != Some(mined.block_hash) {
            tracing::warn!(target: "l1::txman", id = %tx.id, block = mined.block_number, hash = %mined.block_hash, "an L1 reorg removed the block that mined the transaction: back to sent");
            self.db.set_l1_tx_unmined(&tx.id).await?;
            bump(&self.metrics.reorged);
            return Ok(());
        }
        if head >= mined.block_number.saturating_add(self.config.confirmations) {
            self.db.set_l1_tx_confirmed(&tx.id).await?;
            bump(&self.metrics.confirmed);
            tracing::info!(target: "l1::txman", id = %tx.id, block = mined.block_number, "L1 transaction confirmed");
        }
        Ok(())
    }

    /// Why `tx` reverted in block `block`: the call replayed on the state before that block.
    async fn revert_reason_of(&self, tx: &L1TxRecord, block: u64) -> String {
        let request = TransactionRequest::default()
            .from(tx.sender)
            .to(tx.to)
            .input(tx.data.clone().into())
            .gas_limit(tx.gas_limit);
        match self
            .provider
            .call(request)
            .block(BlockNumberOrTag::Number(block.saturating_sub(1)).into())
            .await
        {
            Err(e) => revert_reason(&e).unwrap_or_else(|| format!("reverted ({e})")),
            Ok(_) => "reverted (the call succeeds when replayed before its block)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bumps_follow_the_replacement_rule() {
        assert_eq!(bumped(100, 25), 125);
        assert_eq!(bumped(100, 5), 113);
        assert_eq!(bumped(0, 25), 1);
        assert_eq!(bumped(8, 0), 9);
    }
}
