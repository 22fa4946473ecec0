//! Batches for the prover's tests, built on a real state tree.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ruint::aliases::U256;
use zknode_prover::batch::{trace, Statement, TableOp, F};
use zknode_state::keys::{key, LeafType};
use zknode_state::{Hash, MemoryStore, StateTree};

/// `ops` random writes (updates, inserts, deletions, zero writes to absent keys) on a tree of
/// `prefill` random entries.
pub fn scenario(seed: u64, prefill: usize, ops: usize) -> (Hash, Vec<TableOp>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tree = StateTree::open(MemoryStore::new()).expect("tree");
    let mut live: Vec<([u8; 20], u8, U256)> = Vec::new();
    let rand_entry = |rng: &mut ChaCha8Rng| {
        let mut a = [0u8; 20];
        rng.fill(&mut a);
        let storage = rng.gen_bool(0.3);
        let t = if storage { 3 } else { rng.gen_range(0..2) };
        let slot = if storage {
            U256::from(rng.gen::<u64>())
        } else {
            U256::ZERO
        };
        (a, t, slot)
    };
    for _ in 0..prefill {
        let e = rand_entry(&mut rng);
        let k = key(&e.0, LeafType::from_u8(e.1).expect("type"), e.2);
        tree.set(k, U256::from(rng.gen_range(1..1000u64)))
            .expect("set");
        live.push(e);
    }
    let old_root = tree.root();
    let mut out = Vec::new();
    for _ in 0..ops {
        let roll = rng.gen_range(0..10);
        let (e, v) = if roll < 3 && !live.is_empty() {
            let i = rng.gen_range(0..live.len());
            (live[i], U256::from(rng.gen_range(1..1000u64)))
        } else if roll < 5 && !live.is_empty() {
            let i = rng.gen_range(0..live.len());
            (live.swap_remove(i), U256::ZERO)
        } else if roll < 6 {
            (rand_entry(&mut rng), U256::ZERO)
        } else {
            let e = rand_entry(&mut rng);
            live.push(e);
            (e, U256::from(rng.gen::<u64>() | 1) << 100)
        };
        let k = key(&e.0, LeafType::from_u8(e.1).expect("type"), e.2);
        let proof = tree.set(k, v).expect("set");
        out.push(TableOp {
            address: e.0,
            leaf_type: e.1,
            slot: e.2,
            proof,
        });
    }
    (old_root, out)
}

/// The table with other cells.
pub fn with_cells(t: &trace::Table, cells: Vec<F>) -> trace::Table {
    trace::Table {
        cells,
        rows: t.rows,
        used_rows: t.used_rows,
        old_root: t.old_root,
        new_root: t.new_root,
        ops_commitment: t.ops_commitment,
    }
}

/// The statement of a table, with a batch data commitment and number the table does not
/// constrain.
pub fn statement_of(t: &trace::Table) -> Statement {
    zknode_prover::batch::table_statement(t, [11, 12, 13, 14], 42)
}
