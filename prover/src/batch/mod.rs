//! The batch STARK: a proof that a batch's ordered state operations take the state tree from
//! the old root to the new root, in starky's format.
//!
//! What it proves, and the table that proves it, are described in [`air`]. [`prove`] builds the
//! table from the operations, commits to it, and runs starky's prover; [`verify`] runs starky's
//! verifier and returns the public inputs the proof carries.
//!
//! Every failure is a [`ProofError`]: a malformed proof, one that does not verify, a witness
//! that cannot be proved, and a failure of the prover itself are told apart.

pub mod air;
pub mod alg;
mod error;
#[doc(hidden)]
pub mod forge;
pub mod layout;
pub mod poseidon;
pub mod trace;

use std::time::{Duration, Instant};

use plonky2::field::extension::FieldExtension;
use plonky2::field::goldilocks_field::GoldilocksField;
use plonky2::field::packed::PackedField;
use plonky2::field::polynomial::PolynomialCoeffs;
use plonky2::field::polynomial::PolynomialValues;
use plonky2::field::types::{Field, PrimeField64};
use plonky2::fri::oracle::PolynomialBatch;
use plonky2::fri::reduction_strategies::FriReductionStrategy;
use plonky2::fri::FriConfig;
use plonky2::hash::hash_types::HashOut;
use plonky2::hash::merkle_tree::{MerkleCap, MerkleTree};
use plonky2::iop::challenger::Challenger;
use plonky2::iop::ext_target::ExtensionTarget;
use plonky2::plonk::circuit_builder::CircuitBuilder;
use plonky2::plonk::config::{GenericConfig, PoseidonGoldilocksConfig};
use plonky2::util::timing::TimingTree;
use starky::config::StarkConfig;
use starky::constraint_consumer::{ConstraintConsumer, RecursiveConstraintConsumer};
use starky::evaluation_frame::{StarkEvaluationFrame, StarkFrame};
use starky::proof::StarkProofWithPublicInputs;
use starky::stark::Stark;

pub use error::ProofError;
use layout::{NUM_COLUMNS, NUM_PUBLIC_INPUTS};
use rayon::prelude::*;
pub use trace::{TableOp, TraceError};

pub type F = GoldilocksField;
pub const D: usize = 2;
pub type C = PoseidonGoldilocksConfig;
pub type Proof = StarkProofWithPublicInputs<F, C, D>;

/// The batch table as a starky STARK.
#[derive(Copy, Clone, Debug, Default)]
pub struct BatchStark;

impl Stark<F, D> for BatchStark {
    type EvaluationFrame<FE, P, const D2: usize>
        = StarkFrame<P, P::Scalar, NUM_COLUMNS, NUM_PUBLIC_INPUTS>
    where
        FE: FieldExtension<D2, BaseField = F>,
        P: PackedField<Scalar = FE>;

    type EvaluationFrameTarget =
        StarkFrame<ExtensionTarget<D>, ExtensionTarget<D>, NUM_COLUMNS, NUM_PUBLIC_INPUTS>;

    fn eval_packed_generic<FE, P, const D2: usize>(
        &self,
        vars: &Self::EvaluationFrame<FE, P, D2>,
        yield_constr: &mut ConstraintConsumer<P>,
    ) where
        FE: FieldExtension<D2, BaseField = F>,
        P: PackedField<Scalar = FE>,
    {
        let pis = vars.get_public_inputs();
        let pis: [P; NUM_PUBLIC_INPUTS] = core::array::from_fn(|i| P::from(pis[i]));
        air::eval(
            &mut alg::Packed { cc: yield_constr },
            vars.get_local_values(),
            vars.get_next_values(),
            &pis,
        );
    }

    fn eval_ext_circuit(
        &self,
        builder: &mut CircuitBuilder<F, D>,
        vars: &Self::EvaluationFrameTarget,
        yield_constr: &mut RecursiveConstraintConsumer<F, D>,
    ) {
        air::eval(
            &mut alg::Circuit {
                b: builder,
                cc: yield_constr,
            },
            vars.get_local_values(),
            vars.get_next_values(),
            vars.get_public_inputs(),
        );
    }

    fn constraint_degree(&self) -> usize {
        // Poseidon's x^7, switched off on range rows by one more factor.
        8
    }
}

/// The proof system's parameters: blowup 8 (the constraints have degree 8), 28 FRI queries with
/// 16 bits of grinding, about 100 bits of conjectured security.
pub fn stark_config() -> StarkConfig {
    StarkConfig::new(
        100,
        2,
        FriConfig {
            rate_bits: 3,
            cap_height: 4,
            proof_of_work_bits: 16,
            reduction_strategy: FriReductionStrategy::ConstantArityBits(4, 5),
            num_query_rounds: 28,
        },
    )
}

/// The smallest table: FRI needs a few rows above the Merkle cap.
pub const MIN_ROWS: usize = 64;

/// What a batch proof proves: the public inputs of its witness. They are defined once, in
/// `zknode-witness`, with the order of the proof's public input elements
/// ([`Statement::to_fields`]).
pub type Statement = zknode_witness::PublicInputs;

const _: () = assert!(NUM_PUBLIC_INPUTS == Statement::NUM_FIELDS);

/// A proof's public input elements for a statement.
pub fn public_inputs(statement: &Statement) -> Vec<F> {
    statement.to_fields().into_iter().map(from_kernel).collect()
}

/// The statement of a proof's public input elements.
pub fn statement_from_public_inputs(v: &[F]) -> Result<Statement, ProofError> {
    if v.len() != NUM_PUBLIC_INPUTS {
        return Err(ProofError::PublicInputs {
            expected: NUM_PUBLIC_INPUTS,
            got: v.len(),
        });
    }
    let v: Vec<_> = v.iter().map(|&x| to_kernel(x)).collect();
    Statement::from_fields(&v).map_err(|e| ProofError::Malformed {
        reason: format!("the batch proof's public inputs: {e}"),
    })
}

/// The statement a table proves, with the batch data commitment and number it carries (the
/// table does not constrain them).
pub fn table_statement(
    table: &trace::Table,
    batch_data_commitment: [u64; 4],
    batch_number: u64,
) -> Statement {
    Statement {
        old_root: to_hash(table.old_root),
        new_root: to_hash(table.new_root),
        ops_commitment: to_hash(table.ops_commitment),
        batch_data_commitment: zknode_state::Hash(
            batch_data_commitment.map(zknode_kernels::Goldilocks::new),
        ),
        batch_number,
    }
}

/// Time spent in each proving step.
#[derive(Clone, Debug, Default)]
pub struct Timings {
    /// Reading and checking the witness.
    pub witness: Duration,
    /// Building the table.
    pub trace: Duration,
    /// Low-degree extension and Merkle tree of the trace.
    pub commit: Duration,
    /// starky's quotient, its commitment, the openings and FRI.
    pub quotient_and_fri: Duration,
    pub rows: usize,
    pub used_rows: usize,
}

/// The table's columns, ready for the commitment.
pub fn columns(table: &trace::Table) -> Vec<PolynomialValues<F>> {
    let rows = table.rows;
    (0..NUM_COLUMNS)
        .map(|c| {
            PolynomialValues::new(
                (0..rows)
                    .map(|r| table.cells[r * NUM_COLUMNS + c])
                    .collect(),
            )
        })
        .collect()
}

/// Where the trace's low-degree extension and Merkle tree are computed. The transcript and the
/// rest of the proof are the same either way, so the proof bytes are too.
#[derive(Clone, Copy)]
pub enum Committer<'a> {
    /// plonky2's own `PolynomialBatch::from_values`: the reference the backends are checked
    /// against.
    Plonky2,
    /// A compute backend's `lde_commit` (the GPU when it is a CUDA backend).
    Backend(&'a dyn zknode_kernels::Backend),
}

impl<'a> Committer<'a> {
    /// The committer for a compute device; every prover picks its committer here. It is the
    /// device's own `lde_commit` on a GPU and on the CPU too, where the CPU backend's (eight-lane
    /// Poseidon) commits a batch table about 20 % faster than plonky2's `from_values`
    /// (`docs/benchmarks.md`, "Trace commitment on the CPU").
    pub fn for_backend(backend: &'a dyn zknode_kernels::Backend) -> Self {
        Committer::Backend(backend)
    }
}

fn to_kernel(x: F) -> zknode_kernels::Goldilocks {
    zknode_kernels::Goldilocks::new(x.to_canonical_u64())
}
fn from_kernel(x: zknode_kernels::Goldilocks) -> F {
    F::from_canonical_u64(x.value())
}
fn to_hash(limbs: [F; 4]) -> zknode_state::Hash {
    zknode_state::Hash(limbs.map(to_kernel))
}

/// Commits to the trace columns.
pub fn commit_trace(
    cols: &[PolynomialValues<F>],
    committer: Committer<'_>,
) -> Result<PolynomialBatch<F, C, D>, ProofError> {
    let config = stark_config();
    let (rate_bits, cap_height) = (config.fri_config.rate_bits, config.fri_config.cap_height);
    match committer {
        Committer::Plonky2 => Ok(PolynomialBatch::<F, C, D>::from_values(
            cols.to_vec(),
            rate_bits,
            false,
            cap_height,
            &mut TimingTree::default(),
            None,
        )),
        Committer::Backend(backend) => {
            // The conversions to and from the kernels' types run on every core, as plonky2's own
            // steps do.
            let polynomials: Vec<PolynomialCoeffs<F>> =
                cols.par_iter().map(|c| c.clone().ifft()).collect();
            let n = cols.first().map_or(0, |c| c.len());
            if !n.is_power_of_two() {
                return Err(ProofError::Internal(format!(
                    "the trace length {n} is not a power of two"
                )));
            }
            let log_n = n.trailing_zeros() as usize;
            let coeffs: Vec<zknode_kernels::Goldilocks> = polynomials
                .par_iter()
                .flat_map_iter(|p| p.coeffs.iter().map(|&x| to_kernel(x)))
                .collect();
            let tree = backend
                .lde_commit(&coeffs, log_n, rate_bits, cap_height)
                .map_err(ProofError::Backend)?;
            let width = tree.leaf_width;
            let leaves: Vec<Vec<F>> = tree
                .leaves
                .par_chunks(width.max(1))
                .map(|row| row.iter().map(|&x| from_kernel(x)).collect())
                .collect();
            let digest = |d: &zknode_kernels::poseidon::Digest| HashOut {
                elements: d.map(from_kernel),
            };
            Ok(PolynomialBatch {
                polynomials,
                merkle_tree: MerkleTree {
                    leaves,
                    digests: tree.digests.par_iter().map(digest).collect(),
                    cap: MerkleCap(tree.cap.iter().map(digest).collect()),
                },
                degree_log: log_n,
                rate_bits,
                blinding: false,
            })
        }
    }
}

/// Proves a table for a statement. The statement's roots and operation commitment must be the
/// table's (a table that does not satisfy the constraints makes starky's prover stop).
pub fn prove_table(
    table: &trace::Table,
    statement: &Statement,
    committer: Committer<'_>,
    timings: &mut Timings,
) -> Result<Proof, ProofError> {
    let config = stark_config();
    let pis = public_inputs(statement);
    let t = Instant::now();
    let cols = columns(table);
    let commitment = commit_trace(&cols, committer)?;
    timings.commit = t.elapsed();
    tracing::info!(
        rows = table.rows,
        columns = NUM_COLUMNS,
        "trace committed in {:.2?}",
        timings.commit
    );
    let t = Instant::now();
    let mut challenger = Challenger::<F, <C as GenericConfig<D>>::Hasher>::new();
    challenger.observe_elements(&pis);
    config.observe(&mut challenger);
    challenger.observe_cap(&commitment.merkle_tree.cap);
    let proof = starky::prover::prove_with_commitment::<F, C, BatchStark, D>(
        &BatchStark,
        &config,
        &cols,
        &commitment,
        None,
        None,
        &mut challenger,
        &pis,
        None,
        None,
        &mut TimingTree::default(),
    )
    .map_err(|e| ProofError::Prover {
        reason: format!("{e:#}"),
    })?;
    timings.quotient_and_fri = t.elapsed();
    tracing::info!(
        "quotient, openings and FRI in {:.2?}",
        timings.quotient_and_fri
    );
    Ok(proof)
}

/// Proves `ops` applied in order from `old_root`; the batch data commitment and number are
/// carried as given.
pub fn prove_ops(
    old_root: &zknode_state::Hash,
    ops: &[TableOp],
    batch_data_commitment: [u64; 4],
    batch_number: u64,
) -> Result<(Proof, Timings), ProofError> {
    let mut timings = Timings::default();
    let t = Instant::now();
    let table = trace::build(old_root, ops, MIN_ROWS)?;
    let statement = table_statement(&table, batch_data_commitment, batch_number);
    timings.trace = t.elapsed();
    timings.rows = table.rows;
    timings.used_rows = table.used_rows;
    let proof = prove_table(&table, &statement, Committer::Plonky2, &mut timings)?;
    Ok((proof, timings))
}

/// Proves a batch witness: checks it, builds the table, commits with `committer`, proves.
/// A witness that does not check is refused with the failing operation named.
pub fn prove_witness(
    w: &zknode_witness::BatchWitness,
    committer: Committer<'_>,
) -> Result<(BatchProof, Timings), ProofError> {
    let mut timings = Timings::default();
    let t = Instant::now();
    let statement = w.public_inputs().map_err(ProofError::Witness)?;
    timings.witness = t.elapsed();
    let t = Instant::now();
    let ops: Vec<TableOp> = w
        .ops
        .iter()
        .map(|o| TableOp {
            address: o.address,
            leaf_type: o.leaf_type,
            slot: o.slot,
            proof: o.proof.clone(),
        })
        .collect();
    let table = trace::build(&w.old_state_root, &ops, MIN_ROWS)?;
    if to_hash(table.new_root) != statement.new_root
        || to_hash(table.ops_commitment) != statement.ops_commitment
    {
        return Err(ProofError::Internal(
            "the table and the witness disagree on the new root or the operation commitment".into(),
        ));
    }
    timings.trace = t.elapsed();
    timings.rows = table.rows;
    timings.used_rows = table.used_rows;
    tracing::info!(
        ops = ops.len(),
        rows = table.rows,
        used = table.used_rows,
        "table built in {:.2?}",
        timings.trace
    );
    let proof = prove_table(&table, &statement, committer, &mut timings)?;
    Ok((BatchProof { proof }, timings))
}

/// A batch proof as it travels and is stored: a starky proof with its public inputs.
#[derive(Clone, Debug)]
pub struct BatchProof {
    pub proof: Proof,
}

/// File and wire format: magic, format version, then the bincode encoding of the proof.
const MAGIC: &[u8; 4] = b"ZKBP";
const FORMAT_VERSION: u32 = 1;

impl BatchProof {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = crate::envelope::seal(MAGIC, FORMAT_VERSION);
        out.extend(bincode::serialize(&self.proof).expect("a proof always serializes"));
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, ProofError> {
        let body = crate::envelope::open(b, MAGIC, "batch proof", FORMAT_VERSION)?;
        let proof: Proof = bincode::deserialize(body).map_err(|e| ProofError::Malformed {
            reason: e.to_string(),
        })?;
        if proof.public_inputs.len() != NUM_PUBLIC_INPUTS {
            return Err(ProofError::PublicInputs {
                expected: NUM_PUBLIC_INPUTS,
                got: proof.public_inputs.len(),
            });
        }
        Ok(Self { proof })
    }

    /// Verifies the proof and returns its statement.
    pub fn verify(&self) -> Result<Statement, ProofError> {
        verify(&self.proof)
    }

    /// Verifies the proof and checks that it states `expected`
    /// ([`ProofError::WrongStatement`] if it states something else).
    pub fn verify_expecting(&self, expected: &Statement) -> Result<(), ProofError> {
        let got = self.verify()?;
        if got != *expected {
            return Err(ProofError::WrongStatement {
                expected: Box::new(*expected),
                got: Box::new(got),
            });
        }
        Ok(())
    }
}

/// Verifies a batch proof and returns its statement.
pub fn verify(proof: &Proof) -> Result<Statement, ProofError> {
    let statement = statement_from_public_inputs(&proof.public_inputs)?;
    let config = stark_config();
    // starky reads the first query round before it checks the proof's shape; a proof without
    // the configured number of rounds is refused here instead.
    let rounds = proof.proof.opening_proof.query_round_proofs.len();
    if rounds != config.fri_config.num_query_rounds {
        return Err(ProofError::QueryRounds {
            expected: config.fri_config.num_query_rounds,
            got: rounds,
        });
    }
    // Any other malformed shape that starky does not check before indexing is an error too,
    // never a crash of the verifying process.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        starky::verifier::verify_stark_proof::<F, C, BatchStark, D>(
            BatchStark,
            proof.clone(),
            &config,
            None,
        )
    }));
    match result {
        Ok(Ok(())) => Ok(statement),
        Ok(Err(e)) => Err(ProofError::Invalid {
            reason: format!("{e:#}"),
        }),
        Err(_) => Err(ProofError::Malformed {
            reason: "the verifier could not read it".into(),
        }),
    }
}

/// A fingerprint of the constraints: every constraint evaluated, through [`alg::Record`], on a
/// fixed pseudo-random pair of rows and public inputs, hashed. Any change to what [`air::eval`]
/// constrains changes it, so circuit caches keyed by it never outlive the AIR they verify.
pub fn air_fingerprint() -> [u64; 4] {
    use plonky2::hash::poseidon::PoseidonHash;
    use plonky2::plonk::config::Hasher;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        F::from_noncanonical_u64(x)
    };
    let lv: Vec<F> = (0..NUM_COLUMNS).map(|_| next()).collect();
    let nv: Vec<F> = (0..NUM_COLUMNS).map(|_| next()).collect();
    let pis: Vec<F> = (0..NUM_PUBLIC_INPUTS).map(|_| next()).collect();
    let mut values = Vec::new();
    for (first, last) in [(true, false), (false, true)] {
        let mut r = alg::Record::new(first, last);
        air::eval(&mut r, &lv, &nv, &pis);
        values.extend(r.values.into_iter().map(|(_, v)| v));
    }
    values.push(F::from_canonical_usize(values.len()));
    PoseidonHash::hash_no_pad(&values)
        .elements
        .map(|v| v.to_canonical_u64())
}

/// Every constraint's value, with its section, on each pair of consecutive rows of `table`, in
/// row order, until `visit` breaks.
fn each_row(
    table: &trace::Table,
    statement: &Statement,
    mut visit: impl FnMut(usize, &[(&'static str, F)]) -> std::ops::ControlFlow<()>,
) {
    let pis = public_inputs(statement);
    let rows = table.rows;
    for r in 0..rows {
        let lv = &table.cells[r * NUM_COLUMNS..(r + 1) * NUM_COLUMNS];
        let n = (r + 1) % rows;
        let nv = &table.cells[n * NUM_COLUMNS..(n + 1) * NUM_COLUMNS];
        let mut rec = alg::Record::new(r == 0, r == rows - 1);
        air::eval(&mut rec, lv, nv, &pis);
        if visit(r, &rec.values).is_break() {
            return;
        }
    }
}

/// The sections of [`air::eval`] (named through [`alg::Alg::section`]) that have a constraint
/// failing on some row of `table`, each with the first such row. Empty for an honest table.
pub fn broken_sections(
    table: &trace::Table,
    statement: &Statement,
) -> std::collections::BTreeMap<&'static str, usize> {
    let mut out = std::collections::BTreeMap::new();
    each_row(table, statement, |r, values| {
        for (section, v) in values {
            if !v.is_zero() {
                out.entry(*section).or_insert(r);
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    out
}

/// Checks every constraint of a table on every row, naming the first row and constraint that
/// fail. For tests and for diagnosing a table before spending time on a proof.
pub fn check_table(table: &trace::Table, statement: &Statement) -> Result<(), ProofError> {
    let mut failed = None;
    each_row(table, statement, |r, values| {
        match values.iter().position(|(_, v)| !v.is_zero()) {
            Some(index) => {
                failed = Some((r, index, values[index].0));
                std::ops::ControlFlow::Break(())
            }
            None => std::ops::ControlFlow::Continue(()),
        }
    });
    match failed {
        Some((row, constraint, section)) => Err(ProofError::Unsatisfied {
            row,
            constraint,
            section,
        }),
        None => Ok(()),
    }
}
