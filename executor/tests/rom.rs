//! Where fork 12's ROM departs from revm's Berlin and from the JS reference, the executor follows
//! the ROM: SELFDESTRUCT is SENDALL (no refund, the account stays, a self-targeted balance stays,
//! fails in a static context), EIP-3541 refuses new code starting with 0xEF (creation
//! transactions, CREATE and CREATE2), and a forced batch's block keeps the current timestamp when
//! the limit is not later and records only a new, non-zero GER. Contracts are hand-assembled.

mod common;

use common::{addr, key, CHAIN, GWEI};
use std::collections::HashMap;

use revm::primitives::{keccak256, Address, Bytes, B256, U256};
use zknode_executor::system::{mapping_slot, GER_MANAGER_ADDRESS, SYSTEM_ADDRESS, TIMESTAMP_SLOT};
use zknode_executor::{
    encode_batch, execute_batch, BatchContext, BatchEntry, BatchResult, ChangeL2Block, RawTx,
    Receipt,
};
use zknode_state::genesis::{self, GenesisAccount, Number};
use zknode_state::{keys, Hash, MemoryStore, StateTree};

use common::ctx;

/// A contract of the genesis: address, balance (wei), code, storage.
struct Contract {
    address: Address,
    balance: u64,
    code: Vec<u8>,
    storage: Vec<(u64, u64)>,
}

/// Accounts 0..n with 10 ether each, plus `contracts` (nonce 1). Returns the tree and the code
/// store.
fn genesis<'s>(
    store: &'s MemoryStore,
    n: u64,
    contracts: &[Contract],
) -> (StateTree<&'s MemoryStore>, HashMap<Hash, Bytes>) {
    let mut accounts: Vec<GenesisAccount> = (0..n)
        .map(|i| GenesisAccount {
            address: addr(i).to_string(),
            balance: Some(Number::Str("10000000000000000000".into())),
            nonce: None,
            bytecode: None,
            storage: None,
        })
        .collect();
    let mut codes = HashMap::new();
    for c in contracts {
        accounts.push(GenesisAccount {
            address: c.address.to_string(),
            balance: Some(Number::Int(c.balance)),
            nonce: Some(Number::Int(1)),
            bytecode: Some(format!("0x{}", hex::encode(&c.code))),
            storage: Some(
                c.storage
                    .iter()
                    .map(|(k, v)| (format!("{k:#x}"), Number::Int(*v)))
                    .collect(),
            ),
        });
        codes.insert(keys::hash_bytecode(&c.code), Bytes::from(c.code.clone()));
    }
    let mut tree = StateTree::open(store).unwrap();
    genesis::apply(&mut tree, &accounts).unwrap();
    (tree, codes)
}

/// A transaction from account `from`: to `to` (`None` deploys `data`).
fn tx(from: u64, nonce: u64, to: Option<Address>, gas: u64, data: &[u8]) -> BatchEntry {
    BatchEntry::Tx(Box::new(
        RawTx::new(
            nonce,
            U256::from(GWEI),
            gas,
            to,
            U256::ZERO,
            Bytes::copy_from_slice(data),
            Some(CHAIN),
        )
        .sign(&key(from)),
    ))
}

fn block(delta: u32) -> BatchEntry {
    BatchEntry::ChangeL2Block(ChangeL2Block {
        delta_timestamp: delta,
        index_l1_info_tree: 0,
    })
}

/// Executes `entries` in `c`, checks that the state updates chain from the old root to the new
/// one and make a witness that checks, and returns the tree and result.
fn run<'s>(
    tree: StateTree<&'s MemoryStore>,
    codes: &HashMap<Hash, Bytes>,
    c: &BatchContext,
    entries: &[BatchEntry],
) -> (StateTree<&'s MemoryStore>, BatchResult) {
    let data = encode_batch(entries);
    let (tree, res) = execute_batch(tree, codes, c, &data).unwrap();
    assert!(res.invalid_batch.is_none(), "{:?}", res.invalid_batch);
    let mut root = res.old_state_root;
    for op in &res.ops {
        let next = op.roots(&mut |_, _| {}).unwrap().1;
        op.verify(&root, &next).unwrap();
        root = next;
    }
    assert_eq!(root, res.new_state_root);
    assert_eq!(tree.root(), res.new_state_root);
    let w = res.witness(c, &data, 1).expect("with proofs");
    assert_eq!(w.check().expect("the witness checks"), res.new_state_root);
    (tree, res)
}

fn receipt(res: &BatchResult, i: usize) -> &Receipt {
    res.txs[i].outcome.as_ref().expect("the transaction ran")
}

fn balance(tree: &StateTree<&MemoryStore>, a: Address) -> U256 {
    tree.get(&keys::balance_key(&a.0 .0)).unwrap()
}

fn nonce(tree: &StateTree<&MemoryStore>, a: Address) -> U256 {
    tree.get(&keys::nonce_key(&a.0 .0)).unwrap()
}

fn code_hash(tree: &StateTree<&MemoryStore>, a: Address) -> U256 {
    tree.get(&keys::code_key(&a.0 .0)).unwrap()
}

fn slot(tree: &StateTree<&MemoryStore>, a: Address, s: u64) -> U256 {
    tree.get(&keys::storage_key(&a.0 .0, U256::from(s)))
        .unwrap()
}

/// `PUSH20 target SELFDESTRUCT`.
fn sendall_to(target: Address) -> Vec<u8> {
    let mut code = vec![0x73];
    code.extend_from_slice(target.as_slice());
    code.push(0xff);
    code
}

/// The gas of a call to `PUSH20 target SELFDESTRUCT` with no data: 21,000 + 3 (PUSH20) + 5,000,
/// plus what moving the balance adds.
const SENDALL_CALL_GAS: u64 = 21_000 + 3 + 5_000;

#[test]
fn sendall_moves_the_balance_keeps_the_account_and_refunds_nothing() {
    let c = Address::repeat_byte(0xc1);
    let target = addr(1);
    let store = MemoryStore::new();
    let code = sendall_to(target);
    let (tree, codes) = genesis(
        &store,
        2,
        &[Contract {
            address: c,
            balance: 1_000,
            code: code.clone(),
            storage: vec![(0, 7)],
        }],
    );
    let before = balance(&tree, target);
    let entries = [
        block(1),
        tx(0, 0, Some(c), 100_000, &[]),
        // The account is still there, code and all: a second call runs it again, with nothing
        // left to move.
        tx(0, 1, Some(c), 100_000, &[]),
    ];
    let (tree, res) = run(tree, &codes, &ctx(), &entries);
    let first = receipt(&res, 0);
    assert!(first.success, "{first:?}");
    // 5,000 plus 2,600 for the cold target (not empty: no 25,000), and no refund (revm's
    // Berlin SELFDESTRUCT would refund 24,000, capped at half: 14,302 used).
    assert_eq!(first.gas_used, SENDALL_CALL_GAS + 2_600);
    let second = receipt(&res, 1);
    assert!(second.success, "{second:?}");
    // No balance: no cold access is charged, nothing moves.
    assert_eq!(second.gas_used, SENDALL_CALL_GAS);
    assert_eq!(balance(&tree, c), U256::ZERO);
    assert_eq!(balance(&tree, target), before + U256::from(1_000));
    // The account is not destroyed: code, storage and nonce stay.
    assert_eq!(code_hash(&tree, c), keys::hash_bytecode(&code).to_u256());
    assert_eq!(slot(&tree, c, 0), U256::from(7));
    assert_eq!(nonce(&tree, c), U256::from(1));
}

#[test]
fn sendall_to_an_empty_account_pays_the_new_account_cost() {
    let c = Address::repeat_byte(0xc2);
    let fresh = Address::repeat_byte(0x77);
    let store = MemoryStore::new();
    let (tree, codes) = genesis(
        &store,
        1,
        &[Contract {
            address: c,
            balance: 5,
            code: sendall_to(fresh),
            storage: vec![],
        }],
    );
    let (tree, res) = run(
        tree,
        &codes,
        &ctx(),
        &[block(1), tx(0, 0, Some(c), 100_000, &[])],
    );
    let r = receipt(&res, 0);
    assert!(r.success, "{r:?}");
    assert_eq!(r.gas_used, SENDALL_CALL_GAS + 25_000 + 2_600);
    assert_eq!(balance(&tree, fresh), U256::from(5));
    assert_eq!(balance(&tree, c), U256::ZERO);
    // Too little gas for the new account: the call fails, all its gas spent, nothing moves.
    let store = MemoryStore::new();
    let (tree, codes) = genesis(
        &store,
        1,
        &[Contract {
            address: c,
            balance: 5,
            code: sendall_to(fresh),
            storage: vec![],
        }],
    );
    let limit = SENDALL_CALL_GAS + 25_000;
    let (tree, res) = run(
        tree,
        &codes,
        &ctx(),
        &[block(1), tx(0, 0, Some(c), limit, &[])],
    );
    let r = receipt(&res, 0);
    assert!(!r.success);
    assert_eq!(r.gas_used, limit);
    assert_eq!(balance(&tree, fresh), U256::ZERO);
    assert_eq!(balance(&tree, c), U256::from(5));
}

#[test]
fn sendall_to_itself_keeps_the_balance() {
    // ADDRESS SELFDESTRUCT
    let code = vec![0x30, 0xff];
    let c = Address::repeat_byte(0xc3);
    let store = MemoryStore::new();
    let (tree, codes) = genesis(
        &store,
        1,
        &[Contract {
            address: c,
            balance: 1_000,
            code: code.clone(),
            storage: vec![(1, 9)],
        }],
    );
    let (tree, res) = run(
        tree,
        &codes,
        &ctx(),
        &[block(1), tx(0, 0, Some(c), 100_000, &[])],
    );
    let r = receipt(&res, 0);
    assert!(r.success, "{r:?}");
    // 2 for ADDRESS, 5,000 for SENDALL, nothing else and no refund.
    assert_eq!(r.gas_used, 21_000 + 2 + 5_000);
    assert_eq!(balance(&tree, c), U256::from(1_000));
    assert_eq!(code_hash(&tree, c), keys::hash_bytecode(&code).to_u256());
    assert_eq!(slot(&tree, c, 1), U256::from(9));
}

/// `PUSH1 0 ×4 [value] PUSH20 to GAS <op>`, then `PUSH1 slot SSTORE`: calls `to` with no data and
/// stores the success flag.
fn call_and_store(op: u8, to: Address, slot: u8) -> Vec<u8> {
    let mut code = vec![0x60, 0, 0x60, 0, 0x60, 0, 0x60, 0];
    if op == 0xf1 {
        code.extend_from_slice(&[0x60, 0]); // CALL's value
    }
    code.push(0x73);
    code.extend_from_slice(to.as_slice());
    code.extend_from_slice(&[0x5a, op, 0x60, slot, 0x55]);
    code
}

#[test]
fn sendall_in_a_static_call_fails() {
    let c = Address::repeat_byte(0xc4);
    let d = Address::repeat_byte(0xd4);
    let target = addr(1);
    // D: slot 0 = STATICCALL(C), slot 1 = CALL(C), STOP.
    let mut d_code = call_and_store(0xfa, c, 0);
    d_code.extend_from_slice(&call_and_store(0xf1, c, 1));
    d_code.push(0x00);
    let store = MemoryStore::new();
    let (tree, codes) = genesis(
        &store,
        2,
        &[
            Contract {
                address: c,
                balance: 1_000,
                code: sendall_to(target),
                storage: vec![],
            },
            Contract {
                address: d,
                balance: 0,
                code: d_code,
                storage: vec![(0, 5), (1, 5)],
            },
        ],
    );
    let before = balance(&tree, target);
    let (tree, res) = run(
        tree,
        &codes,
        &ctx(),
        // Plenty: the failed static call takes 63/64 of what is left with it.
        &[block(1), tx(0, 0, Some(d), 3_000_000, &[])],
    );
    let r = receipt(&res, 0);
    assert!(r.success, "{r:?}");
    // The static call failed; the plain call moved the balance, once.
    assert_eq!(slot(&tree, d, 0), U256::ZERO);
    assert_eq!(slot(&tree, d, 1), U256::from(1));
    assert_eq!(balance(&tree, c), U256::ZERO);
    assert_eq!(balance(&tree, target), before + U256::from(1_000));
}

/// Init code that returns the one byte `first` as the code to deploy:
/// `PUSH1 first PUSH1 0 MSTORE8 PUSH1 1 PUSH1 0 RETURN`.
fn init_returning(first: u8) -> Vec<u8> {
    vec![0x60, first, 0x60, 0, 0x53, 0x60, 1, 0x60, 0, 0xf3]
}

#[test]
fn a_creation_transaction_may_not_deploy_code_starting_with_0xef() {
    let store = MemoryStore::new();
    let (tree, codes) = genesis(&store, 1, &[]);
    let gas = 100_000;
    let entries = [
        block(1),
        tx(0, 0, None, gas, &init_returning(0xef)),
        tx(0, 1, None, gas, &init_returning(0xfe)),
    ];
    let (tree, res) = run(tree, &codes, &ctx(), &entries);
    let refused = receipt(&res, 0);
    assert!(!refused.success);
    assert_eq!(
        refused.failure.as_deref(),
        Some("CreateContractStartingWithEF")
    );
    // An exceptional halt: all the gas is spent, no contract.
    assert_eq!(refused.gas_used, gas);
    assert_eq!(refused.contract_address, None);
    let where_ef = Address::from_slice(&keccak256(rlp_sender_nonce(addr(0), 0))[12..]);
    assert_eq!(code_hash(&tree, where_ef), U256::ZERO);
    // Anything else deploys.
    let deployed = receipt(&res, 1);
    assert!(deployed.success, "{deployed:?}");
    let at = deployed.contract_address.expect("a contract");
    assert_eq!(code_hash(&tree, at), keys::hash_bytecode(&[0xfe]).to_u256());
    assert_eq!(nonce(&tree, addr(0)), U256::from(2));
}

/// `rlp([sender, nonce])` for a nonce below 0x80.
fn rlp_sender_nonce(sender: Address, nonce: u8) -> Vec<u8> {
    let mut v = vec![0xd6, 0x94];
    v.extend_from_slice(sender.as_slice());
    v.push(if nonce == 0 { 0x80 } else { nonce });
    v
}

/// A contract that runs `init` (10 bytes) with CREATE, or CREATE2 with salt 0, and stores what
/// it pushes (the new address, or 0) into slot 0: `PUSH10 init PUSH1 0 MSTORE`, then `[PUSH1 0]
/// PUSH1 10 PUSH1 22 PUSH1 0 CREATE|CREATE2 PUSH1 0 SSTORE STOP`.
fn factory(init: &[u8], create2: bool) -> Vec<u8> {
    assert_eq!(init.len(), 10);
    let mut code = vec![0x69];
    code.extend_from_slice(init);
    code.extend_from_slice(&[0x60, 0, 0x52]);
    if create2 {
        code.extend_from_slice(&[0x60, 0]); // the salt
    }
    code.extend_from_slice(&[0x60, 10, 0x60, 22, 0x60, 0]);
    code.push(if create2 { 0xf5 } else { 0xf0 });
    code.extend_from_slice(&[0x60, 0, 0x55, 0x00]);
    code
}

#[test]
fn create_and_create2_may_not_deploy_code_starting_with_0xef() {
    // (factory, first byte of the code its init code returns, CREATE2?)
    let cases = [
        (Address::repeat_byte(0xe1), 0xef, false),
        (Address::repeat_byte(0xe2), 0xef, true),
        (Address::repeat_byte(0xe3), 0xfe, false),
        (Address::repeat_byte(0xe4), 0xfe, true),
    ];
    let contracts: Vec<Contract> = cases
        .iter()
        .map(|&(address, first, create2)| Contract {
            address,
            balance: 0,
            code: factory(&init_returning(first), create2),
            storage: vec![(0, 5)],
        })
        .collect();
    let store = MemoryStore::new();
    let (tree, codes) = genesis(&store, 1, &contracts);
    let mut entries = vec![block(1)];
    for (i, &(f, _, _)) in cases.iter().enumerate() {
        entries.push(tx(0, i as u64, Some(f), 1_000_000, &[]));
    }
    let (tree, res) = run(tree, &codes, &ctx(), &entries);
    let fe = keys::hash_bytecode(&[0xfe]).to_u256();
    for (i, &(f, first, create2)) in cases.iter().enumerate() {
        let what = format!(
            "{} of code starting {first:#x}",
            if create2 { "CREATE2" } else { "CREATE" }
        );
        // The calling transaction succeeds either way; the creation bumps the factory's nonce.
        assert!(receipt(&res, i).success, "{what}: {:?}", receipt(&res, i));
        assert_eq!(nonce(&tree, f), U256::from(2), "{what}");
        let created = slot(&tree, f, 0);
        if first == 0xef {
            // The creation fails and pushes 0; nothing is deployed where it would have been.
            assert_eq!(created, U256::ZERO, "{what}");
            if !create2 {
                let at = Address::from_slice(&keccak256(rlp_sender_nonce(f, 1))[12..]);
                assert_eq!(code_hash(&tree, at), U256::ZERO, "{what}");
                assert_eq!(nonce(&tree, at), U256::ZERO, "{what}");
            }
        } else {
            assert_ne!(created, U256::ZERO, "{what}");
            let a = Address::from_word(B256::from(created.to_be_bytes::<32>()));
            assert_eq!(code_hash(&tree, a), fe, "{what}");
        }
    }
}

fn forced(root: B256, hash: u8, limit: u64) -> BatchContext {
    let mut c = ctx();
    c.l1_info_root = root;
    c.forced_block_hash_l1 = B256::repeat_byte(hash);
    c.timestamp_limit = limit;
    c
}

fn ger_record(tree: &StateTree<&MemoryStore>, ger: B256) -> U256 {
    let s = mapping_slot(U256::from_be_bytes(ger.0), 0);
    tree.get(&keys::storage_key(&GER_MANAGER_ADDRESS.0 .0, s))
        .unwrap()
}

fn timestamp(tree: &StateTree<&MemoryStore>) -> U256 {
    tree.get(&keys::storage_key(
        &SYSTEM_ADDRESS.0 .0,
        U256::from(TIMESTAMP_SLOT),
    ))
    .unwrap()
}

fn ger_manager_writes(res: &BatchResult) -> usize {
    res.writes
        .iter()
        .filter(|w| w.source.address == GER_MANAGER_ADDRESS.0 .0)
        .count()
}

#[test]
fn a_forced_block_keeps_the_current_timestamp_when_the_limit_is_not_later() {
    let store = MemoryStore::new();
    let (tree, codes) = genesis(&store, 2, &[]);
    // A sequenced batch brings the timestamp to 500.
    let (mut tree, _) = run(tree, &codes, &ctx(), &[block(500)]);
    assert_eq!(timestamp(&tree), U256::from(500));
    // Limits before and at the current timestamp: the block carries the current one (not 0),
    // which stays, unwritten.
    for (nonce, limit) in [(0, 400), (1, 500)] {
        let c = forced(B256::repeat_byte(0x10 + nonce as u8), 0xfb, limit);
        let transfer = tx(0, nonce, Some(addr(1)), 21_000, &[]);
        let (t, res) = run(tree, &codes, &c, &[transfer]);
        assert_eq!(res.blocks.len(), 1);
        assert_eq!(res.blocks[0].timestamp, 500, "limit {limit}");
        assert_eq!(timestamp(&t), U256::from(500));
        assert!(!res
            .writes
            .iter()
            .any(|w| w.source.address == SYSTEM_ADDRESS.0 .0
                && w.source.slot == U256::from(TIMESTAMP_SLOT)));
        assert!(receipt(&res, 0).success);
        tree = t;
    }
    // A later limit: the block moves to it.
    let c = forced(B256::repeat_byte(0x20), 0xfb, 700);
    let (tree, res) = run(tree, &codes, &c, &[tx(0, 2, Some(addr(1)), 21_000, &[])]);
    assert_eq!(res.blocks[0].timestamp, 700);
    assert_eq!(timestamp(&tree), U256::from(700));
}

#[test]
fn a_forced_block_records_only_a_new_non_zero_global_exit_root() {
    let store = MemoryStore::new();
    let (tree, codes) = genesis(&store, 2, &[]);
    let ger = B256::repeat_byte(0x42);
    // A new GER: recorded with the forced L1 block hash.
    let (tree, res) = run(
        tree,
        &codes,
        &forced(ger, 0xa1, 1_000),
        &[tx(0, 0, Some(addr(1)), 21_000, &[])],
    );
    assert_eq!(ger_manager_writes(&res), 1);
    assert_eq!(ger_record(&tree, ger), U256::from_be_bytes([0xa1; 32]));
    assert_eq!(res.blocks[0].global_exit_root, ger);
    // The same GER again, from another L1 block: the first record stays, unwritten; the block
    // still carries its own forced L1 block hash.
    let (tree, res) = run(
        tree,
        &codes,
        &forced(ger, 0xa2, 1_000),
        &[tx(0, 1, Some(addr(1)), 21_000, &[])],
    );
    assert_eq!(ger_manager_writes(&res), 0);
    assert_eq!(ger_record(&tree, ger), U256::from_be_bytes([0xa1; 32]));
    assert_eq!(res.blocks[0].global_exit_root, ger);
    assert_eq!(res.blocks[0].block_hash_l1, B256::repeat_byte(0xa2));
    // A zero GER: nothing is recorded (no entry for zero).
    let (tree, res) = run(
        tree,
        &codes,
        &forced(B256::ZERO, 0xa3, 1_000),
        &[tx(0, 2, Some(addr(1)), 21_000, &[])],
    );
    assert_eq!(ger_manager_writes(&res), 0);
    assert_eq!(ger_record(&tree, B256::ZERO), U256::ZERO);
    assert_eq!(res.blocks[0].global_exit_root, B256::ZERO);
    assert_eq!(res.blocks[0].block_hash_l1, B256::repeat_byte(0xa3));
    assert!(receipt(&res, 0).success);
}
