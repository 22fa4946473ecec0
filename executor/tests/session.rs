//! The step-by-step batch session and read-only calls: a batch built as a sequencer builds it
//! (blocks, transfers, a deployment, transactions rolled back) re-executes from its batch data to
//! the same roots, blocks and receipts, and lands on hand-computed balances and storage; calls see
//! the state at a root, return what the code computes, estimate gas, and write nothing.

mod common;

use common::{addr, key, sequencer, CHAIN, GWEI};
use std::collections::HashMap;

use revm::primitives::{keccak256, Address, Bytes, B256, U256};
use zknode_executor::processor::{INVALID_NONCE, INVALID_SIGNATURE};
use zknode_executor::{
    encode_batch, execute_batch, BatchBuilder, BatchContext, BatchEntry, BatchResult, CallRequest,
    ChangeL2Block, ExecError, RawTx, ReadOnlyEvm,
};
use zknode_state::genesis::{self, GenesisAccount, Number};
use zknode_state::{keys, Hash, MemoryStore, StateTree};

const TEN_ETHER: u128 = 10_000_000_000_000_000_000;

fn ctx() -> BatchContext {
    BatchContext {
        old_acc_input_hash: B256::repeat_byte(2),
        ..common::ctx()
    }
}

/// Reverts with `Error("nope")`.
const REVERTER: Address = Address::new([0xee; 20]);

fn reverter_code() -> Vec<u8> {
    let mut c = vec![0x7f, 0x08, 0xc3, 0x79, 0xa0];
    c.extend_from_slice(&[0; 28]); // PUSH32 selector
    c.extend_from_slice(&[0x60, 0x00, 0x52]); // mstore(0, ·)
    c.extend_from_slice(&[0x60, 0x20, 0x60, 0x04, 0x52]); // mstore(4, 32)
    c.extend_from_slice(&[0x60, 0x04, 0x60, 0x24, 0x52]); // mstore(36, 4)
    c.extend_from_slice(&[0x7f, b'n', b'o', b'p', b'e']);
    c.extend_from_slice(&[0; 28]);
    c.extend_from_slice(&[0x60, 0x44, 0x52]); // mstore(68, "nope")
    c.extend_from_slice(&[0x60, 0x64, 0x60, 0x00, 0xfd]); // revert(0, 100)
    c
}

/// Slot 0 += 1, and returns the new value.
const COUNTER_RUNTIME: [u8; 18] = [
    0x60, 0x00, 0x54, 0x60, 0x01, 0x01, 0x80, 0x60, 0x00, 0x55, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60,
    0x00, 0xf3,
];

/// Returns (NUMBER, TIMESTAMP).
const BLOCK_INFO_RUNTIME: [u8; 13] = [
    0x43, 0x60, 0x00, 0x52, 0x42, 0x60, 0x20, 0x52, 0x60, 0x40, 0x60, 0x00, 0xf3,
];
const BLOCK_INFO: Address = Address::new([0xb1; 20]);

/// Reverts unless more than 100,000 gas is left when it starts.
const GAS_HUNGRY_RUNTIME: [u8; 15] = [
    0x5a, 0x62, 0x01, 0x86, 0xa0, 0x10, 0x60, 0x0d, 0x57, 0x60, 0x00, 0x80, 0xfd, 0x5b, 0x00,
];
const GAS_HUNGRY: Address = Address::new([0x9a; 20]);

/// Init code that runs `setup`, then deploys `runtime`.
fn init_code(setup: &[u8], runtime: &[u8]) -> Vec<u8> {
    let n = runtime.len() as u8;
    let mut c = setup.to_vec();
    let offset = c.len() as u8 + 12;
    c.extend_from_slice(&[
        0x60, n, 0x60, offset, 0x60, 0x00, 0x39, 0x60, n, 0x60, 0x00, 0xf3,
    ]);
    c.extend_from_slice(runtime);
    c
}

/// The counter's init code: slot 0 = 41.
fn counter_init() -> Vec<u8> {
    init_code(&[0x60, 41, 0x60, 0x00, 0x55], &COUNTER_RUNTIME)
}

/// The address `from` creates at `nonce` (below 128): keccak256(rlp([from, nonce]))[12..].
fn create_address(from: Address, nonce: u8) -> Address {
    assert!(nonce < 0x80);
    let mut rlp = vec![0xd6, 0x94];
    rlp.extend_from_slice(from.as_slice());
    rlp.push(if nonce == 0 { 0x80 } else { nonce });
    Address::from_slice(&keccak256(&rlp)[12..])
}

/// Accounts 0..4 with 10 ether each, and the fixed contracts.
fn genesis(store: &MemoryStore) -> StateTree<&MemoryStore> {
    let mut accounts: Vec<GenesisAccount> = (0..4)
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
    tree
}

fn contracts() -> Vec<(Address, Vec<u8>)> {
    vec![
        (REVERTER, reverter_code()),
        (BLOCK_INFO, BLOCK_INFO_RUNTIME.to_vec()),
        (GAS_HUNGRY, GAS_HUNGRY_RUNTIME.to_vec()),
    ]
}

fn code_store() -> HashMap<Hash, Bytes> {
    contracts()
        .into_iter()
        .map(|(_, c)| (keys::hash_bytecode(&c), Bytes::from(c)))
        .collect()
}

fn tx(from: u64, nonce: u64, to: Option<Address>, value: u128, gas: u64, data: &[u8]) -> RawTx {
    RawTx::new(
        nonce,
        U256::from(GWEI),
        gas,
        to,
        U256::from(value),
        Bytes::copy_from_slice(data),
        Some(CHAIN),
    )
    .sign(&key(from))
}

fn transfer(from: u64, nonce: u64, to: Address, value: u128) -> RawTx {
    tx(from, nonce, Some(to), value, 21_000, &[])
}

fn change(delta: u32) -> BatchEntry {
    BatchEntry::ChangeL2Block(ChangeL2Block {
        delta_timestamp: delta,
        index_l1_info_tree: 0,
    })
}

fn balance(tree: &StateTree<&MemoryStore>, a: Address) -> U256 {
    tree.get(&keys::balance_key(&a.0 .0)).unwrap()
}

fn nonce(tree: &StateTree<&MemoryStore>, a: Address) -> U256 {
    tree.get(&keys::nonce_key(&a.0 .0)).unwrap()
}

fn slot(tree: &StateTree<&MemoryStore>, a: Address, i: u64) -> U256 {
    tree.get(&keys::storage_key(&a.0 .0, U256::from(i)))
        .unwrap()
}

/// The new state root `execute_batch` gave for a batch's data before it was rebuilt on the
/// session (commit 057439f): a fixed point the session's result must reach.
fn golden(root: &str) -> Hash {
    root.parse().unwrap()
}

/// Everything two runs of one batch must agree on.
fn assert_same_result(built: &BatchResult, replayed: &BatchResult) {
    assert_eq!(built.invalid_batch, None);
    assert_eq!(replayed.invalid_batch, None);
    assert_eq!(built.old_state_root, replayed.old_state_root);
    assert_eq!(built.new_state_root, replayed.new_state_root);
    assert_eq!(built.batch_hash_data, replayed.batch_hash_data);
    assert_eq!(built.new_acc_input_hash, replayed.new_acc_input_hash);
    assert_eq!(built.new_local_exit_root, replayed.new_local_exit_root);
    assert_eq!(built.blocks, replayed.blocks);
    assert_eq!(built.txs, replayed.txs);
    assert_eq!(built.writes, replayed.writes);
    assert_eq!(built.ops, replayed.ops);
    assert_eq!(built.new_code, replayed.new_code);
}

#[test]
fn a_batch_built_step_by_step_replays_from_its_data() {
    let codes = code_store();
    let c = ctx();
    let store = MemoryStore::new();
    let old_root = genesis(&store).root();
    let mut b = BatchBuilder::new(genesis(&store), &codes, &c);

    // Steps out of order are refused.
    let err = b.execute_tx(transfer(0, 0, addr(1), 5), None).unwrap_err();
    assert!(matches!(err, ExecError::Session(_)), "{err}");
    assert!(matches!(b.close_block(), Err(ExecError::Session(_))));

    // Block 1: two transfers and a deployment; one transaction that does not fit and one that
    // cannot be included are rolled back.
    let opened = b.open_block_at(10, 0).unwrap().unwrap();
    assert_eq!((opened.number, opened.timestamp), (1, 10));
    assert!(matches!(b.open_block_at(11, 0), Err(ExecError::Session(_))));
    let t1 = transfer(0, 0, addr(1), 5);
    let r = b.execute_tx(t1.clone(), Some(addr(0))).unwrap();
    assert_eq!(r.outcome.as_ref().unwrap().gas_used, 21_000);
    let t2 = tx(2, 0, None, 0, 200_000, &counter_init());
    let r = b.execute_tx(t2.clone(), None).unwrap();
    let counter = create_address(addr(2), 0);
    assert_eq!(r.outcome.as_ref().unwrap().contract_address, Some(counter));
    let deploy_gas = r.outcome.as_ref().unwrap().gas_used;
    // Does not fit: ran, then rolled back; its nonce is free again.
    let too_big = transfer(0, 1, addr(3), 1_000);
    assert!(b.execute_tx(too_big.clone(), None).unwrap().outcome.is_ok());
    let dropped = b.rollback_last().unwrap();
    assert_eq!(dropped.eth_hash, too_big.eth_hash());
    assert!(matches!(b.rollback_last(), Err(ExecError::Session(_))));
    // Cannot be included: skipped, and dropped by the sequencer.
    let stale = transfer(1, 5, addr(0), 1);
    let r = b.execute_tx(stale, None).unwrap();
    assert_eq!(r.outcome.as_ref().unwrap_err(), INVALID_NONCE);
    b.rollback_last().unwrap();
    let mut bad_sig = transfer(1, 0, addr(0), 1);
    bad_sig.s = B256::ZERO;
    let r = b.execute_tx(bad_sig, None).unwrap();
    assert_eq!(r.outcome.as_ref().unwrap_err(), INVALID_SIGNATURE);
    b.rollback_last().unwrap();
    let t4 = transfer(0, 1, addr(3), 9);
    let r = b.execute_tx(t4.clone(), None).unwrap();
    assert!(r.outcome.as_ref().unwrap().success, "{:?}", r.outcome);
    assert_eq!(r.index, 2);
    assert_eq!(r.index_in_block, Some(2));
    let closed = b.close_block().unwrap();
    assert!(!closed.provisional);
    assert_eq!(closed.block.number, 1);
    assert_eq!(closed.block.txs, [0, 1, 2]);
    assert_eq!(closed.block.gas_used, 42_000 + deploy_gas);
    let receipts: Vec<u64> = closed
        .txs
        .iter()
        .map(|t| t.outcome.as_ref().unwrap().cumulative_gas_used)
        .collect();
    assert_eq!(receipts, [21_000, 21_000 + deploy_gas, 42_000 + deploy_gas]);
    let block1 = closed.block.clone();

    // Blocks that may not open leave the session as it was.
    let no = b.open_block_at(9, 0).unwrap().unwrap_err();
    assert!(no.0.contains("before the previous block"), "{no}");
    let no = b.open_block_at(1_001, 0).unwrap().unwrap_err();
    assert!(no.0.contains("past the batch's limit"), "{no}");

    // Block 2: the counter, then a reverting call as its last transaction.
    assert_eq!(b.open_block_at(12, 0).unwrap().unwrap().number, 2);
    let t5 = tx(1, 0, Some(counter), 0, 100_000, &[]);
    let r = b.execute_tx(t5.clone(), None).unwrap();
    // PUSH1 SLOAD(cold) PUSH1 ADD DUP1 PUSH1 SSTORE(warm, 41 → 42) PUSH1 MSTORE(+1 word)
    // PUSH1 PUSH1 RETURN.
    let counter_gas = 21_000 + 3 + 2_100 + 3 + 3 + 3 + 3 + 2_900 + 3 + 6 + 3 + 3;
    assert_eq!(r.outcome.as_ref().unwrap().gas_used, counter_gas);
    let t6 = tx(3, 0, Some(REVERTER), 0, 100_000, &[]);
    let r = b.execute_tx(t6.clone(), None).unwrap();
    let receipt = r.outcome.as_ref().unwrap();
    assert!(!receipt.success);
    assert_eq!(receipt.failure.as_deref(), Some("nope"));
    let revert_gas = receipt.gas_used;
    let closed = b.close_block().unwrap();
    assert!(closed.provisional, "a block whose last transaction failed");
    let block2 = closed.block.clone();

    // Block 3, same second.
    assert_eq!(b.open_block_at(12, 0).unwrap().unwrap().number, 3);
    let t7 = transfer(2, 1, addr(0), 1);
    b.execute_tx(t7.clone(), None).unwrap();

    let expected_entries = vec![
        change(10),
        BatchEntry::Tx(Box::new(t1)),
        BatchEntry::Tx(Box::new(t2)),
        BatchEntry::Tx(Box::new(t4)),
        change(2),
        BatchEntry::Tx(Box::new(t5)),
        BatchEntry::Tx(Box::new(t6)),
        change(0),
        BatchEntry::Tx(Box::new(t7)),
    ];
    assert_eq!(b.entries(), expected_entries);
    let sealed = b.finish().unwrap();
    let data = encode_batch(&expected_entries);
    assert_eq!(sealed.batch_l2_data, data);
    let built = sealed.result;
    assert_eq!(built.old_state_root, old_root);
    assert_eq!(sealed.tree.root(), built.new_state_root);
    assert_eq!(built.blocks.len(), 3);
    assert_eq!(built.blocks[0], block1);
    assert_eq!(built.blocks[1], block2, "a block followed by another stays");
    assert_eq!(built.blocks[2].parent_hash, built.blocks[1].hash);
    assert_eq!(built.blocks[1].parent_hash, built.blocks[0].hash);
    assert_eq!(
        built.blocks.iter().map(|b| b.timestamp).collect::<Vec<_>>(),
        [10, 12, 12]
    );

    // The data, executed from the same old root, gives the same batch.
    let store2 = MemoryStore::new();
    let (replayed_tree, replayed) = execute_batch(genesis(&store2), &codes, &c, &data).unwrap();
    assert_same_result(&built, &replayed);
    assert_eq!(replayed_tree.root(), built.new_state_root);
    assert_eq!(
        built.new_state_root,
        golden("0xd44639870bd26447b97bf6e82f63c0469c731a131857dc87018a9e5374ad95ba")
    );

    // And it is the state a hand count gives.
    let t = &sealed.tree;
    let ten = U256::from(TEN_ETHER);
    let fee = |gas: u64| U256::from(gas * GWEI);
    assert_eq!(
        balance(t, addr(0)),
        ten - U256::from(5 + 9) - fee(42_000) + U256::from(1)
    );
    assert_eq!(balance(t, addr(1)), ten + U256::from(5) - fee(counter_gas));
    assert_eq!(
        balance(t, addr(2)),
        ten - fee(deploy_gas) - U256::from(1) - fee(21_000)
    );
    assert_eq!(balance(t, addr(3)), ten + U256::from(9) - fee(revert_gas));
    assert_eq!(
        balance(t, sequencer()),
        fee(21_000 * 3 + deploy_gas + counter_gas + revert_gas)
    );
    assert_eq!(nonce(t, addr(0)), U256::from(2));
    assert_eq!(nonce(t, addr(1)), U256::from(1));
    assert_eq!(nonce(t, addr(3)), U256::from(1));
    assert_eq!(slot(t, counter, 0), U256::from(42));
    assert_eq!(
        t.get(&keys::code_key(&counter.0 .0)).unwrap(),
        keys::hash_bytecode(&COUNTER_RUNTIME).to_u256()
    );
    // The system contract: three blocks, the last one's timestamp.
    let sys = zknode_executor::system::SYSTEM_ADDRESS;
    assert_eq!(slot(t, sys, 0), U256::from(3));
    assert_eq!(slot(t, sys, 2), U256::from(12));
}

#[test]
fn a_provisional_last_block_is_consolidated_when_the_batch_ends() {
    let codes = code_store();
    let c = ctx();
    let revert_call = tx(0, 0, Some(REVERTER), 0, 100_000, &[]);
    let transfer = transfer(1, 0, addr(2), 3);
    let data = encode_batch(&[
        change(5),
        BatchEntry::Tx(Box::new(transfer.clone())),
        BatchEntry::Tx(Box::new(revert_call.clone())),
    ]);
    let store = MemoryStore::new();
    let (_, replayed) = execute_batch(genesis(&store), &codes, &c, &data).unwrap();
    assert_eq!(
        replayed.new_state_root,
        golden("0x1dbc585edf2a45fff548362ff214ae94a76891816bbfd94491f822354e5d506e")
    );

    // Closed as if another block followed, then sealed: the reference's last-block rule wins.
    let store = MemoryStore::new();
    let mut b = BatchBuilder::new(genesis(&store), &codes, &c);
    b.open_block_at(5, 0).unwrap().unwrap();
    b.execute_tx(transfer.clone(), None).unwrap();
    b.execute_tx(revert_call.clone(), None).unwrap();
    let closed = b.close_block().unwrap();
    assert!(closed.provisional);
    let provisional = closed.block.clone();
    let sealed = b.finish().unwrap();
    assert_eq!(sealed.batch_l2_data, data);
    assert_same_result(&sealed.result, &replayed);
    let last = &sealed.result.blocks[0];
    assert_ne!(last.hash, provisional.hash);
    assert_ne!(last.block_info_root, provisional.block_info_root);
    // Consolidated: the system contract holds the block's info root.
    assert_eq!(
        slot(&sealed.tree, zknode_executor::system::SYSTEM_ADDRESS, 3),
        U256::from_be_bytes(last.block_info_root.0)
    );

    // Sealed with the block still open: the same.
    let store = MemoryStore::new();
    let mut b = BatchBuilder::new(genesis(&store), &codes, &c);
    b.open_block_at(5, 0).unwrap().unwrap();
    b.execute_tx(transfer, None).unwrap();
    b.execute_tx(revert_call, None).unwrap();
    assert_same_result(&b.finish().unwrap().result, &replayed);
}

#[test]
fn an_empty_session_seals_like_an_empty_batch() {
    let codes = code_store();
    let c = ctx();
    let store = MemoryStore::new();
    let (_, replayed) = execute_batch(genesis(&store), &codes, &c, &[]).unwrap();
    assert_eq!(
        replayed.new_state_root,
        golden("0xedd074ecc41bf419d2e321a513378d674894b6c0c0c96b73254f040ae4119010")
    );
    let store = MemoryStore::new();
    let sealed = BatchBuilder::new(genesis(&store), &codes, &c)
        .finish()
        .unwrap();
    assert!(sealed.batch_l2_data.is_empty());
    assert_same_result(&sealed.result, &replayed);
}

fn word(v: u64) -> Bytes {
    Bytes::from(U256::from(v).to_be_bytes::<32>().to_vec())
}

#[test]
fn read_only_calls_see_the_state_and_write_nothing() {
    // A batch deploys the counter (slot 0 = 41) in block 1 at second 7; committed.
    let store = MemoryStore::new();
    let mut codes = code_store();
    let deploy = tx(0, 0, None, 0, 200_000, &counter_init());
    let data = encode_batch(&[change(7), BatchEntry::Tx(Box::new(deploy))]);
    let (mut tree, res) = execute_batch(genesis(&store), &codes, &ctx(), &data).unwrap();
    let counter = create_address(addr(0), 0);
    assert!(res.txs[0].outcome.as_ref().unwrap().success);
    codes.extend(res.new_code.iter().cloned());
    let root = tree.commit().unwrap();

    let mut ro =
        ReadOnlyEvm::new(StateTree::at_root(&store, root), &codes, CHAIN, sequencer()).unwrap();
    let bump = CallRequest {
        from: addr(1),
        to: Some(counter),
        ..Default::default()
    };
    let counter_gas = 21_000 + 3 + 2_100 + 3 + 3 + 3 + 3 + 2_900 + 3 + 6 + 3 + 3;
    // Twice: the first call's write is not seen by the second.
    for _ in 0..2 {
        let r = ro.call(&bump).unwrap();
        assert!(r.success, "{r:?}");
        assert_eq!(r.output, word(42));
        assert_eq!(r.gas_used, counter_gas);
    }
    assert_eq!(ro.estimate_gas(&bump).unwrap().unwrap(), counter_gas);

    // The block a call runs in is the state's last one.
    let r = ro
        .call(&CallRequest {
            to: Some(BLOCK_INFO),
            ..Default::default()
        })
        .unwrap();
    let mut both = word(1).to_vec();
    both.extend_from_slice(&word(7));
    assert_eq!(r.output, Bytes::from(both));

    // A revert, with its reason and its data.
    let r = ro
        .call(&CallRequest {
            to: Some(REVERTER),
            ..Default::default()
        })
        .unwrap();
    assert!(!r.success);
    assert_eq!(r.failure.as_deref(), Some("nope"));
    let mut want = vec![0x08, 0xc3, 0x79, 0xa0];
    want.extend_from_slice(&word(32));
    want.extend_from_slice(&word(4));
    let mut nope = [0u8; 32];
    nope[..4].copy_from_slice(b"nope");
    want.extend_from_slice(&nope);
    assert_eq!(r.output, Bytes::from(want));
    let failed = ro
        .estimate_gas(&CallRequest {
            to: Some(REVERTER),
            ..Default::default()
        })
        .unwrap()
        .unwrap_err();
    assert_eq!(failed.failure.as_deref(), Some("nope"));

    // Gas estimates: a transfer; a call that needs more gas than it spends (GAS(2) must leave
    // more than 100,000: 21,000 + 2 + 100,001), found by the search.
    let send = CallRequest {
        from: addr(2),
        to: Some(addr(3)),
        value: U256::from(1),
        ..Default::default()
    };
    assert_eq!(ro.estimate_gas(&send).unwrap().unwrap(), 21_000);
    let hungry = CallRequest {
        to: Some(GAS_HUNGRY),
        ..Default::default()
    };
    assert_eq!(ro.estimate_gas(&hungry).unwrap().unwrap(), 121_003);
    let r = ro
        .call(&CallRequest {
            gas: Some(121_002),
            ..hungry.clone()
        })
        .unwrap();
    assert!(!r.success);
    // Not enough funds for the value: refused, not run.
    let r = ro
        .call(&CallRequest {
            from: Address::repeat_byte(0x42),
            to: Some(addr(3)),
            value: U256::from(1),
            ..Default::default()
        })
        .unwrap();
    assert!(!r.success);
    assert!(r.failure.unwrap().starts_with("TX INVALID"));

    // Nothing was written: the tree is at the root, the counter still at 41.
    let tree = ro.into_tree().unwrap();
    assert_eq!(tree.root(), root);
    assert_eq!(tree.pending_len(), 0);
    let fresh = StateTree::at_root(&store, root);
    assert_eq!(slot(&fresh, counter, 0), U256::from(41));
    // A transaction bumping it after the calls sees 41 too.
    let bump_tx = tx(1, 0, Some(counter), 0, 100_000, &[]);
    let c = ctx();
    let (tree, res) = execute_batch(
        fresh,
        &codes,
        &c,
        &encode_batch(&[change(1), BatchEntry::Tx(Box::new(bump_tx))]),
    )
    .unwrap();
    assert_eq!(res.txs[0].outcome.as_ref().unwrap().gas_used, counter_gas);
    assert_eq!(slot(&tree, counter, 0), U256::from(42));
}

#[test]
fn read_only_calls_take_state_and_block_overrides() {
    use std::collections::HashMap;
    use zknode_executor::overrides::{AccountOverride, BlockOverrides};
    let store = MemoryStore::new();
    let mut codes = code_store();
    let deploy = tx(0, 0, None, 0, 200_000, &counter_init());
    let data = encode_batch(&[change(7), BatchEntry::Tx(Box::new(deploy))]);
    let (mut tree, res) = execute_batch(genesis(&store), &codes, &ctx(), &data).unwrap();
    let counter = create_address(addr(0), 0);
    codes.extend(res.new_code.iter().cloned());
    let root = tree.commit().unwrap();
    let mut ro =
        ReadOnlyEvm::new(StateTree::at_root(&store, root), &codes, CHAIN, sequencer()).unwrap();
    let bump = CallRequest {
        to: Some(counter),
        ..Default::default()
    };
    let copy = Address::repeat_byte(0x77);
    let poor = Address::repeat_byte(0x42);
    let overrides = HashMap::from([
        // stateDiff: slot 0 is 99, so the counter returns 100.
        (
            counter,
            AccountOverride {
                state_diff: HashMap::from([(U256::ZERO, U256::from(99))]),
                ..Default::default()
            },
        ),
        // Code at an empty address: the block-info contract.
        (
            copy,
            AccountOverride {
                code: Some(Bytes::from(BLOCK_INFO_RUNTIME.to_vec())),
                ..Default::default()
            },
        ),
        // A balance for an account that has none.
        (
            poor,
            AccountOverride {
                balance: Some(U256::from(5)),
                nonce: Some(9),
                ..Default::default()
            },
        ),
    ]);
    let block = BlockOverrides {
        number: Some(1_000),
        time: Some(5_000),
        ..Default::default()
    };
    ro.set_overrides(overrides, &block);
    assert_eq!(ro.call(&bump).unwrap().output, word(100));
    let r = ro
        .call(&CallRequest {
            to: Some(copy),
            ..Default::default()
        })
        .unwrap();
    let mut both = word(1_000).to_vec();
    both.extend_from_slice(&word(5_000));
    assert_eq!(r.output, Bytes::from(both), "overridden code and block");
    let pay = CallRequest {
        from: poor,
        to: Some(addr(3)),
        value: U256::from(5),
        ..Default::default()
    };
    assert!(
        ro.call(&pay).unwrap().success,
        "the overridden balance pays"
    );
    // `state` replaces the whole storage: slot 0 reads 0, the counter returns 1.
    let whole = HashMap::from([(
        counter,
        AccountOverride {
            state: Some(HashMap::new()),
            ..Default::default()
        },
    )]);
    ro.set_overrides(whole, &BlockOverrides::default());
    assert_eq!(ro.call(&bump).unwrap().output, word(1));
    assert!(
        !ro.call(&pay).unwrap().success,
        "the earlier overrides are gone"
    );
    // Nothing reached the tree.
    let tree = ro.into_tree().unwrap();
    assert_eq!(tree.root(), root);
    assert_eq!(slot(&tree, counter, 0), U256::from(41));
}
