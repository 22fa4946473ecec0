//! The cases of the zkevm, txpool and debug namespaces, for `schema.rs`.

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use serde_json::{json, Value};

use super::{word, Checker, Sent, FAR, REVERT_INIT, UNKNOWN};

/// The zkevm namespace: batch numbers, batches by number and tag, blocks with the zkEVM
/// fields, transactions and receipts by L2 hash, exit roots, counters, the witness.
pub async fn zkevm<P: Provider>(c: &mut Checker<'_, P>, me: Address, r: &[Value]) {
    let (uint, boolean, none) = (
        "base.json#/uint",
        "base.json#/boolean",
        "base.json#/notFound",
    );
    for m in [
        "zkevm_batchNumber",
        "zkevm_virtualBatchNumber",
        "zkevm_verifiedBatchNumber",
        "zkevm_consolidatedBlockNumber",
        "zkevm_getForkId",
    ] {
        c.check(m, json!([]), uint).await;
    }
    c.check(
        "zkevm_getLatestGlobalExitRoot",
        json!([]),
        "base.json#/hash32",
    )
    .await;
    let ger = json!(B256::ZERO);
    c.check(
        "zkevm_getExitRootsByGER",
        json!([ger]),
        "zkevm.json#/ExitRootsOrNull",
    )
    .await;
    let n = &r[1]["blockNumber"];
    c.check("zkevm_isBlockVirtualized", json!([n]), boolean)
        .await;
    c.check("zkevm_isBlockConsolidated", json!([n]), boolean)
        .await;
    c.check("zkevm_isBlockConsolidated", json!([FAR]), boolean)
        .await;
    let batch = c
        .check("zkevm_batchNumberByBlockNumber", json!([n]), uint)
        .await;
    c.check("zkevm_batchNumberByBlockNumber", json!([FAR]), none)
        .await;
    let b = "zkevm.json#/Batch";
    for full in [false, true] {
        c.check("zkevm_getBatchByNumber", json!([batch, full]), b)
            .await;
        for tag in ["latest", "pending", "earliest", "safe", "finalized"] {
            c.check("zkevm_getBatchByNumber", json!([tag, full]), b)
                .await;
        }
    }
    c.check("zkevm_getBatchByNumber", json!([FAR, true]), none)
        .await;
    let closed = c
        .check("zkevm_getBatchByNumber", json!(["latest", false]), b)
        .await;
    c.expect(closed["number"] != "0x0", "a batch after genesis is closed");
    c.check(
        "zkevm_getBatchWitness",
        json!([closed["number"]]),
        "zkevm.json#/Witness",
    )
    .await;
    c.check("zkevm_getBatchWitness", json!([FAR]), none).await;
    for receipt in [&r[0], &r[2]] {
        let (n, h) = (&receipt["blockNumber"], &receipt["blockHash"]);
        for (full, schema) in [
            (false, "zkevm.json#/BlockHashes"),
            (true, "zkevm.json#/BlockFull"),
        ] {
            c.check("zkevm_getFullBlockByNumber", json!([n, full]), schema)
                .await;
            c.check("zkevm_getFullBlockByHash", json!([h, full]), schema)
                .await;
        }
        let l2 = &receipt["transactionL2Hash"];
        c.check(
            "zkevm_getTransactionByL2Hash",
            json!([l2]),
            "zkevm.json#/Transaction",
        )
        .await;
        c.check(
            "zkevm_getTransactionReceiptByL2Hash",
            json!([l2]),
            "eth.json#/Receipt",
        )
        .await;
    }
    c.check(
        "zkevm_getFullBlockByNumber",
        json!(["pending", true]),
        "zkevm.json#/BlockFull",
    )
    .await;
    c.check("zkevm_getFullBlockByNumber", json!([FAR, true]), none)
        .await;
    c.check("zkevm_getFullBlockByHash", json!([UNKNOWN, true]), none)
        .await;
    c.check("zkevm_getTransactionByL2Hash", json!([UNKNOWN]), none)
        .await;
    c.check(
        "zkevm_getTransactionReceiptByL2Hash",
        json!([UNKNOWN]),
        none,
    )
    .await;
    c.check(
        "zkevm_getNativeBlockHashesInRange",
        json!([{"fromBlock": "0x0", "toBlock": "latest"}]),
        "base.json#/hashes",
    )
    .await;
    let counters = "zkevm.json#/Counters";
    let transfer = json!({"from": me, "to": Address::repeat_byte(0x42), "value": "0x1"});
    c.check(
        "zkevm_estimateCounters",
        json!([transfer, "latest"]),
        counters,
    )
    .await;
    let reverting = json!({"from": me, "data": format!("0x{REVERT_INIT}")});
    let got = c
        .check("zkevm_estimateCounters", json!([reverting]), counters)
        .await;
    c.expect(
        got["revert"].is_object(),
        format!("a reverting call: {got}"),
    );
}

/// The pool in geth's shapes, and traces.
pub async fn txpool_and_debug<P: Provider>(
    c: &mut Checker<'_, P>,
    waiting: Address,
    emitter: Address,
    sent: &[Sent],
    r: &[Value],
) {
    c.check("txpool_status", json!([]), "txpool.json#/Status")
        .await;
    let all = c
        .check("txpool_content", json!([]), "txpool.json#/Content")
        .await;
    c.expect(
        all["queued"].as_object().is_some_and(|q| !q.is_empty()),
        format!("the transaction behind a gap is queued: {all}"),
    );
    let from = "txpool.json#/ContentFrom";
    c.check("txpool_contentFrom", json!([waiting]), from).await;
    c.check("txpool_contentFrom", json!([Address::repeat_byte(9)]), from)
        .await;

    let (logs, calls, blocks) = (
        "debug.json#/StructLogs",
        "debug.json#/CallFrame",
        "debug.json#/BlockTraces",
    );
    for ((_, hash), _) in &sent[..3] {
        c.check("debug_traceTransaction", json!([hash]), logs).await;
        let tracer = json!({"tracer": "callTracer"});
        c.check("debug_traceTransaction", json!([hash, tracer]), calls)
            .await;
    }
    c.check(
        "debug_traceBlockByNumber",
        json!([r[1]["blockNumber"]]),
        blocks,
    )
    .await;
    c.check("debug_traceBlockByHash", json!([r[2]["blockHash"]]), blocks)
        .await;
    let call = json!({"to": emitter, "data": word(9)});
    c.check("debug_traceCall", json!([call, "latest"]), logs)
        .await;
    let tracer = json!({"tracer": "callTracer", "tracerConfig": {"withLog": true}});
    c.check("debug_traceCall", json!([call, "latest", tracer]), calls)
        .await;
}
