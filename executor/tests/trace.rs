//! Debug traces of a block built as the sequencer builds it: replayed from the state root
//! before the block, every traced transaction reports the gas, status and output of its receipt;
//! the struct logger sees the opcodes (SSTORE, LOG1, the nested CALL), the call tracer the
//! nested call and the revert, the prestate tracer the accounts before the transaction and, in
//! diff mode, what it changed; tracing one transaction gives the same trace as tracing the whole
//! block; a call is traced over a root; the struct logger's cap and `limit`; unknown tracers.

mod common;

use std::collections::HashMap;

use common::{addr, key, sequencer, CHAIN, GWEI};
use revm::primitives::{Address, Bytes, U256};
use serde_json::{json, Value};
use zknode_executor::processor::{GethDebugTracingOptions, MAX_STRUCT_LOG_STEPS};
use zknode_executor::{
    trace_block, BatchBuilder, CallRequest, RawTx, ReadOnlyEvm, Receipt, ReplayBlock, TraceError,
    TraceOptions,
};
use zknode_state::genesis::{self, GenesisAccount, Number};
use zknode_state::{keys, Hash, MemoryStore, StateTree};

const TEN_ETHER: u128 = 10_000_000_000_000_000_000;

/// Slot 0 += 1.
const INNER: Address = Address::new([0xaa; 20]);
const INNER_CODE: [u8; 10] = [0x60, 0x01, 0x60, 0x00, 0x54, 0x01, 0x60, 0x00, 0x55, 0x00];

/// Stores its argument x in slot 0, logs it as LOG1's topic, calls [`INNER`], then reverts when
/// x is zero.
const OUTER: Address = Address::new([0xbb; 20]);

fn outer_code() -> Vec<u8> {
    let mut c = vec![
        0x60, 0x00, 0x35, // x = calldataload(0)
        0x80, 0x60, 0x00, 0x55, // sstore(0, x)
        0x80, 0x60, 0x00, 0x60, 0x00, 0xa1, // log1(0, 0, x)
        0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x73,
    ];
    c.extend_from_slice(INNER.as_slice());
    c.extend_from_slice(&[
        0x5a, 0xf1, 0x50, // pop(call(gas, INNER, 0, 0, 0, 0, 0))
        0x60, 0x37, 0x57, // if x jump to 55
        0x60, 0x00, 0x60, 0x00, 0xfd, // revert(0, 0)
        0x5b, 0x00, // 55: stop
    ]);
    assert_eq!(c[55], 0x5b);
    c
}

/// Loops until its gas runs out.
const LOOP: Address = Address::new([0x1f; 20]);
const LOOP_CODE: [u8; 4] = [0x5b, 0x60, 0x00, 0x56];

fn contracts() -> Vec<(Address, Vec<u8>)> {
    vec![
        (INNER, INNER_CODE.to_vec()),
        (OUTER, outer_code()),
        (LOOP, LOOP_CODE.to_vec()),
    ]
}

fn genesis(store: &MemoryStore) -> Hash {
    let mut accounts: Vec<GenesisAccount> = (0..2)
        .map(|i| GenesisAccount {
            address: addr(i).to_string(),
            balance: Some(Number::Str(TEN_ETHER.to_string())),
            nonce: None,
            bytecode: None,
            storage: None,
        })
        .collect();
    for (a, code) in contracts() {
        accounts.push(GenesisAccount {
            address: a.to_string(),
            balance: None,
            nonce: Some(Number::Int(1)),
            bytecode: Some(format!("0x{}", hex::encode(code))),
            storage: None,
        });
    }
    let mut tree = StateTree::open(store).unwrap();
    genesis::apply(&mut tree, &accounts).unwrap();
    tree.commit().unwrap()
}

fn codes() -> HashMap<Hash, Bytes> {
    contracts()
        .into_iter()
        .map(|(_, c)| (keys::hash_bytecode(&c), Bytes::from(c)))
        .collect()
}

fn call_outer(from: u64, nonce: u64, x: u8) -> RawTx {
    let mut data = [0u8; 32];
    data[31] = x;
    RawTx::new(
        nonce,
        U256::from(GWEI),
        200_000,
        Some(OUTER),
        U256::ZERO,
        Bytes::copy_from_slice(&data),
        Some(CHAIN),
    )
    .sign(&key(from))
}

fn transfer(from: u64, nonce: u64, to: Address, value: u64) -> RawTx {
    RawTx::new(
        nonce,
        U256::from(GWEI),
        21_000,
        Some(to),
        U256::from(value),
        Bytes::new(),
        Some(CHAIN),
    )
    .sign(&key(from))
}

/// A chain of genesis and one block (outer(7), outer(0) which reverts, a transfer), committed.
struct Chain {
    store: MemoryStore,
    codes: HashMap<Hash, Bytes>,
    genesis_root: Hash,
    block: ReplayBlock,
    receipts: Vec<Receipt>,
}

fn chain() -> Chain {
    let store = MemoryStore::new();
    let genesis_root = genesis(&store);
    let codes = codes();
    let ctx = common::ctx();
    let txs = vec![
        (call_outer(0, 0, 7), addr(0)),
        (call_outer(1, 0, 0), addr(1)),
        (transfer(0, 1, addr(1), 1_000), addr(0)),
    ];
    let mut b = BatchBuilder::new(StateTree::at_root(&store, genesis_root), &codes, &ctx);
    b.open_block_at(10, 0).unwrap().unwrap();
    let mut receipts = Vec::new();
    for (tx, from) in &txs {
        let r = b.execute_tx(tx.clone(), Some(*from)).unwrap();
        receipts.push(r.outcome.clone().expect("the transaction runs"));
    }
    let closed = b.close_block().unwrap();
    let (number, state_root) = (closed.block.number, closed.block.hash);
    let mut sealed = b.finish().unwrap();
    sealed.tree.commit().unwrap();
    Chain {
        block: ReplayBlock {
            number,
            timestamp: 10,
            coinbase: sequencer(),
            global_exit_root: Default::default(),
            state_root,
            txs,
        },
        store,
        codes,
        genesis_root,
        receipts,
    }
}

fn options(v: Value) -> TraceOptions {
    let opts: GethDebugTracingOptions = serde_json::from_value(v).unwrap();
    TraceOptions::new(opts).unwrap()
}

impl Chain {
    fn trace(&self, only: Option<usize>, opts: Value) -> Result<Vec<Value>, TraceError> {
        let tree = StateTree::at_root(&self.store, self.genesis_root);
        let traces = trace_block(tree, &self.codes, CHAIN, &self.block, only, &options(opts))?;
        Ok(traces
            .into_iter()
            .map(|t| serde_json::to_value(t).unwrap())
            .collect())
    }
}

fn qty(v: &Value) -> u64 {
    let s = v.as_str().expect("a hex quantity");
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn struct_logs_match_the_receipts() {
    let c = chain();
    let traces = c.trace(None, json!({})).unwrap();
    assert_eq!(traces.len(), 3);
    for (t, r) in traces.iter().zip(&c.receipts) {
        assert_eq!(t["gas"].as_u64(), Some(r.gas_used), "{t}");
        assert_eq!(t["failed"].as_bool(), Some(!r.success));
        assert_eq!(t["returnValue"], json!("0x"));
    }
    assert!(c.receipts[0].success && !c.receipts[1].success && c.receipts[2].success);
    let ops = |t: &Value| -> Vec<String> {
        t["structLogs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["op"].as_str().unwrap().to_string())
            .collect()
    };
    let first = ops(&traces[0]);
    assert_eq!(&first[..3], ["PUSH1", "CALLDATALOAD", "DUP1"]);
    for op in ["SSTORE", "LOG1", "CALL", "SLOAD", "STOP"] {
        assert!(first.iter().any(|o| o == op), "{op} in {first:?}");
    }
    assert!(!first.iter().any(|o| o == "REVERT"));
    assert_eq!(ops(&traces[1]).last().map(String::as_str), Some("REVERT"));
    // A transfer runs no code.
    assert_eq!(traces[2]["structLogs"], json!([]));
    // The inner contract's steps are at depth 2, and its SSTORE shows the slot written.
    let logs = traces[0]["structLogs"].as_array().unwrap();
    let inner_sstore = logs
        .iter()
        .find(|l| l["op"] == "SSTORE" && l["depth"] == 2)
        .expect("the inner SSTORE");
    let slot0 = format!("0x{}", "0".repeat(64));
    let one = format!("0x{}1", "0".repeat(63));
    assert_eq!(inner_sstore["storage"][&slot0], json!(one));
    // Gas fields: the first step has the transaction's gas less the intrinsic cost.
    assert_eq!(
        logs[0]["gas"].as_u64(),
        Some(200_000 - 21_000 - 16 - 4 * 31)
    );
    assert_eq!(logs[0]["gasCost"].as_u64(), Some(3));
}

#[test]
fn one_transaction_traces_as_in_the_whole_block() {
    let c = chain();
    for opts in [
        json!({}),
        json!({"tracer": "callTracer"}),
        json!({"tracer": "prestateTracer"}),
    ] {
        let block = c.trace(None, opts.clone()).unwrap();
        assert_eq!(block.len(), 3);
        for (i, whole) in block.iter().enumerate() {
            let one = c.trace(Some(i), opts.clone()).unwrap();
            assert_eq!(one, vec![whole.clone()], "tx {i} with {opts}");
        }
    }
    assert!(matches!(
        c.trace(Some(3), json!({})),
        Err(TraceError::Replay(_))
    ));
}

#[test]
fn call_tracer_shows_the_nested_call_and_the_revert() {
    let c = chain();
    let traces = c.trace(None, json!({"tracer": "callTracer"})).unwrap();
    let ok = &traces[0];
    assert_eq!(ok["type"], "CALL");
    assert_eq!(ok["from"], json!(addr(0)));
    assert_eq!(ok["to"], json!(OUTER));
    assert_eq!(qty(&ok["gasUsed"]), c.receipts[0].gas_used);
    assert!(ok.get("error").is_none());
    let calls = ok["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["type"], "CALL");
    assert_eq!(calls[0]["from"], json!(OUTER));
    assert_eq!(calls[0]["to"], json!(INNER));
    let reverted = &traces[1];
    assert_eq!(reverted["error"], "execution reverted");
    assert_eq!(qty(&reverted["gasUsed"]), c.receipts[1].gas_used);
    // Logs only with withLog; the top call alone with onlyTopCall.
    assert!(ok.get("logs").is_none());
    let with_log = c
        .trace(
            Some(0),
            json!({"tracer": "callTracer", "tracerConfig": {"withLog": true}}),
        )
        .unwrap();
    let logs = with_log[0]["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["address"], json!(OUTER));
    assert_eq!(
        logs[0]["topics"][0],
        json!(format!("0x{}07", "0".repeat(62)))
    );
    let top = c
        .trace(
            Some(0),
            json!({"tracer": "callTracer", "tracerConfig": {"onlyTopCall": true}}),
        )
        .unwrap();
    assert!(top[0].get("calls").is_none());
}

#[test]
fn prestate_tracer_shows_the_state_before_and_the_diff() {
    let c = chain();
    let traces = c.trace(None, json!({"tracer": "prestateTracer"})).unwrap();
    // Transaction 2 (the transfer) runs after transaction 0 of the same sender.
    let pre = &traces[2];
    let sender = &pre[addr(0).to_string().to_lowercase()];
    assert_eq!(sender["nonce"], json!(1));
    let spent = U256::from(c.receipts[0].gas_used * GWEI);
    let balance = U256::from(TEN_ETHER) - spent;
    assert_eq!(sender["balance"], json!(format!("{balance:#x}")));
    // Transaction 0 reads OUTER's slot 0 (zero before it) and INNER's.
    let outer = &traces[0][OUTER.to_string().to_lowercase()];
    assert_eq!(outer["nonce"], json!(1));
    assert!(outer["code"].as_str().unwrap().starts_with("0x600035"));
    let slot0 = format!("0x{}", "0".repeat(64));
    assert_eq!(outer["storage"][&slot0], json!(slot0));

    let diff = c
        .trace(
            Some(0),
            json!({"tracer": "prestateTracer", "tracerConfig": {"diffMode": true}}),
        )
        .unwrap();
    let post_outer = &diff[0]["post"][OUTER.to_string().to_lowercase()];
    assert_eq!(
        post_outer["storage"][&slot0],
        json!(format!("0x{}07", "0".repeat(62)))
    );
    let post_sender = &diff[0]["post"][addr(0).to_string().to_lowercase()];
    assert_eq!(post_sender["nonce"], json!(1));
    assert_eq!(post_sender["balance"], json!(format!("{balance:#x}")));
    let pre_sender = &diff[0]["pre"][addr(0).to_string().to_lowercase()];
    assert_eq!(
        pre_sender["balance"],
        json!(format!("{:#x}", U256::from(TEN_ETHER)))
    );
}

#[test]
fn a_call_is_traced_over_a_root() {
    let c = chain();
    let root: Hash = Hash::from_u256(U256::from_be_bytes(c.block.state_root.0)).unwrap();
    let mut evm = ReadOnlyEvm::new(
        StateTree::at_root(&c.store, root),
        &c.codes,
        CHAIN,
        sequencer(),
    )
    .unwrap();
    let mut data = vec![0u8; 32];
    data[31] = 9;
    let req = CallRequest {
        from: addr(0),
        to: Some(OUTER),
        data: data.into(),
        ..Default::default()
    };
    let call = evm.call(&req).unwrap();
    let t = evm
        .trace_call(&req, &options(json!({"tracer": "callTracer"})))
        .unwrap();
    let t = serde_json::to_value(t).unwrap();
    assert_eq!(qty(&t["gasUsed"]), call.gas_used);
    assert_eq!(t["calls"][0]["to"], json!(INNER));
    // The struct logger on the same EVM, after the call tracer.
    let s = serde_json::to_value(evm.trace_call(&req, &options(json!({}))).unwrap()).unwrap();
    assert_eq!(s["gas"].as_u64(), Some(call.gas_used));
    // A call that cannot pay its value is refused, with eth_call's reason.
    let broke = CallRequest {
        from: Address::repeat_byte(0x77),
        to: Some(OUTER),
        value: U256::from(1),
        ..Default::default()
    };
    match evm.trace_call(&broke, &options(json!({}))) {
        Err(TraceError::Refused(m)) => assert!(m.starts_with("TX INVALID"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn struct_logs_are_capped_unless_limited() {
    let c = chain();
    let root: Hash = Hash::from_u256(U256::from_be_bytes(c.block.state_root.0)).unwrap();
    let mut evm = ReadOnlyEvm::new(
        StateTree::at_root(&c.store, root),
        &c.codes,
        CHAIN,
        sequencer(),
    )
    .unwrap();
    // About 12 gas for 3 steps: far more than the cap's steps.
    let req = CallRequest {
        from: addr(0),
        to: Some(LOOP),
        gas: Some(2_000_000),
        ..Default::default()
    };
    match evm.trace_call(&req, &options(json!({}))) {
        Err(TraceError::TooLarge(m)) => {
            assert!(m.contains(&MAX_STRUCT_LOG_STEPS.to_string()), "{m}")
        }
        other => panic!("{other:?}"),
    }
    let limited = evm
        .trace_call(&req, &options(json!({"limit": 10})))
        .unwrap();
    let limited = serde_json::to_value(limited).unwrap();
    assert_eq!(limited["structLogs"].as_array().unwrap().len(), 10);
    assert_eq!(limited["failed"], json!(true));
    assert_eq!(limited["gas"].as_u64(), Some(2_000_000));
    // The call tracer records no steps and has no cap.
    let calls = evm
        .trace_call(&req, &options(json!({"tracer": "callTracer"})))
        .unwrap();
    assert_eq!(serde_json::to_value(calls).unwrap()["error"], "out of gas");
}

#[test]
fn unknown_tracers_and_bad_configs_are_refused() {
    for (opts, want) in [
        (
            json!({"tracer": "fooTracer"}),
            "\"fooTracer\" is not supported",
        ),
        (
            json!({"tracer": "4byteTracer"}),
            "\"4byteTracer\" is not supported",
        ),
        (
            json!({"tracer": "callTracer", "tracerConfig": {"onlyTopCall": "yes"}}),
            "invalid tracerConfig for callTracer",
        ),
        (
            json!({"tracer": "prestateTracer", "tracerConfig": {"diffMode": 1}}),
            "invalid tracerConfig for prestateTracer",
        ),
    ] {
        let o: GethDebugTracingOptions = serde_json::from_value(opts.clone()).unwrap();
        match TraceOptions::new(o) {
            Err(TraceError::Options(m)) => assert!(m.contains(want), "{opts}: {m}"),
            other => panic!("{opts}: {other:?}"),
        }
    }
    // An empty tracer name is the struct logger, as in geth.
    let o: GethDebugTracingOptions = serde_json::from_value(json!({"tracer": ""})).unwrap();
    assert!(TraceOptions::new(o).is_ok());
}
