//! Proving from batch witnesses: the CPU backend's commitment gives the same proof bytes as
//! plonky2's, the statement is the witness's public inputs, and bad witnesses and proof files
//! get clear errors.

use zknode_kernels::{Backend, CpuBackend, CudaBackend};
use zknode_prover::batch::{prove_witness, BatchProof, Committer, ProofError};
use zknode_prover::EnvelopeError;
use zknode_witness::random_witness;

#[test]
fn proof_from_witness_carries_its_public_inputs() {
    let w = random_witness(12, 3);
    let (proof, _) = prove_witness(&w, Committer::Plonky2).expect("prove");
    let st = proof.verify().expect("verify");
    assert_eq!(st, w.public_inputs().expect("public inputs"));
    assert_eq!(st.batch_number, w.chain.batch_number);

    // The bytes round-trip; damaged files are refused with a reason, never a panic.
    let bytes = proof.to_bytes();
    let back = BatchProof::from_bytes(&bytes).expect("decode");
    assert_eq!(back.to_bytes(), bytes);
    let err = BatchProof::from_bytes(b"not a proof").unwrap_err();
    let e = err.to_string();
    assert!(e.contains("not a zkNode batch proof"), "{e}");
    assert!(
        matches!(
            err,
            ProofError::Envelope(EnvelopeError::WrongMagic { expected, .. }) if &expected == b"ZKBP"
        ),
        "{err:?}"
    );
    let err = BatchProof::from_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
    let e = err.to_string();
    assert!(e.contains("malformed"), "{e}");
    assert!(err.is_malformed() && err.is_prover_fault(), "{err:?}");
    let mut v2 = bytes.clone();
    v2[4] = 2;
    let err = BatchProof::from_bytes(&v2).unwrap_err();
    let e = err.to_string();
    assert!(e.contains("format 2 is not supported"), "{e}");
    assert!(
        matches!(
            err,
            ProofError::Envelope(EnvelopeError::UnsupportedVersion {
                expected: 1,
                got: 2,
                ..
            })
        ),
        "{err:?}"
    );

    // A proof checked against another statement than its own.
    let mut other = st;
    other.batch_number += 1;
    proof.verify_expecting(&st).expect("its own statement");
    let err = proof.verify_expecting(&other).unwrap_err();
    assert!(
        matches!(&err, ProofError::WrongStatement { expected, got } if **expected == other && **got == st),
        "{err:?}"
    );
    assert!(err.is_invalid() && err.is_prover_fault(), "{err:?}");
}

/// Runs `f` on a one-thread rayon pool. starky's proof-of-work search (plonky2's
/// `fri_proof_of_work`) is a parallel `find_any`: with several threads two honest proofs of the
/// same table can carry different witnesses, and every query answer after them differs. On one
/// thread the search returns the smallest witness, so equal inputs give equal bytes.
fn one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool")
        .install(f)
}

#[test]
fn backend_commitment_gives_identical_proof_bytes() {
    let w = random_witness(8, 11);
    let (a, _) = one_thread(|| prove_witness(&w, Committer::Plonky2)).expect("plonky2 commit");
    let cpu = CpuBackend::new();
    let (b, _) =
        one_thread(|| prove_witness(&w, Committer::Backend(&cpu))).expect("backend commit");
    assert_eq!(a.to_bytes(), b.to_bytes(), "CPU backend and plonky2 differ");
    match CudaBackend::new() {
        Ok(gpu) => {
            let (c, _) =
                one_thread(|| prove_witness(&w, Committer::Backend(&gpu))).expect("gpu commit");
            assert_eq!(a.to_bytes(), c.to_bytes(), "GPU and CPU proofs differ");
            eprintln!("GPU proof identical on {}", gpu.info());
        }
        Err(e) if std::env::var("ZKNODE_REQUIRE_CUDA").as_deref() == Ok("1") => {
            panic!("ZKNODE_REQUIRE_CUDA=1 but no CUDA device opens: {e}")
        }
        Err(e) => eprintln!("skipping the GPU comparison: no usable GPU ({e})"),
    }
}

#[test]
fn bad_witness_is_refused_naming_the_operation() {
    let mut w = random_witness(10, 5);
    w.ops[4].proof.old_value += ruint::aliases::U256::from(1u64);
    let err = prove_witness(&w, Committer::Plonky2).unwrap_err();
    let e = err.to_string();
    assert!(e.contains("operation 4"), "{e}");
    assert!(matches!(err, ProofError::Witness(_)), "{err:?}");
    assert!(err.is_witness_fault() && !err.is_prover_fault() && !err.is_internal());
}
