//! Golden proofs: a batch proof, a wrap and an aggregate made once and checked in
//! (`prover/tests/golden/`), verified by this build. A change of the transcript, the
//! constraints, the circuits or a byte format makes them fail, so such a change cannot pass
//! unnoticed; when it is deliberate, regenerate them and say why in the commit:
//!
//! ```sh
//! cargo test --release -p zknode-prover --test golden -- --ignored regenerate
//! ```

use std::path::PathBuf;

use zknode_prover::batch::{self, BatchProof, Committer, Statement};
use zknode_prover::recursion::{self, Circuits, RangeStatement};
use zknode_witness::random_batches;

/// Two consecutive batches of 3 operations over one tree, from a fixed seed.
const SEED: u64 = 0x601d;
const OPS: [usize; 2] = [3, 3];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn circuits() -> Circuits {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("circuits");
    recursion::load_or_build(Some(&cache), &mut |step| eprintln!("recursion: {step}"))
        .expect("the recursion circuits build")
}

/// The statements the golden proofs must carry, recomputed from the witnesses.
fn expected() -> Vec<Statement> {
    random_batches(&OPS, SEED)
        .iter()
        .map(|w| w.public_inputs().expect("the witness checks"))
        .collect()
}

#[test]
fn golden_batch_proof_verifies() {
    let proof =
        BatchProof::from_bytes(&read("batch-1.zkbp")).expect("the golden batch proof reads");
    let st = proof
        .verify()
        .expect("the golden batch proof verifies with this build");
    assert_eq!(st, expected()[0]);
}

#[test]
fn golden_recursive_proofs_verify() {
    let c = circuits();
    let statements = expected();
    let wrap = c
        .read_recursive(&read("wrap-1.zkrp"))
        .expect("the golden wrap reads");
    assert_eq!(
        c.verify(&wrap).expect("the golden wrap verifies"),
        RangeStatement::of_batch(&statements[0], [0; 4]).unwrap()
    );
    let agg = c
        .read_recursive(&read("aggregate-1-2.zkrp"))
        .expect("the golden aggregate reads");
    let st = c.verify(&agg).expect("the golden aggregate verifies");
    assert_eq!((st.first_batch, st.last_batch), (1, 2));
    assert_eq!(st.old_root, statements[0].old_root.raw());
    assert_eq!(st.new_root, statements[1].new_root.raw());
    assert_eq!(st.acc_new, recursion::acc_over([0; 4], &statements));
}

/// Writes the golden proofs anew (see the module's documentation).
#[test]
#[ignore]
fn regenerate() {
    let witnesses = random_batches(&OPS, SEED);
    let c = circuits();
    let mut acc = [0u64; 4];
    let mut wraps = Vec::new();
    std::fs::create_dir_all(dir()).expect("golden directory");
    for (i, w) in witnesses.iter().enumerate() {
        let (p, _) = batch::prove_witness(w, Committer::Plonky2).expect("batch proof");
        if i == 0 {
            std::fs::write(dir().join("batch-1.zkbp"), p.to_bytes()).expect("write");
        }
        let wrap = c.wrap(&p, acc).expect("wrap");
        acc = c.verify(&wrap).expect("the wrap verifies").acc_new;
        wraps.push(wrap);
    }
    std::fs::write(dir().join("wrap-1.zkrp"), wraps[0].to_bytes()).expect("write");
    let agg = c.aggregate(&wraps[0], &wraps[1]).expect("aggregate");
    std::fs::write(dir().join("aggregate-1-2.zkrp"), agg.to_bytes()).expect("write");
    eprintln!("golden proofs written to {}", dir().display());
}
