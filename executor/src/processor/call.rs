//! Read-only calls (eth_call, eth_estimateGas) on the batch EVM over a state root: the same
//! opcodes and block rules as a batch transaction, nothing written.

use revm::context::TxEnv;
use revm::context_interface::result::EVMError;
use revm::primitives::{Address, Bytes, Log, TxKind};
use ruint::aliases::U256;
use zknode_state::{NodeReader, StateTree};

use super::evm::{block_env, new_evm, Evm, RunOutcome};
use super::ExecError;
use crate::db::{CodeSource, StateDb, StateError};
use crate::system::{LAST_BLOCK_SLOT, SYSTEM_ADDRESS, TIMESTAMP_SLOT, TX_GAS_LIMIT};

/// A call to run without a transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallRequest {
    /// The caller (the zero address when the request names none). It must not hold code, as
    /// for a transaction.
    pub from: Address,
    /// `None` runs `data` as init code.
    pub to: Option<Address>,
    pub data: Bytes,
    pub value: U256,
    /// Gas limit; `None`: the transaction limit ([`TX_GAS_LIMIT`]).
    pub gas: Option<u64>,
    /// Zero (the default) makes gas free: the caller's balance then need only cover `value`.
    pub gas_price: u128,
    /// Accounts and slots warmed (and paid for) before the call, as an EIP-2930 transaction's.
    pub access_list: crate::codec::AccessList,
}

/// What a call came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallResult {
    pub success: bool,
    /// Returned data, or the revert data.
    pub output: Bytes,
    /// Gas used, refunds deducted (0 when the call was refused).
    pub gas_used: u64,
    /// Logs of a successful call.
    pub logs: Vec<Log>,
    /// The contract a successful creation would deploy.
    pub created: Option<Address>,
    /// Why it failed: the revert reason (`Error(string)` decoded), the halt reason, or, starting
    /// `TX INVALID:`, why it could not run at all (funds for `value`, a caller with code, gas
    /// below the intrinsic cost, …).
    pub failure: Option<String>,
}

/// The batch EVM over one state root, for calls that write nothing: it runs as a transaction in
/// the last L2 block of that state (number and timestamp from the system contract), paid to
/// `coinbase`, without the nonce check. Calls on one `ReadOnlyEvm` share its reads, never its
/// writes: each sees the state as it is at the root.
pub struct ReadOnlyEvm<'c, S: NodeReader> {
    pub(super) evm: Evm<'c, S>,
}

impl<'c, S: NodeReader> ReadOnlyEvm<'c, S> {
    /// Over `tree` (e.g. [`StateTree::at_root`] of a committed root), for chain `chain_id`.
    pub fn new(
        tree: StateTree<S>,
        codes: &'c dyn CodeSource,
        chain_id: u64,
        coinbase: Address,
    ) -> Result<Self, ExecError> {
        let mut db = StateDb::new(tree, codes);
        let number = db.storage_value(SYSTEM_ADDRESS, U256::from(LAST_BLOCK_SLOT))?;
        let timestamp = db.storage_value(SYSTEM_ADDRESS, U256::from(TIMESTAMP_SLOT))?;
        let mut evm = new_evm(db, chain_id);
        evm.ctx.cfg.disable_nonce_check = true;
        let number = u64::try_from(number).unwrap_or(u64::MAX);
        evm.ctx.block = block_env(number, timestamp, coinbase);
        Ok(Self { evm })
    }

    /// Makes the calls that follow see `state` in place of the stored state and run in the
    /// block `block` describes (fields it leaves `None` stay the last stored block's).
    pub fn set_overrides(
        &mut self,
        state: crate::overrides::StateOverrides,
        block: &crate::overrides::BlockOverrides,
    ) {
        self.evm.ctx.journaled_state.database.set_overrides(state);
        let b = &mut self.evm.ctx.block;
        if let Some(n) = block.number {
            b.number = U256::from(n);
        }
        if let Some(t) = block.time {
            b.timestamp = U256::from(t);
        }
        if let Some(c) = block.coinbase {
            b.beneficiary = c;
        }
        if let Some(g) = block.gas_limit {
            b.gas_limit = g;
        }
        if let Some(r) = block.prev_randao {
            b.prevrandao = Some(r);
        }
    }

    /// Runs `req`.
    pub fn call(&mut self, req: &CallRequest) -> Result<CallResult, ExecError> {
        Ok(self.run(req, req.gas.unwrap_or(TX_GAS_LIMIT))?.0)
    }

    /// The least gas limit with which `req` succeeds, at most `req.gas` (or the transaction
    /// limit); `Ok(Err(result))` with the failed call's result when it fails even there.
    ///
    /// A binary search on the gas limit, whose first probe is the gas the call spent before
    /// refunds at the cap: exact for most calls, one run. More is needed when the call's path
    /// wants gas it does not spend (the 63/64 kept back by CALL, a `GAS` check in the code,
    /// SSTORE's stipend rule): then the search runs between that probe (failing) and the cap
    /// (succeeding), about 25 runs at most. It assumes what every estimator does: a call that
    /// succeeds with some limit succeeds with any higher one.
    pub fn estimate_gas(
        &mut self,
        req: &CallRequest,
    ) -> Result<Result<u64, CallResult>, ExecError> {
        let cap = req.gas.unwrap_or(TX_GAS_LIMIT);
        let (at_cap, spent) = self.run(req, cap)?;
        if !at_cap.success {
            return Ok(Err(at_cap));
        }
        if spent >= cap || self.run(req, spent)?.0.success {
            return Ok(Ok(spent.min(cap)));
        }
        let (mut fails, mut succeeds) = (spent, cap);
        while succeeds - fails > 1 {
            let mid = fails + (succeeds - fails) / 2;
            if self.run(req, mid)?.0.success {
                succeeds = mid;
            } else {
                fails = mid;
            }
        }
        Ok(Ok(succeeds))
    }

    /// Ends the session: the tree, as it came (nothing was written to it).
    pub fn into_tree(self) -> Result<StateTree<S>, ExecError> {
        let (tree, writes, _) = self.evm.ctx.journaled_state.database.finish()?;
        debug_assert!(writes.is_empty(), "a read-only call wrote to the state");
        Ok(tree)
    }

    /// Runs `req` with `gas_limit`: its result and the gas it spent before refunds.
    fn run(&mut self, req: &CallRequest, gas_limit: u64) -> Result<(CallResult, u64), ExecError> {
        let env = TxEnv {
            tx_type: u8::from(!req.access_list.is_empty()),
            access_list: req.access_list.clone(),
            caller: req.from,
            gas_limit,
            gas_price: req.gas_price,
            kind: match req.to {
                Some(a) => TxKind::Call(a),
                None => TxKind::Create,
            },
            value: req.value,
            data: req.data.clone(),
            // The default names chain 1; a call names none, unless it carries an access list,
            // which makes it an EIP-2930 transaction, which names its chain.
            chain_id: (!req.access_list.is_empty()).then_some(self.evm.ctx.cfg.chain_id),
            ..Default::default()
        };
        // The state changes come back to us and are dropped: the database never sees them.
        let out = match super::trace::transact(&mut self.evm, env) {
            Ok(o) => RunOutcome::new(o.result),
            Err(EVMError::Database(e)) => return Err(e.into()),
            Err(EVMError::Transaction(e)) => {
                let refused = CallResult {
                    success: false,
                    output: Bytes::new(),
                    gas_used: 0,
                    logs: Vec::new(),
                    created: None,
                    failure: Some(format!("TX INVALID: {e}")),
                };
                return Ok((refused, 0));
            }
            Err(e) => return Err(StateError::Evm(e.to_string()).into()),
        };
        let spent = out.gas_spent;
        Ok((
            CallResult {
                success: out.success,
                output: out.output,
                gas_used: out.gas_used,
                logs: out.logs,
                created: out.created,
                failure: out.failure,
            },
            spent,
        ))
    }
}
