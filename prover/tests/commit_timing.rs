//! Timings of the trace commitment (LDE + Merkle tree of a batch table's columns) with each
//! committer, run after run in turn so that load from other processes falls on both alike:
//!
//! ```sh
//! cargo test --release -p zknode-prover --test commit_timing -- --ignored --nocapture
//! ```
//!
//! `ZKNODE_COMMIT_TIMING_OPS=256,1024` picks the batch sizes, `ZKNODE_COMMIT_TIMING_RUNS=5` the
//! timed runs of each committer (after one warm-up run each). Not a correctness test
//! (`batch_witness.rs` is); ignored by default.

use std::time::{Duration, Instant};

use zknode_kernels::{Backend, CpuBackend};
use zknode_prover::batch::{self, trace, Committer};
use zknode_witness::random_witness;

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

#[test]
#[ignore = "timing, not correctness"]
fn commit_timings() {
    let cpu = CpuBackend::new();
    let runs = env_list("ZKNODE_COMMIT_TIMING_RUNS", &[5])[0].max(1);
    println!(
        "{}; {runs} timed runs of each committer, in turn",
        cpu.info()
    );
    let rate_bits = batch::stark_config().fri_config.rate_bits;
    for ops in env_list("ZKNODE_COMMIT_TIMING_OPS", &[256, 1024]) {
        let w = random_witness(ops, 1);
        let table_ops: Vec<trace::TableOp> = w
            .ops
            .iter()
            .map(|o| trace::TableOp {
                address: o.address,
                leaf_type: o.leaf_type,
                slot: o.slot,
                proof: o.proof.clone(),
            })
            .collect();
        let table = trace::build(&w.old_state_root, &table_ops, batch::MIN_ROWS).expect("table");
        let cols = batch::columns(&table);
        let cells = ((table.rows << rate_bits) * cols.len()) as f64;
        let committers = [
            ("plonky2 from_values", Committer::Plonky2),
            ("CPU backend lde_commit", Committer::Backend(&cpu)),
        ];
        // The warm-up runs, which also show that both commit to the same tree.
        let caps: Vec<_> = committers
            .iter()
            .map(|&(_, c)| {
                batch::commit_trace(&cols, c)
                    .expect("commit")
                    .merkle_tree
                    .cap
            })
            .collect();
        assert_eq!(caps[0], caps[1], "the committers' Merkle caps differ");
        let mut times = vec![Vec::<Duration>::new(); committers.len()];
        for _ in 0..runs {
            for (t, &(_, c)) in times.iter_mut().zip(&committers) {
                let start = Instant::now();
                std::hint::black_box(batch::commit_trace(&cols, c).expect("commit"));
                t.push(start.elapsed());
            }
        }
        println!(
            "{ops} operations: {} rows x {} columns, {:.1} M LDE cells",
            table.rows,
            cols.len(),
            cells / 1e6
        );
        for (mut t, (name, _)) in times.into_iter().zip(committers) {
            t.sort();
            let median = t[t.len() / 2];
            println!(
                "  {name:<24} median {:.3} s ({:.2} M LDE cells/s), fastest {:.3} s, slowest {:.3} s",
                median.as_secs_f64(),
                cells / median.as_secs_f64() / 1e6,
                t[0].as_secs_f64(),
                t[t.len() - 1].as_secs_f64()
            );
        }
    }
}
