//! One transaction of a batch: the checks that skip it (nonce, funds, sender code, gas limit),
//! its run on revm, its state changes written back, and its receipt in the block's info tree.

use revm::context::TxEnv;
use revm::context_interface::result::EVMError;
use revm::primitives::{Address, TxKind};
use ruint::aliases::U256;
use zknode_state::NodeReader;

use super::evm::{block_env, RunOutcome};
use super::{
    BatchBuilder, ExecError, Receipt, TxResult, INVALID_FUNDS, INVALID_GAS_LIMIT, INVALID_NONCE,
    INVALID_SENDER_CODE,
};
use crate::codec::RawTx;
use crate::db::StateError;
use crate::system::{log_key, log_value, tx_key, BlockInfoLeaf, TIMESTAMP_SLOT, TX_GAS_LIMIT};

impl<S: NodeReader> BatchBuilder<'_, S> {
    /// Runs one transaction in the open block and records its outcome. Returns whether it
    /// executed successfully.
    pub(super) fn transaction(
        &mut self,
        tx: &RawTx,
        sender: Result<Address, &'static str>,
    ) -> Result<bool, ExecError> {
        let block_number = self.block.as_ref().map_or(0, |b| b.record.number);
        let mut result = TxResult {
            index: self.txs.len(),
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
        self.evm.ctx.block = block_env(block_number, timestamp, self.ctx.sequencer);
        // The price is settled above (the effective percentage, and for an EIP-1559
        // transaction the zero base fee), so revm sees a legacy transaction, or an EIP-2930
        // one for a typed transaction, whose access list it warms and charges for.
        let env = TxEnv {
            tx_type: u8::from(tx.tx_type != 0),
            access_list: tx.access_list.clone(),
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
        let out = match super::trace::transact(&mut self.evm, env) {
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
        let RunOutcome {
            success,
            gas_used,
            logs,
            created: contract_address,
            failure,
            ..
        } = RunOutcome::new(out.result);
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
