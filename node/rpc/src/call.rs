//! Calls without a transaction: `eth_call` (with geth's state and block overrides),
//! `eth_estimateGas` (a binary search that reports the revert reason when the call reverts)
//! and `eth_createAccessList` (the accounts and slots a call touches, and the gas it uses with
//! them warmed).

use std::collections::HashMap;

use alloy_primitives::{Address, Bytes, B256, U256};
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::RpcModule;
use serde::Deserialize;
use serde_json::{json, Value};
use zknode_executor::overrides::{AccountOverride, BlockOverrides, StateOverrides};
use zknode_executor::{CallResult, TraceError, TraceOptions};

use crate::params::{param, AccessItem, CallArgs};
use crate::{json, parse_quantity, BlockId, NodeApi, RpcError};

/// One account's overrides as JSON-RPC writes them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccountOverrideArg {
    balance: Option<U256>,
    nonce: Option<String>,
    code: Option<Bytes>,
    state: Option<HashMap<B256, B256>>,
    state_diff: Option<HashMap<B256, B256>>,
}

fn slots(m: HashMap<B256, B256>) -> HashMap<U256, U256> {
    m.into_iter()
        .map(|(k, v)| (U256::from_be_bytes(k.0), U256::from_be_bytes(v.0)))
        .collect()
}

/// The state overrides at position `i` (absent or null: none).
fn state_overrides(p: &[Value], i: usize) -> Result<StateOverrides, RpcError> {
    parse_state_overrides(p.get(i))
}

/// State overrides (absent or null: none).
pub(crate) fn parse_state_overrides(v: Option<&Value>) -> Result<StateOverrides, RpcError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(StateOverrides::new());
    };
    let m: HashMap<Address, AccountOverrideArg> = serde_json::from_value(v.clone())
        .map_err(|e| RpcError::invalid_params(format!("invalid state overrides: {e}")))?;
    m.into_iter()
        .map(|(a, o)| {
            if o.state.is_some() && o.state_diff.is_some() {
                return Err(RpcError::invalid_params(format!(
                    "account {a} has both 'state' and 'stateDiff'"
                )));
            }
            Ok((
                a,
                AccountOverride {
                    balance: o.balance,
                    nonce: o.nonce.as_deref().map(parse_quantity).transpose()?,
                    code: o.code,
                    state: o.state.map(slots),
                    state_diff: o.state_diff.map(slots).unwrap_or_default(),
                },
            ))
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BlockOverridesArg {
    number: Option<String>,
    time: Option<String>,
    gas_limit: Option<String>,
    #[serde(alias = "coinbase")]
    fee_recipient: Option<Address>,
    #[serde(alias = "random")]
    prev_randao: Option<B256>,
    /// Accepted when zero: every zkEVM block's base fee is.
    base_fee: Option<U256>,
}

fn block_overrides(p: &[Value], i: usize) -> Result<BlockOverrides, RpcError> {
    parse_block_overrides(p.get(i))
}

/// Block overrides (absent or null: none).
pub(crate) fn parse_block_overrides(v: Option<&Value>) -> Result<BlockOverrides, RpcError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(BlockOverrides::default());
    };
    let b: BlockOverridesArg = serde_json::from_value(v.clone())
        .map_err(|e| RpcError::invalid_params(format!("invalid block overrides: {e}")))?;
    if b.base_fee.is_some_and(|f| !f.is_zero()) {
        return Err(RpcError::invalid_params(
            "block overrides: baseFee must be 0 (a zkEVM block has no base fee)",
        ));
    }
    let q = |s: Option<String>| s.as_deref().map(parse_quantity).transpose();
    Ok(BlockOverrides {
        number: q(b.number)?,
        time: q(b.time)?,
        coinbase: b.fee_recipient,
        gas_limit: q(b.gas_limit)?,
        prev_randao: b.prev_randao,
    })
}

/// A failed call as Ethereum nodes answer it: refused before running (-32000 with the
/// reason), reverted (3 with the data, possibly empty, and the decoded reason), or halted
/// (-32000).
fn call_error(r: &CallResult) -> RpcError {
    match r.failure.as_deref() {
        Some(f) if f.starts_with("TX INVALID") => RpcError::server(f),
        reason if !r.output.is_empty() => RpcError::reverted(reason, &r.output),
        Some(f) if f.starts_with("execution reverted") => RpcError::reverted(Some(f), &r.output),
        Some(reason) => RpcError::server(format!("execution failed: {reason}")),
        None => RpcError::server("execution failed"),
    }
}

/// The precompiles of fork 12 (Berlin's 1 to 9): never listed in an access list.
fn is_precompile(a: &Address) -> bool {
    a.0[..19].iter().all(|b| *b == 0) && (1..=9).contains(&a.0[19])
}

/// The access list of what a prestate trace touched, sorted: every account whose storage the
/// call read or wrote, with those slots, and every other account it touched except the ones a
/// transaction warms anyway (sender, recipient, coinbase, precompiles), as geth lists them.
fn access_list_of(
    trace: &Value,
    from: Address,
    to: Option<Address>,
    coinbase: Address,
) -> Vec<AccessItem> {
    let mut out = Vec::new();
    if let Some(accounts) = trace.as_object() {
        for (a, state) in accounts {
            let Ok(address) = a.parse::<Address>() else {
                continue;
            };
            let mut storage_keys: Vec<B256> = state
                .get("storage")
                .and_then(Value::as_object)
                .map(|s| s.keys().filter_map(|k| k.parse().ok()).collect())
                .unwrap_or_default();
            let warm = address == from
                || Some(address) == to
                || address == coinbase
                || is_precompile(&address);
            if warm && storage_keys.is_empty() {
                continue;
            }
            storage_keys.sort();
            out.push(AccessItem {
                address,
                storage_keys,
            });
        }
    }
    out.sort_by_key(|i| i.address);
    out
}

pub(crate) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    method!(m, "eth_call", 4, |p, c| async move {
        let args: CallArgs = param(&p, 0, "call object")?;
        let req = args.request()?;
        let state = state_overrides(&p, 2)?;
        let block = block_overrides(&p, 3)?;
        let root = c.root_of(BlockId::parse(p.get(1))?).await?;
        let r = c
            .with_evm(root, "call", move |evm| {
                evm.set_overrides(state, &block);
                evm.call(&req)
            })
            .await?;
        if r.success {
            Ok(json!(json::data(&r.output)))
        } else {
            Err(call_error(&r))
        }
    });
    method!(m, "eth_estimateGas", 3, |p, c| async move {
        let args: CallArgs = param(&p, 0, "call object")?;
        let req = args.request()?;
        let state = state_overrides(&p, 2)?;
        let root = c.root_of(BlockId::parse(p.get(1))?).await?;
        let r = c
            .with_evm(root, "estimate", move |evm| {
                evm.set_overrides(state, &BlockOverrides::default());
                evm.estimate_gas(&req)
            })
            .await?;
        match r {
            Ok(gas) => Ok(json!(json::qty(gas))),
            Err(failed) if !failed.output.is_empty() => Err(call_error(&failed)),
            Err(failed) => match failed.failure.as_deref() {
                Some(f) if f.starts_with("TX INVALID") => Err(RpcError::server(f)),
                reason => Err(RpcError::server(format!(
                    "gas required exceeds allowance ({})",
                    reason.unwrap_or("the call fails")
                ))),
            },
        }
    });
    method!(m, "eth_createAccessList", 2, |p, c| async move {
        let args: CallArgs = param(&p, 0, "call object")?;
        let mut req = args.request()?;
        let root = c.root_of(BlockId::parse(p.get(1))?).await?;
        let coinbase = c.coinbase;
        let prestate = TraceOptions::new(
            serde_json::from_value(json!({"tracer": "prestateTracer"}))
                .map_err(|e| RpcError::internal("access list", e))?,
        )
        .map_err(|e| RpcError::internal("access list", e))?;
        let (list, result) = c
            .with_evm(root, "access list", move |evm| {
                // The list can change the path a call takes (a GAS check, say): run until it
                // stops changing, as geth does, a few rounds at most.
                let mut list = Vec::new();
                for _ in 0..4 {
                    req.access_list = AccessItem::list(&list);
                    let trace = match evm.trace_call(&req, &prestate) {
                        Ok(t) => serde_json::to_value(t).unwrap_or(Value::Null),
                        Err(TraceError::Refused(_)) => Value::Null,
                        Err(e) => return Ok(Err(e.to_string())),
                    };
                    let next = access_list_of(&trace, req.from, req.to, coinbase);
                    if next == list {
                        break;
                    }
                    list = next;
                }
                req.access_list = AccessItem::list(&list);
                let r = evm.call(&req)?;
                Ok(Ok((list, r)))
            })
            .await?
            .map_err(|e| RpcError::internal("access list", e))?;
        if result
            .failure
            .as_deref()
            .is_some_and(|f| f.starts_with("TX INVALID"))
        {
            return Err(call_error(&result));
        }
        let mut out = json!({
            "accessList": list
                .iter()
                .map(|i| json!({"address": i.address, "storageKeys": i.storage_keys}))
                .collect::<Vec<_>>(),
            "gasUsed": json::qty(result.gas_used),
        });
        if !result.success {
            out["error"] = json!(call_error(&result).message);
        }
        Ok(out)
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_with_clear_errors() {
        let a = Address::repeat_byte(1);
        let p = vec![
            Value::Null,
            Value::Null,
            json!({ a.to_string(): {
                "balance": "0x10", "nonce": "0x2", "code": "0x6000",
                "stateDiff": {B256::with_last_byte(1).to_string(): B256::with_last_byte(7).to_string()}
            }}),
            json!({"number": "0x64", "time": "0x5", "feeRecipient": a}),
        ];
        let s = state_overrides(&p, 2).unwrap();
        let o = &s[&a];
        assert_eq!(o.balance, Some(U256::from(16)));
        assert_eq!(o.nonce, Some(2));
        assert_eq!(o.state_diff[&U256::from(1)], U256::from(7));
        let b = block_overrides(&p, 3).unwrap();
        assert_eq!(
            (b.number, b.time, b.coinbase),
            (Some(100), Some(5), Some(a))
        );
        for bad in [
            json!({ a.to_string(): {"state": {}, "stateDiff": {}} }),
            json!({ a.to_string(): {"balanse": "0x1"} }),
            json!({ "0x12": {} }),
        ] {
            assert!(
                state_overrides(&[Value::Null, Value::Null, bad.clone()], 2).is_err(),
                "{bad}"
            );
        }
        assert!(block_overrides(
            &[
                Value::Null,
                Value::Null,
                Value::Null,
                json!({"baseFee": "0x1"})
            ],
            3
        )
        .is_err());
        assert!(state_overrides(&[], 2).unwrap().is_empty());
    }

    #[test]
    fn access_lists_leave_out_warm_accounts_without_slots() {
        let from = Address::repeat_byte(1);
        let to = Address::repeat_byte(2);
        let other = Address::repeat_byte(3);
        let trace = json!({
            from.to_string(): {"balance": "0x1"},
            to.to_string(): {"storage": {B256::with_last_byte(1).to_string(): B256::ZERO.to_string()}},
            other.to_string(): {"storage": {
                B256::with_last_byte(9).to_string(): B256::ZERO.to_string(),
                B256::with_last_byte(2).to_string(): B256::ZERO.to_string()}},
            Address::with_last_byte(4).to_string(): {},
        });
        let l = access_list_of(&trace, from, Some(to), Address::ZERO);
        assert_eq!(
            l,
            vec![
                AccessItem {
                    address: to,
                    storage_keys: vec![B256::with_last_byte(1)],
                },
                AccessItem {
                    address: other,
                    storage_keys: vec![B256::with_last_byte(2), B256::with_last_byte(9)],
                },
            ]
        );
    }
}
