//! The batch STARK: a proof that a batch's ordered state operations take the state tree from
//! the old root to the new root, in starky's format.
//!
//! What it proves, and the table that proves it, are described in [`air`]. [`prove`] builds the
//! table from the operations, commits to it, and runs starky's prover; [`verify`] runs starky's
//! verifier and returns the public inputs the proof carries.

pub mod air;
pub mod alg;
pub mod layout;
pub mod poseidon;
pub mod trace;

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use plonky2::field::extension::FieldExtension;
use plonky2::field::goldilocks_field::GoldilocksField;
use plonky2::field::packed::PackedField;
use plonky2::field::polynomial::PolynomialValues;
use plonky2::field::types::{Field, PrimeField64};
use plonky2::fri::reduction_strategies::FriReductionStrategy;
use plonky2::fri::FriConfig;
use plonky2::iop::ext_target::ExtensionTarget;
use plonky2::plonk::circuit_builder::CircuitBuilder;
use plonky2::plonk::config::PoseidonGoldilocksConfig;
use plonky2::util::timing::TimingTree;
use starky::config::StarkConfig;
use starky::constraint_consumer::{ConstraintConsumer, RecursiveConstraintConsumer};
use starky::evaluation_frame::{StarkEvaluationFrame, StarkFrame};
use starky::proof::StarkProofWithPublicInputs;
use starky::stark::Stark;

use layout::{NUM_COLUMNS, NUM_PUBLIC_INPUTS};
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

/// What a batch proof's public inputs say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub old_root: [u64; 4],
    pub new_root: [u64; 4],
    pub ops_commitment: [u64; 4],
    pub batch_data_commitment: [u64; 4],
    pub batch_number: u64,
}

impl Statement {
    pub fn to_fields(&self) -> Vec<F> {
        let mut v = Vec::with_capacity(NUM_PUBLIC_INPUTS);
        for limbs in [
            &self.old_root,
            &self.new_root,
            &self.ops_commitment,
            &self.batch_data_commitment,
        ] {
            v.extend(limbs.iter().map(|&x| F::from_canonical_u64(x)));
        }
        v.push(F::from_canonical_u64(self.batch_number & 0xffff_ffff));
        v.push(F::from_canonical_u64(self.batch_number >> 32));
        v
    }

    pub fn from_fields(v: &[F]) -> Result<Self> {
        ensure!(
            v.len() == NUM_PUBLIC_INPUTS,
            "a batch proof has {NUM_PUBLIC_INPUTS} public inputs, this one has {}",
            v.len()
        );
        let four =
            |at: usize| -> [u64; 4] { core::array::from_fn(|i| v[at + i].to_canonical_u64()) };
        let (lo, hi) = (v[16].to_canonical_u64(), v[17].to_canonical_u64());
        ensure!(
            lo >> 32 == 0 && hi >> 32 == 0,
            "the batch number limbs are not 32-bit"
        );
        Ok(Self {
            old_root: four(0),
            new_root: four(4),
            ops_commitment: four(8),
            batch_data_commitment: four(12),
            batch_number: lo | (hi << 32),
        })
    }
}

/// Time spent in each proving step.
#[derive(Clone, Debug, Default)]
pub struct Timings {
    pub trace: Duration,
    pub prove: Duration,
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

/// Proves `ops` applied in order from `old_root`. The batch data commitment and number are
/// carried as given.
pub fn prove_ops(
    old_root: &zknode_state::Hash,
    ops: &[TableOp],
    batch_data_commitment: [u64; 4],
    batch_number: u64,
) -> Result<(Proof, Timings)> {
    let t0 = Instant::now();
    let table = trace::build(old_root, ops, MIN_ROWS)?;
    let statement = Statement {
        old_root: table.old_root.map(|x| x.to_canonical_u64()),
        new_root: table.new_root.map(|x| x.to_canonical_u64()),
        ops_commitment: table.ops_commitment.map(|x| x.to_canonical_u64()),
        batch_data_commitment,
        batch_number,
    };
    let cols = columns(&table);
    let trace_time = t0.elapsed();
    let t1 = Instant::now();
    let mut timing = TimingTree::default();
    let proof = starky::prover::prove::<F, C, BatchStark, D>(
        BatchStark,
        &stark_config(),
        cols,
        &statement.to_fields(),
        None,
        &mut timing,
    )
    .context("the STARK prover failed")?;
    Ok((
        proof,
        Timings {
            trace: trace_time,
            prove: t1.elapsed(),
            rows: table.rows,
            used_rows: table.used_rows,
        },
    ))
}

/// Verifies a batch proof and returns its statement.
pub fn verify(proof: &Proof) -> Result<Statement> {
    let statement = Statement::from_fields(&proof.public_inputs)?;
    if let Err(e) = starky::verifier::verify_stark_proof::<F, C, BatchStark, D>(
        BatchStark,
        proof.clone(),
        &stark_config(),
        None,
    ) {
        bail!("the batch proof does not verify: {e}");
    }
    Ok(statement)
}

/// Checks every constraint of a table on every row, naming the first row and constraint that
/// fail. For tests and for diagnosing a table before spending time on a proof.
pub fn check_table(table: &trace::Table, statement: &Statement) -> Result<()> {
    let pis = statement.to_fields();
    let rows = table.rows;
    for r in 0..rows {
        let lv = &table.cells[r * NUM_COLUMNS..(r + 1) * NUM_COLUMNS];
        let n = (r + 1) % rows;
        let nv = &table.cells[n * NUM_COLUMNS..(n + 1) * NUM_COLUMNS];
        let mut check = alg::Check::new(r == 0, r == rows - 1);
        air::eval(&mut check, lv, nv, &pis);
        if let Some((index, kind)) = check.failed {
            bail!("row {r}: constraint #{index} ({kind}) does not hold");
        }
    }
    Ok(())
}
