//! The `debug` namespace: geth's transaction traces. `debug_traceTransaction`,
//! `debug_traceBlockByNumber`, `debug_traceBlockByHash` and `debug_traceCall`, with the struct
//! logger (the default; options `disableStorage`, `disableStack`, `enableMemory`,
//! `enableReturnData`, `limit`), `callTracer` (`onlyTopCall`, `withLog`) and `prestateTracer`
//! (`diffMode`), in geth's result shapes. Served only when `[rpc] debug = true`: a trace replays
//! a block, which costs far more than a read.
//!
//! A stored transaction is traced by replaying its block from the state root of the block
//! before, on a blocking thread ([`zknode_executor::trace_block`]). The struct logger is capped
//! per request ([`zknode_executor::processor::MAX_STRUCT_LOG_STEPS`] steps and
//! [`zknode_executor::processor::MAX_SNAPSHOT_BYTES`] of snapshots; geth has no cap): past it the
//! request is refused with -32000, unless `limit` keeps each transaction's steps below it.

use std::sync::Arc;

use alloy_primitives::B256;
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::RpcModule;
use serde_json::{json, Map, Value};
use zknode_executor::processor::{GethDebugTracingOptions, GethTrace};
use zknode_executor::{decode_signed, trace_block, ReplayBlock, TraceError, TraceOptions};
use zknode_state::StateTree;
use zknode_storage::BlockReader;

use crate::params::{param, CallArgs};
use crate::state::root_hash;
use crate::{BlockId, NodeApi, RpcError};

pub(crate) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    method!(m, "debug_traceTransaction", 2, |p, c| async move {
        let hash: B256 = param(&p, 0, "transaction hash")?;
        let opts = options(p.get(1), false)?;
        let Some(t) = c.db.transaction_by_hash(hash).await? else {
            return Err(RpcError::server(format!("transaction {hash} not found")));
        };
        let mut traces = trace_stored(&c, t.block_number, Some(hash), opts).await?;
        match traces.pop() {
            Some((_, trace)) => to_json(&trace),
            None => Err(RpcError::internal(
                "trace",
                format!("transaction {hash} is not in block {}", t.block_number),
            )),
        }
    });
    method!(m, "debug_traceBlockByNumber", 2, |p, c| async move {
        if p.is_empty() {
            return Err(RpcError::invalid_params(
                "missing value for required argument 0",
            ));
        }
        let id = BlockId::parse(p.first())?;
        let opts = options(p.get(1), false)?;
        let Some(n) = c.number_of(id).await? else {
            return Err(RpcError::server(match id {
                BlockId::Number(n) => format!("block #{n} not found"),
                _ => "block not found".to_string(),
            }));
        };
        block_result(trace_stored(&c, n, None, opts).await?)
    });
    method!(m, "debug_traceBlockByHash", 2, |p, c| async move {
        let hash: B256 = param(&p, 0, "block hash")?;
        let opts = options(p.get(1), false)?;
        let Some(b) = c.db.block_by_hash(hash).await? else {
            return Err(RpcError::server(format!("block {hash} not found")));
        };
        block_result(trace_stored(&c, b.header.number, None, opts).await?)
    });
    method!(m, "debug_traceCall", 3, |p, c| async move {
        let args: CallArgs = param(&p, 0, "call object")?;
        let req = args.request()?;
        let root = c.root_of(BlockId::parse(p.get(1))?).await?;
        let opts = options(p.get(2), true)?;
        let (state, block) = call_overrides(p.get(2))?;
        let trace = c
            .with_evm(root, "trace call", move |evm| {
                evm.set_overrides(state, &block);
                Ok(evm.trace_call(&req, &opts))
            })
            .await?
            .map_err(trace_error)?;
        to_json(&trace)
    });
    Ok(())
}

/// `debug_traceCall`'s state and block overrides, in its tracer options, as `eth_call` takes
/// them.
fn call_overrides(
    v: Option<&Value>,
) -> Result<
    (
        zknode_executor::overrides::StateOverrides,
        zknode_executor::overrides::BlockOverrides,
    ),
    RpcError,
> {
    let get = |k: &str| v.and_then(|v| v.get(k));
    Ok((
        crate::call::parse_state_overrides(get("stateOverrides"))?,
        crate::call::parse_block_overrides(get("blockOverrides"))?,
    ))
}

/// The tracer options at parameter `v` (absent or null: the struct logger with geth's
/// defaults). `call`: `debug_traceCall`'s, whose overrides are taken out (see
/// [`call_overrides`]) and whose `txIndex` is refused rather than ignored.
fn options(v: Option<&Value>, call: bool) -> Result<TraceOptions, RpcError> {
    let obj = match v {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(other) => {
            return Err(RpcError::invalid_params(format!(
                "invalid tracer options: expected an object, got {other}"
            )))
        }
    };
    let mut obj = obj;
    if call {
        if obj.get("txIndex").is_some_and(|v| !v.is_null()) {
            return Err(RpcError::invalid_params(
                "tracer options: txIndex is not supported by debug_traceCall on this node",
            ));
        }
        obj.remove("stateOverrides");
        obj.remove("blockOverrides");
    }
    let opts: GethDebugTracingOptions = serde_json::from_value(Value::Object(obj))
        .map_err(|e| RpcError::invalid_params(format!("invalid tracer options: {e}")))?;
    TraceOptions::new(opts).map_err(trace_error)
}

fn trace_error(e: TraceError) -> RpcError {
    match e {
        TraceError::Options(m) => RpcError::invalid_params(m),
        TraceError::TooLarge(m) | TraceError::Refused(m) => RpcError::server(m),
        TraceError::Replay(m) => {
            tracing::warn!(target: "rpc", "trace: {m}");
            RpcError::server(m)
        }
        TraceError::Exec(e) => RpcError::internal("trace", e),
    }
}

fn to_json(trace: &GethTrace) -> Result<Value, RpcError> {
    serde_json::to_value(trace).map_err(|e| RpcError::internal("trace", e))
}

/// `debug_traceBlockBy*`'s answer: one `{txHash, result}` per transaction, in order.
fn block_result(traces: Vec<(B256, GethTrace)>) -> Result<Value, RpcError> {
    let mut out = Vec::with_capacity(traces.len());
    for (hash, trace) in &traces {
        out.push(json!({"txHash": hash, "result": to_json(trace)?}));
    }
    Ok(Value::Array(out))
}

/// Traces stored block `number`: every transaction, or only the one with hash `only`. Each
/// trace comes with its transaction's hash.
async fn trace_stored(
    c: &Arc<NodeApi>,
    number: u64,
    only: Option<B256>,
    opts: TraceOptions,
) -> Result<Vec<(B256, GethTrace)>, RpcError> {
    if number == 0 {
        return Err(RpcError::server("genesis is not traceable"));
    }
    let Some(block) = c.db.block_by_number(number).await? else {
        return Err(RpcError::server(format!("block #{number} not found")));
    };
    let Some(parent) = c.db.block_by_number(number - 1).await? else {
        return Err(RpcError::internal(
            "trace",
            format!("block {} is missing", number - 1),
        ));
    };
    let stored = c.db.block_transactions(number).await?;
    let mut txs = Vec::with_capacity(stored.len());
    for t in &stored {
        let mut tx =
            decode_signed(&t.raw).map_err(|e| RpcError::internal("stored transaction", e))?;
        tx.effective_percentage = t.effective_percentage;
        txs.push((tx, t.sender));
    }
    let index = match only {
        None => None,
        Some(h) => match stored.iter().position(|t| t.hash == h) {
            Some(i) => Some(i),
            None => {
                return Err(RpcError::internal(
                    "trace",
                    format!("transaction {h} is not in block {number}"),
                ))
            }
        },
    };
    let hashes: Vec<B256> = match index {
        None => stored.iter().map(|t| t.hash).collect(),
        Some(i) => vec![stored[i].hash],
    };
    let replay = ReplayBlock {
        number,
        timestamp: block.header.timestamp,
        coinbase: block.header.coinbase,
        global_exit_root: block.global_exit_root,
        state_root: block.header.state_root,
        txs,
    };
    let parent_root = parent.header.state_root;
    let c = c.clone();
    let traces = tokio::task::spawn_blocking(move || {
        let tree = StateTree::at_root(&*c.store, root_hash(&parent_root)?);
        trace_block(tree, &*c.store, c.chain_id, &replay, index, &opts).map_err(trace_error)
    })
    .await
    .map_err(|e| RpcError::internal("trace", e))??;
    Ok(hashes.into_iter().zip(traces).collect())
}
