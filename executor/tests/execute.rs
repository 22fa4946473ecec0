//! Batch execution on a small in-memory state: transfers and fees, skipped transactions, invalid
//! batches, reverts, and the state updates (the batch witness's operations) chaining from the old
//! root to the new one.

mod common;

use common::{addr, key, sequencer, CHAIN, GWEI};
use std::collections::HashMap;

use revm::primitives::{keccak256, Address, Bytes, B256, U256};
use zknode_executor::processor::{INVALID_CHAIN_ID, INVALID_FUNDS, INVALID_NONCE};
use zknode_executor::{encode_batch, execute_batch, BatchEntry, BatchResult, ChangeL2Block, RawTx};
use zknode_state::genesis::{self, GenesisAccount, Number};
use zknode_state::{keys, CodeStore, Hash, MemoryStore, StateTree};

use common::ctx;

/// Accounts 0..n with 10 ether each, plus `extra` (address, code).
fn genesis<'s>(
    store: &'s MemoryStore,
    n: u64,
    extra: &[(Address, Vec<u8>)],
) -> StateTree<&'s MemoryStore> {
    let mut accounts: Vec<GenesisAccount> = (0..n)
        .map(|i| GenesisAccount {
            address: addr(i).to_string(),
            balance: Some(Number::Str("10000000000000000000".into())),
            nonce: None,
            bytecode: None,
            storage: None,
        })
        .collect();
    for (a, code) in extra {
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

fn transfer(from: u64, nonce: u64, to: Address, value: u64) -> BatchEntry {
    BatchEntry::Tx(Box::new(
        RawTx::new(
            nonce,
            U256::from(GWEI),
            21_000,
            Some(to),
            U256::from(value),
            Bytes::new(),
            Some(CHAIN),
        )
        .sign(&key(from)),
    ))
}

/// A call from account 0 (nonce `nonce`) to `to` with no value or data.
fn call(nonce: u64, to: Address, gas: u64) -> BatchEntry {
    BatchEntry::Tx(Box::new(
        RawTx::new(
            nonce,
            U256::from(GWEI),
            gas,
            Some(to),
            U256::ZERO,
            Bytes::new(),
            Some(CHAIN),
        )
        .sign(&key(0)),
    ))
}

/// A code store holding `code`.
fn code_map(code: &[u8]) -> HashMap<Hash, Bytes> {
    [(keys::hash_bytecode(code), Bytes::copy_from_slice(code))]
        .into_iter()
        .collect()
}

fn block(delta: u32) -> BatchEntry {
    BatchEntry::ChangeL2Block(ChangeL2Block {
        delta_timestamp: delta,
        index_l1_info_tree: 0,
    })
}

fn run<'s>(
    tree: StateTree<&'s MemoryStore>,
    codes: &HashMap<Hash, Bytes>,
    entries: &[BatchEntry],
) -> (StateTree<&'s MemoryStore>, BatchResult) {
    let data = encode_batch(entries);
    let (tree, res) = execute_batch(tree, codes, &ctx(), &data).unwrap();
    // The updates are the witness: each proves one step, from the old root to the new one.
    let mut root = res.old_state_root;
    for op in &res.ops {
        let next = op.roots(&mut |_, _| {}).unwrap().1;
        op.verify(&root, &next).unwrap();
        root = next;
    }
    assert_eq!(root, res.new_state_root);
    assert_eq!(tree.root(), res.new_state_root);
    // And they make a batch witness whose keys derive from the accounts written.
    let w = res.witness(&ctx(), &data, 1).expect("with proofs");
    assert_eq!(w.check().expect("the witness checks"), res.new_state_root);
    let back = zknode_witness::BatchWitness::from_json(&w.to_json()).expect("json");
    assert_eq!(back.check().expect("round trip checks"), res.new_state_root);
    (tree, res)
}

fn balance(tree: &StateTree<&MemoryStore>, a: Address) -> U256 {
    tree.get(&keys::balance_key(&a.0 .0)).unwrap()
}

fn nonce(tree: &StateTree<&MemoryStore>, a: Address) -> U256 {
    tree.get(&keys::nonce_key(&a.0 .0)).unwrap()
}

#[test]
fn transfers_move_value_and_pay_the_sequencer() {
    let store = MemoryStore::new();
    let tree = genesis(&store, 3, &[]);
    let entries = [
        block(10),
        transfer(0, 0, addr(1), 5),
        transfer(0, 1, addr(2), 7),
        block(1),
        transfer(1, 0, addr(2), 1),
    ];
    let (tree, res) = run(tree, &HashMap::new(), &entries);
    assert!(res.invalid_batch.is_none());
    assert_eq!(res.blocks.len(), 2);
    assert_eq!(res.blocks[0].txs, [0, 1]);
    assert_eq!(res.blocks[1].number, 2);
    assert_eq!(res.blocks[1].timestamp, 11);
    assert_eq!(res.blocks[1].parent_hash, res.blocks[0].hash);
    let ten = U256::from(10_000_000_000_000_000_000u128);
    let fee = U256::from(21_000 * GWEI);
    assert_eq!(
        balance(&tree, addr(0)),
        ten - U256::from(12) - fee * U256::from(2)
    );
    assert_eq!(balance(&tree, addr(1)), ten + U256::from(4) - fee);
    assert_eq!(balance(&tree, addr(2)), ten + U256::from(8));
    assert_eq!(nonce(&tree, addr(0)), U256::from(2));
    assert_eq!(balance(&tree, sequencer()), fee * U256::from(3));
    for t in &res.txs {
        let r = t.outcome.as_ref().unwrap();
        assert!(r.success && r.gas_used == 21_000);
    }
    assert_eq!(
        res.txs[1].outcome.as_ref().unwrap().cumulative_gas_used,
        42_000
    );
}

#[test]
fn an_executed_batch_is_proved_from_its_witness() {
    use zknode_prover::batch::{prove_witness, Committer};
    let store = MemoryStore::new();
    let tree = genesis(&store, 3, &[]);
    let entries = [
        block(10),
        transfer(0, 0, addr(1), 5),
        transfer(2, 0, Address::repeat_byte(0x77), 9),
    ];
    let data = encode_batch(&entries);
    let (_, res) = run(tree, &HashMap::new(), &entries);
    let w = res.witness(&ctx(), &data, 9).expect("with proofs");
    let (proof, _) = prove_witness(&w, Committer::Plonky2).expect("prove");
    let st = proof.verify().expect("verify");
    assert_eq!(st.old_root, res.old_state_root);
    assert_eq!(st.new_root, res.new_state_root);
    assert_eq!(st.batch_number, 9);
}

#[test]
fn the_effective_percentage_scales_the_fee() {
    let store = MemoryStore::new();
    let tree = genesis(&store, 2, &[]);
    let BatchEntry::Tx(mut tx) = transfer(0, 0, addr(1), 1) else {
        unreachable!()
    };
    tx.effective_percentage = 127; // half price: (127 + 1) / 256
    let entries = [block(1), BatchEntry::Tx(tx)];
    let (tree, _) = run(tree, &HashMap::new(), &entries);
    assert_eq!(balance(&tree, sequencer()), U256::from(21_000 * GWEI / 2));
}

#[test]
fn bad_transactions_are_skipped_and_change_nothing() {
    let store = MemoryStore::new();
    let tree = genesis(&store, 2, &[]);
    let old = tree.root();
    let wrong_chain = BatchEntry::Tx(Box::new(
        RawTx::new(
            0,
            U256::from(GWEI),
            21_000,
            Some(addr(1)),
            U256::from(1),
            Bytes::new(),
            Some(1),
        )
        .sign(&key(0)),
    ));
    let BatchEntry::Tx(mut bad_sig) = transfer(0, 0, addr(1), 1) else {
        unreachable!()
    };
    bad_sig.s = B256::ZERO;
    let entries = [
        block(0),
        wrong_chain,
        BatchEntry::Tx(bad_sig),
        transfer(0, 5, addr(1), 1), // nonce too high
        transfer(1, 0, addr(0), 10_000_000_000_000_000_000), // more than the balance
    ];
    let (tree, res) = run(tree, &HashMap::new(), &entries);
    let reasons: Vec<String> = res
        .txs
        .iter()
        .map(|t| t.outcome.clone().unwrap_err())
        .collect();
    assert_eq!(reasons[0], INVALID_CHAIN_ID);
    assert!(reasons[1].contains("signature"), "{}", reasons[1]);
    assert_eq!(reasons[2], INVALID_NONCE);
    assert_eq!(reasons[3], INVALID_FUNDS);
    // Only the block bookkeeping changed: accounts are as in genesis.
    assert_ne!(tree.root(), old);
    assert_eq!(nonce(&tree, addr(0)), U256::ZERO);
    assert_eq!(balance(&tree, sequencer()), U256::ZERO);
}

#[test]
fn invalid_batches_leave_the_state_alone() {
    let store = MemoryStore::new();
    let tree = genesis(&store, 2, &[]);
    let old = tree.root();
    let good = encode_batch(&[block(1), transfer(0, 0, addr(1), 1)]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (good[..good.len() - 1].to_vec(), "does not decode"),
        (
            encode_batch(&[transfer(0, 0, addr(1), 1)]),
            "must start with changeL2Block",
        ),
        (
            encode_batch(&[block(1_001), transfer(0, 0, addr(1), 1)]),
            "past the batch's limit",
        ),
    ];
    let mut tree = tree;
    for (data, why) in cases {
        let (t, res) = execute_batch(tree, &HashMap::<Hash, Bytes>::new(), &ctx(), &data).unwrap();
        tree = t;
        let reason = res.invalid_batch.expect("invalid");
        assert!(reason.contains(why), "{reason}");
        assert_eq!(res.new_state_root, old);
        assert_eq!(tree.root(), old);
        assert!(res.ops.is_empty() && res.txs.is_empty());
        // The accumulated input hash still moves on: the batch was sequenced.
        assert_ne!(res.new_acc_input_hash, B256::ZERO);
    }
}

#[test]
fn a_reverting_call_charges_gas_and_keeps_the_nonce() {
    // PUSH1 0 PUSH1 0 REVERT
    let reverter = Address::repeat_byte(0xee);
    let code = vec![0x60, 0x00, 0x60, 0x00, 0xfd];
    let store = MemoryStore::new();
    let tree = genesis(&store, 1, &[(reverter, code.clone())]);
    let codes = code_map(&code);
    let call = BatchEntry::Tx(Box::new(
        RawTx::new(
            0,
            U256::from(GWEI),
            50_000,
            Some(reverter),
            U256::from(3),
            Bytes::new(),
            Some(CHAIN),
        )
        .sign(&key(0)),
    ));
    let (tree, res) = run(tree, &codes, &[block(1), call]);
    let r = res.txs[0].outcome.as_ref().unwrap();
    assert!(!r.success);
    assert_eq!(r.gas_used, 21_000 + 6);
    assert_eq!(nonce(&tree, addr(0)), U256::from(1));
    assert_eq!(balance(&tree, reverter), U256::ZERO);
    assert_eq!(balance(&tree, sequencer()), U256::from(21_006 * GWEI));
}

#[test]
fn a_deployed_contract_gets_its_code_leaves() {
    // Init code returning the runtime `PUSH1 1 PUSH1 0 SSTORE STOP` (6 bytes).
    let runtime = [0x60, 0x01, 0x60, 0x00, 0x55, 0x00];
    let mut init = vec![0x65];
    init.extend_from_slice(&runtime);
    init.extend_from_slice(&[0x60, 0x00, 0x52, 0x60, 0x06, 0x60, 0x1a, 0xf3]);
    let store = MemoryStore::new();
    let tree = genesis(&store, 1, &[]);
    let deploy = BatchEntry::Tx(Box::new(
        RawTx::new(
            0,
            U256::from(GWEI),
            200_000,
            None,
            U256::ZERO,
            Bytes::from(init),
            Some(CHAIN),
        )
        .sign(&key(0)),
    ));
    let (tree, res) = run(tree, &HashMap::new(), &[block(1), deploy]);
    let created = res.txs[0]
        .outcome
        .as_ref()
        .unwrap()
        .contract_address
        .unwrap();
    let k = created.0 .0;
    assert_eq!(
        tree.get(&keys::code_key(&k)).unwrap(),
        keys::hash_bytecode(&runtime).to_u256()
    );
    assert_eq!(tree.get(&keys::code_length_key(&k)).unwrap(), U256::from(6));
    assert_eq!(
        res.new_code,
        [(
            keys::hash_bytecode(&runtime),
            Bytes::copy_from_slice(&runtime)
        )]
    );
    // New contracts start at nonce 1 (EIP-161).
    assert_eq!(nonce(&tree, created), U256::from(1));
}

#[test]
fn writes_without_proofs_reach_the_same_root_and_prove_later() {
    let entries = [
        block(3),
        transfer(0, 0, addr(1), 5),
        transfer(1, 0, addr(0), 2),
        block(2),
        transfer(0, 1, addr(2), 9),
    ];
    let data = encode_batch(&entries);
    let store_a = MemoryStore::new();
    let (_, with) = execute_batch(
        genesis(&store_a, 3, &[]),
        &HashMap::<Hash, Bytes>::new(),
        &ctx(),
        &data,
    )
    .unwrap();
    let store_b = MemoryStore::new();
    let mut fast_ctx = ctx();
    fast_ctx.with_proofs = false;
    let (_, fast) = execute_batch(
        genesis(&store_b, 3, &[]),
        &HashMap::<Hash, Bytes>::new(),
        &fast_ctx,
        &data,
    )
    .unwrap();
    assert_eq!(fast.new_state_root, with.new_state_root);
    assert_eq!(fast.writes, with.writes);
    assert!(fast.ops.is_empty());
    assert_eq!(with.ops.len(), with.writes.len());
    // The proofs rebuilt from the old root are the ones execution returned.
    let mut tree = genesis(&store_b, 3, &[]);
    let ops = zknode_executor::db::prove_writes(&mut tree, &fast.writes).unwrap();
    assert_eq!(ops, with.ops);
    assert_eq!(tree.root(), with.new_state_root);
}

#[test]
fn a_forced_batch_opens_its_own_block() {
    let store = MemoryStore::new();
    let tree = genesis(&store, 2, &[]);
    let mut forced = ctx();
    forced.forced_block_hash_l1 = B256::repeat_byte(0xfb);
    let data = encode_batch(&[transfer(0, 0, addr(1), 5)]);
    let (tree, res) = execute_batch(tree, &HashMap::<Hash, Bytes>::new(), &forced, &data).unwrap();
    assert!(res.invalid_batch.is_none());
    assert_eq!(res.blocks.len(), 1);
    let b = &res.blocks[0];
    assert_eq!(b.timestamp, forced.timestamp_limit);
    assert_eq!(b.global_exit_root, forced.l1_info_root);
    assert_eq!(b.block_hash_l1, forced.forced_block_hash_l1);
    assert!(res.txs[0].outcome.as_ref().unwrap().success);
    // The global exit root manager records the forced GER with the forced L1 block hash.
    let slot = zknode_executor::system::mapping_slot(U256::from_be_bytes(forced.l1_info_root.0), 0);
    let ger_manager = zknode_executor::system::GER_MANAGER_ADDRESS;
    assert_eq!(
        tree.get(&keys::storage_key(&ger_manager.0 .0, slot))
            .unwrap(),
        U256::from_be_bytes(forced.forced_block_hash_l1.0)
    );
    // A forced batch may not carry changeL2Block.
    let data = encode_batch(&[block(1), transfer(0, 1, addr(1), 5)]);
    let (_, res) = execute_batch(tree, &HashMap::<Hash, Bytes>::new(), &forced, &data).unwrap();
    assert!(res.invalid_batch.unwrap().contains("forced"));
}

#[test]
fn l1_info_leaves_bring_global_exit_roots_in() {
    use zknode_executor::hashes::{l1_info_leaf_hash, L1InfoLeaf};
    let leaf = L1InfoLeaf {
        global_exit_root: B256::repeat_byte(0x61),
        block_hash: B256::repeat_byte(0x62),
        timestamp: 5,
        smt_proof: vec![B256::repeat_byte(0x63)],
    };
    // A two-leaf tree with our leaf at index 1.
    let mut cat = [0u8; 64];
    cat[..32].copy_from_slice(leaf.smt_proof[0].as_slice());
    cat[32..].copy_from_slice(l1_info_leaf_hash(&leaf).as_slice());
    let mut c = ctx();
    c.l1_info_root = keccak256(cat);
    c.l1_info.insert(1, leaf.clone());
    let entries = |delta| {
        encode_batch(&[BatchEntry::ChangeL2Block(ChangeL2Block {
            delta_timestamp: delta,
            index_l1_info_tree: 1,
        })])
    };
    let store = MemoryStore::new();
    let (tree, res) = execute_batch(
        genesis(&store, 1, &[]),
        &HashMap::<Hash, Bytes>::new(),
        &c,
        &entries(10),
    )
    .unwrap();
    assert!(res.invalid_batch.is_none());
    assert_eq!(res.blocks[0].global_exit_root, leaf.global_exit_root);
    assert_eq!(res.blocks[0].block_hash_l1, leaf.block_hash);
    let slot =
        zknode_executor::system::mapping_slot(U256::from_be_bytes(leaf.global_exit_root.0), 0);
    let ger_manager = zknode_executor::system::GER_MANAGER_ADDRESS;
    assert_eq!(
        tree.get(&keys::storage_key(&ger_manager.0 .0, slot))
            .unwrap(),
        U256::from_be_bytes(leaf.block_hash.0)
    );
    // A block older than the L1 leaf makes the batch invalid.
    let store = MemoryStore::new();
    let (_, res) = execute_batch(
        genesis(&store, 1, &[]),
        &HashMap::<Hash, Bytes>::new(),
        &c,
        &entries(4),
    )
    .unwrap();
    assert!(res.invalid_batch.unwrap().contains("before L1 info leaf"));
    // A leaf that does not prove against the root is refused, and so is a missing one.
    let mut bad = c.clone();
    bad.l1_info.get_mut(&1).unwrap().block_hash = B256::repeat_byte(0x99);
    let store = MemoryStore::new();
    let err = execute_batch(
        genesis(&store, 1, &[]),
        &HashMap::<Hash, Bytes>::new(),
        &bad,
        &entries(10),
    )
    .err()
    .expect("an error");
    assert!(err.to_string().contains("does not verify"), "{err}");
    // The same leaf again, its GER already recorded: the block still carries the leaf's L1
    // block hash, and the recorded one stays.
    let next = encode_batch(&[BatchEntry::ChangeL2Block(ChangeL2Block {
        delta_timestamp: 1,
        index_l1_info_tree: 1,
    })]);
    let (tree, res) = execute_batch(tree, &HashMap::<Hash, Bytes>::new(), &c, &next).unwrap();
    assert_eq!(res.blocks[0].block_hash_l1, leaf.block_hash);
    assert_eq!(
        tree.get(&keys::storage_key(&ger_manager.0 .0, slot))
            .unwrap(),
        U256::from_be_bytes(leaf.block_hash.0)
    );
    bad.l1_info.clear();
    let store = MemoryStore::new();
    let err = execute_batch(
        genesis(&store, 1, &[]),
        &HashMap::<Hash, Bytes>::new(),
        &bad,
        &entries(10),
    )
    .err()
    .expect("an error");
    assert!(err.to_string().contains("does not provide"), "{err}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    /// Whatever the batch data, execution ends in a result (never a panic), and an invalid batch
    /// leaves the root where it was.
    #[test]
    fn damaged_batches_execute_without_panicking(
        at in proptest::prelude::any::<proptest::sample::Index>(),
        byte in proptest::prelude::any::<u8>(),
        cut in proptest::prelude::any::<bool>(),
    ) {
        let mut data = encode_batch(&[block(1), transfer(0, 0, addr(1), 5), transfer(1, 0, addr(0), 1)]);
        let i = at.index(data.len());
        if cut { data.truncate(i) } else { data[i] = byte }
        let store = MemoryStore::new();
        let tree = genesis(&store, 2, &[]);
        let old = tree.root();
        match execute_batch(tree, &HashMap::<Hash, Bytes>::new(), &ctx(), &data) {
            Ok((_, res)) => {
                if res.invalid_batch.is_some() {
                    proptest::prop_assert_eq!(res.new_state_root, old);
                }
            }
            // A damaged changeL2Block may name an L1 info leaf the context lacks: the caller
            // must supply it, and is told which.
            Err(zknode_executor::ExecError::MissingL1Info(_)) => {}
            Err(e) => proptest::prop_assert!(false, "unexpected error: {e}"),
        }
    }
}

#[test]
fn push0_is_available_as_on_fork_12() {
    // PUSH1 0x2a PUSH0 SSTORE STOP: slot 0 = 42.
    let code = vec![0x60, 0x2a, 0x5f, 0x55, 0x00];
    let c = Address::repeat_byte(0xcc);
    let store = MemoryStore::new();
    let tree = genesis(&store, 1, &[(c, code.clone())]);
    let codes = code_map(&code);
    let call = call(0, c, 100_000);
    let (tree, res) = run(tree, &codes, &[block(1), call]);
    assert!(
        res.txs[0].outcome.as_ref().unwrap().success,
        "{:?}",
        res.txs[0].outcome
    );
    assert_eq!(
        tree.get(&keys::storage_key(&c.0 .0, U256::ZERO)).unwrap(),
        U256::from(42)
    );
}

#[test]
fn deployed_code_persists_in_rocksdb_and_runs_in_a_later_batch() {
    use zknode_state::RocksStore;
    let runtime = [0x60, 0x01, 0x60, 0x00, 0x55, 0x00]; // PUSH1 1 PUSH1 0 SSTORE STOP
    let mut init = vec![0x65];
    init.extend_from_slice(&runtime);
    init.extend_from_slice(&[0x60, 0x00, 0x52, 0x60, 0x06, 0x60, 0x1a, 0xf3]);
    let dir = tempfile::tempdir().unwrap();
    let created;
    {
        let store = RocksStore::open(dir.path()).unwrap();
        let mut tree = StateTree::open(&store).unwrap();
        genesis::apply(
            &mut tree,
            &[GenesisAccount {
                address: addr(0).to_string(),
                balance: Some(Number::Str("10000000000000000000".into())),
                nonce: None,
                bytecode: None,
                storage: None,
            }],
        )
        .unwrap();
        tree.commit().unwrap();
        let deploy = BatchEntry::Tx(Box::new(
            RawTx::new(
                0,
                U256::from(GWEI),
                200_000,
                None,
                U256::ZERO,
                Bytes::from(init),
                Some(CHAIN),
            )
            .sign(&key(0)),
        ));
        let data = encode_batch(&[block(1), deploy]);
        let tree = StateTree::open(&store).unwrap();
        let (mut tree, res) = execute_batch(tree, &store, &ctx(), &data).unwrap();
        created = res.txs[0]
            .outcome
            .as_ref()
            .unwrap()
            .contract_address
            .unwrap();
        // Code first, then the root that refers to it.
        let codes: Vec<(Hash, &[u8])> = res.new_code.iter().map(|(h, c)| (*h, &c[..])).collect();
        store.put_code(&codes).unwrap();
        tree.commit().unwrap();
    }
    let store = RocksStore::open(dir.path()).unwrap();
    assert_eq!(
        store
            .get_code(&keys::hash_bytecode(&runtime))
            .unwrap()
            .unwrap(),
        runtime
    );
    let call = call(1, created, 100_000);
    let mut c = ctx();
    c.timestamp_limit = 10;
    let (tree, res) = execute_batch(
        StateTree::open(&store).unwrap(),
        &store,
        &c,
        &encode_batch(&[block(1), call.clone()]),
    )
    .unwrap();
    assert!(res.txs[0].outcome.as_ref().unwrap().success);
    assert_eq!(
        tree.get(&keys::storage_key(&created.0 .0, U256::ZERO))
            .unwrap(),
        U256::from(1)
    );

    // Without its code the contract cannot run: a clear error, not a silent empty account.
    let empty = HashMap::<Hash, Bytes>::new();
    let err = execute_batch(
        StateTree::open(&store).unwrap(),
        &empty,
        &c,
        &encode_batch(&[block(1), call]),
    )
    .err()
    .expect("missing code is an error");
    assert!(err.to_string().contains("not in the code store"), "{err}");
}

#[test]
fn a_revert_reason_with_an_absurd_length_is_reported_not_a_panic() {
    // Reverts with Error(string) whose length word is 2^64 - 1.
    let mut code = vec![0x7f, 0x08, 0xc3, 0x79, 0xa0];
    code.extend_from_slice(&[0; 28]);
    code.extend_from_slice(&[0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x04, 0x52, 0x67]);
    code.extend_from_slice(&[0xff; 8]);
    code.extend_from_slice(&[0x60, 0x24, 0x52, 0x60, 0x44, 0x60, 0x00, 0xfd]);
    let c = Address::repeat_byte(0xcd);
    let store = MemoryStore::new();
    let tree = genesis(&store, 1, &[(c, code.clone())]);
    let codes = code_map(&code);
    let call = call(0, c, 100_000);
    let (_, res) = run(tree, &codes, &[block(1), call]);
    let r = res.txs[0].outcome.as_ref().unwrap();
    assert!(!r.success);
    assert!(r
        .failure
        .as_ref()
        .unwrap()
        .starts_with("execution reverted: 0x08c379a0"));
}

#[test]
fn a_block_left_open_by_a_failed_last_transaction_is_still_reported() {
    let reverter = Address::repeat_byte(0xee);
    let code = vec![0x60, 0x00, 0x60, 0x00, 0xfd];
    let store = MemoryStore::new();
    let tree = genesis(&store, 2, &[(reverter, code.clone())]);
    let codes = code_map(&code);
    let reverting = call(0, reverter, 50_000);
    let entries = [block(1), reverting, block(1), transfer(1, 0, addr(0), 1)];
    let (_, res) = run(tree, &codes, &entries);
    assert_eq!(res.blocks.len(), 2);
    assert_eq!(res.blocks[0].txs, [0]);
    assert_eq!(res.blocks[1].txs, [1]);
    assert_eq!(res.blocks[1].parent_hash, res.blocks[0].hash);
    assert_eq!(res.txs[0].block, 1);
    assert_eq!(res.txs[1].block, 2);
}

#[test]
fn blockhash_reads_any_earlier_block_from_the_system_contract() {
    // slot 0 = BLOCKHASH(1); slot 1 = BLOCKHASH(NUMBER)
    let code = vec![
        0x60, 0x01, 0x40, 0x60, 0x00, 0x55, 0x43, 0x40, 0x60, 0x01, 0x55, 0x00,
    ];
    let c = Address::repeat_byte(0xbb);
    let store = MemoryStore::new();
    let tree = genesis(&store, 1, &[(c, code.clone())]);
    let codes = code_map(&code);
    // 300 blocks, then the call: block 1 is further back than Ethereum's 256.
    let mut entries: Vec<BatchEntry> = (0..300).map(|_| block(1)).collect();
    entries.push(call(0, c, 100_000));
    let (tree, res) = run(tree, &codes, &entries);
    assert!(res.txs[0].outcome.as_ref().unwrap().success);
    assert_eq!(res.txs[0].block, 300);
    let slot = |i: u64| {
        tree.get(&keys::storage_key(&c.0 .0, U256::from(i)))
            .unwrap()
    };
    assert_eq!(slot(0), U256::from_be_bytes(res.blocks[0].hash.0));
    assert_ne!(slot(0), U256::ZERO);
    assert_eq!(slot(1), U256::ZERO);
}

#[test]
fn typed_transactions_pay_their_offered_price_and_warm_their_access_list() {
    use zknode_executor::codec::{AccessList, AccessListItem};
    let store = MemoryStore::new();
    let tree = genesis(&store, 3, &[]);
    // EIP-1559, tip below the fee cap: the tip is the price (the base fee is zero).
    let tip = RawTx::new_eip1559(
        CHAIN,
        0,
        U256::from(2 * GWEI),
        U256::from(3 * GWEI),
        21_000,
        Some(addr(1)),
        U256::from(5),
        Bytes::new(),
        AccessList::default(),
    )
    .sign(&key(0));
    // EIP-2930 with one address and one slot: 2,400 + 1,900 gas on top of 21,000.
    let listed = RawTx::new_eip2930(
        CHAIN,
        0,
        U256::from(GWEI),
        30_000,
        Some(addr(2)),
        U256::from(1),
        Bytes::new(),
        AccessList(vec![AccessListItem {
            address: addr(2),
            storage_keys: vec![B256::ZERO],
        }]),
    )
    .sign(&key(1));
    // EIP-1559, fee cap below the tip: the cap is the price.
    let capped = RawTx::new_eip1559(
        CHAIN,
        0,
        U256::from(4 * GWEI),
        U256::from(GWEI),
        21_000,
        Some(addr(0)),
        U256::ZERO,
        Bytes::new(),
        AccessList::default(),
    )
    .sign(&key(2));
    let entries = [
        block(1),
        BatchEntry::Tx(Box::new(tip)),
        BatchEntry::Tx(Box::new(listed)),
        BatchEntry::Tx(Box::new(capped)),
    ];
    let (tree, res) = run(tree, &HashMap::new(), &entries);
    let gas: Vec<u64> = res
        .txs
        .iter()
        .map(|t| t.outcome.as_ref().expect("executed").gas_used)
        .collect();
    assert_eq!(gas, [21_000, 25_300, 21_000]);
    let ten = U256::from(10_000_000_000_000_000_000u128);
    assert_eq!(
        balance(&tree, addr(0)),
        ten - U256::from(5 + 21_000 * 2 * GWEI)
    );
    assert_eq!(
        balance(&tree, addr(1)),
        ten + U256::from(5) - U256::from(1 + 25_300 * GWEI)
    );
    assert_eq!(
        balance(&tree, addr(2)),
        ten + U256::from(1) - U256::from(21_000 * GWEI)
    );
    assert_eq!(
        balance(&tree, sequencer()),
        U256::from((21_000 * 2 + 25_300 + 21_000) * GWEI)
    );
}
