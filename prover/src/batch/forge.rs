//! A prover that does not refuse: for soundness tests only.
//!
//! starky's prover panics when the table breaks a constraint, because the combined constraint
//! polynomial is then not divisible by the vanishing polynomial of the trace domain. A cheating
//! prover would not stop there: it would interpolate the "quotient" anyway, keep its part of low
//! enough degree, and go on with the protocol. [`prove_anyway`] does exactly that, step by step
//! as starky's prover (the same transcript, the same commitments and openings, the same FRI
//! proof), so the verifier sees a proof in the honest format whose only flaw is the quotient
//! identity at the random point. On an honest table its output is an honest proof.
//!
//! [`deep_split`] builds a forged table that the constraints before the depth bound allowed.

use core::iter::successors;

use plonky2::field::extension::{Extendable, FieldExtension};
use plonky2::field::packable::Packable;
use plonky2::field::packed::PackedField;
use plonky2::field::polynomial::{PolynomialCoeffs, PolynomialValues};
use plonky2::field::types::Field;
use plonky2::field::zero_poly_coset::ZeroPolyOnCoset;
use plonky2::fri::oracle::PolynomialBatch;
use plonky2::fri::structure::{FriOpeningBatch, FriOpenings};
use plonky2::iop::challenger::Challenger;
use plonky2::plonk::config::GenericConfig;
use plonky2::util::timing::TimingTree;
use plonky2::util::{log2_ceil, log2_strict};
use starky::constraint_consumer::ConstraintConsumer;
use starky::evaluation_frame::StarkEvaluationFrame;
use starky::proof::{StarkOpeningSet, StarkProof, StarkProofWithPublicInputs};
use starky::stark::Stark;

use super::layout::OP_SPLIT;
use super::trace::{self, Plan, Table, TableOp, TraceError};
use super::{stark_config, BatchStark, Proof, C, D, F, MIN_ROWS};

type FE = <F as Extendable<D>>::Extension;
type P = <F as Packable>::Packing;
type Hasher = <C as GenericConfig<D>>::Hasher;
type Frame<E, Q, const D2: usize> = <BatchStark as Stark<F, D>>::EvaluationFrame<E, Q, D2>;

/// Proves `table_columns` under `public_inputs` as starky's `prove` would, except that a quotient
/// that is not a polynomial is cut down to the degree the verifier expects instead of refused:
/// what a cheating prover sends. The batch STARK uses no lookups and no cross-table lookups.
pub fn prove_anyway(table_columns: Vec<PolynomialValues<F>>, public_inputs: &[F]) -> Proof {
    let stark = BatchStark;
    let config = stark_config();
    let degree = table_columns[0].len();
    let degree_bits = log2_strict(degree);
    let rate_bits = config.fri_config.rate_bits;
    let cap_height = config.fri_config.cap_height;
    let fri_params = config.fri_params(degree_bits);
    let mut timing = TimingTree::default();
    assert!(
        fri_params.total_arities() <= degree_bits + rate_bits - cap_height,
        "the table is too small for the FRI reductions"
    );

    // The trace commitment, and the transcript up to it.
    let trace = PolynomialBatch::<F, C, D>::from_values(
        table_columns,
        rate_bits,
        false,
        cap_height,
        &mut timing,
        None,
    );
    let mut challenger = Challenger::<F, Hasher>::new();
    challenger.observe_elements(public_inputs);
    config.observe(&mut challenger);
    challenger.observe_cap(&trace.merkle_tree.cap);

    // Binding the constraints: evaluate them, with throwaway challenges, on simulated openings
    // drawn from the transcript, and observe the result before drawing the real challenges.
    let alphas_prime = challenger.get_n_challenges(config.num_challenges);
    let pow_degree = 2.max(stark.constraint_degree() + 1);
    let powers_per_seed = 1.max(50 / log2_ceil(pow_degree) - 1);
    let simulated = 2 * BatchStark::COLUMNS;
    let seeds = challenger.get_n_extension_challenges::<D>(simulated.div_ceil(powers_per_seed));
    let per_seed = (powers_per_seed + 1).min(simulated);
    let dummies: Vec<FE> = seeds
        .into_iter()
        .flat_map(|s| successors(Some(s), |&x| Some(x.exp_u64(pow_degree as u64))).take(per_seed))
        .collect();
    let zeta_prime = challenger.get_extension_challenge::<D>();
    let cols = BatchStark::COLUMNS;
    let bound = constraints_at(
        &dummies[..cols],
        &dummies[cols..2 * cols],
        public_inputs,
        &alphas_prime,
        zeta_prime,
        degree_bits,
    );
    challenger.observe_extension_elements::<D>(&bound);
    let alphas = challenger.get_n_challenges(config.num_challenges);

    // The quotient, whatever it is, cut to `quotient_degree_factor` chunks of degree < n.
    let factor = stark.quotient_degree_factor();
    let chunks: Vec<PolynomialCoeffs<F>> = quotients(&trace, public_inputs, &alphas, degree_bits)
        .into_iter()
        .flat_map(|mut q| {
            q.coeffs.truncate(degree * factor);
            q.chunks(degree)
        })
        .collect();
    let quotient = PolynomialBatch::<F, C, D>::from_coeffs(
        chunks,
        rate_bits,
        false,
        cap_height,
        &mut timing,
        None,
    );
    challenger.observe_cap(&quotient.merkle_tree.cap);

    // Openings at zeta and g·zeta, and FRI.
    let zeta = challenger.get_extension_challenge::<D>();
    assert!(
        zeta.exp_power_of_2(degree_bits) != FE::ONE,
        "the opening point fell in the trace domain"
    );
    let g = F::primitive_root_of_unity(degree_bits);
    let openings = StarkOpeningSet::new(
        zeta,
        g,
        &trace,
        None,
        Some(&quotient),
        stark.num_lookup_helper_columns(&config),
        false,
        &[],
    );
    // The opened values in FRI's order: at zeta the trace then the quotient chunks, at g·zeta
    // the trace.
    let at_zeta = openings
        .local_values
        .iter()
        .chain(openings.quotient_polys.iter().flatten())
        .copied()
        .collect();
    challenger.observe_openings(&FriOpenings::<F, D> {
        batches: vec![
            FriOpeningBatch::<F, D> { values: at_zeta },
            FriOpeningBatch::<F, D> {
                values: openings.next_values.clone(),
            },
        ],
    });
    let opening_proof = PolynomialBatch::prove_openings(
        &stark.fri_instance(zeta, g, 0, vec![], &config),
        &[&trace, &quotient],
        &mut challenger,
        &fri_params,
        None,
        None,
        &mut timing,
    );

    StarkProofWithPublicInputs {
        proof: StarkProof {
            trace_cap: trace.merkle_tree.cap.clone(),
            auxiliary_polys_cap: None,
            quotient_polys_cap: Some(quotient.merkle_tree.cap.clone()),
            openings,
            opening_proof,
        },
        public_inputs: public_inputs.to_vec(),
    }
}

/// The combined constraints, one per challenge, at the extension point `x` with the given local
/// and next row values.
fn constraints_at(
    local: &[FE],
    next: &[FE],
    public_inputs: &[F],
    alphas: &[F],
    x: FE,
    degree_bits: usize,
) -> Vec<FE> {
    let n = F::from_canonical_usize(1 << degree_bits);
    let g = F::primitive_root_of_unity(degree_bits);
    // Lagrange polynomials of the first and the last row: (x^n − 1) / (n·(x − 1)) and
    // (x^n − 1) / (n·(g·x − 1)).
    let z_h = x.exp_power_of_2(degree_bits) - FE::ONE;
    let l_first = z_h / (<FE as FieldExtension<D>>::from_basefield(n) * (x - FE::ONE));
    let l_last = z_h
        / (<FE as FieldExtension<D>>::from_basefield(n)
            * (<FE as FieldExtension<D>>::scalar_mul(&x, g) - FE::ONE));
    let z_last = x - <FE as FieldExtension<D>>::from_basefield(g.inverse());
    let mut consumer = ConstraintConsumer::new(
        alphas
            .iter()
            .map(|&a| <FE as FieldExtension<D>>::from_basefield(a))
            .collect(),
        z_last,
        l_first,
        l_last,
    );
    let pis: Vec<FE> = public_inputs
        .iter()
        .map(|&v| <FE as FieldExtension<D>>::from_basefield(v))
        .collect();
    let frame = Frame::<FE, FE, D>::from_values(local, next, &pis);
    BatchStark.eval_ext(&frame, &mut consumer);
    consumer.accumulators()
}

/// `(Σ αⁱ·Cᵢ(x)) / Z_H(x)` on the quotient coset, interpolated: one polynomial per challenge, of
/// `n · 2^⌈log₂ factor⌉` coefficients. Only an honest table gives polynomials of degree below
/// `n · factor`.
fn quotients(
    trace: &PolynomialBatch<F, C, D>,
    public_inputs: &[F],
    alphas: &[F],
    degree_bits: usize,
) -> Vec<PolynomialCoeffs<F>> {
    let degree = 1 << degree_bits;
    let rate_bits = trace.rate_bits;
    let quotient_bits = log2_ceil(BatchStark.quotient_degree_factor());
    assert!(quotient_bits <= rate_bits, "constraints of too high degree");
    // The trace's LDE has 2^rate_bits points per row, the quotient coset 2^quotient_bits.
    let step = 1 << (rate_bits - quotient_bits);
    let next_step = 1 << quotient_bits;
    let size = degree << quotient_bits;

    let first = PolynomialValues::<F>::selector(degree, 0).lde_onto_coset(quotient_bits);
    let last = PolynomialValues::<F>::selector(degree, degree - 1).lde_onto_coset(quotient_bits);
    let z_h = ZeroPolyOnCoset::<F>::new(degree_bits, quotient_bits);
    let last_point = F::primitive_root_of_unity(degree_bits).inverse();
    let coset = F::cyclic_subgroup_coset_known_order(
        F::primitive_root_of_unity(degree_bits + quotient_bits),
        F::coset_shift(),
        size,
    );

    let mut values = vec![Vec::with_capacity(size); alphas.len()];
    for i in (0..size).step_by(P::WIDTH) {
        let range = i..i + P::WIDTH;
        let x = *P::from_slice(&coset[range.clone()]);
        let mut consumer = ConstraintConsumer::new(
            alphas.to_vec(),
            x - last_point,
            *P::from_slice(&first.values[range.clone()]),
            *P::from_slice(&last.values[range]),
        );
        let local: Vec<P> = trace.get_lde_values_packed(i, step);
        let next: Vec<P> = trace.get_lde_values_packed((i + next_step) % size, step);
        let frame = Frame::<F, P, 1>::from_values(&local, &next, public_inputs);
        BatchStark.eval_packed_base(&frame, &mut consumer);
        let z_h_inv: P = z_h.eval_inverse_packed(i);
        for (v, acc) in values.iter_mut().zip(consumer.accumulators()) {
            v.extend_from_slice((acc * z_h_inv).as_slice());
        }
    }
    values
        .into_iter()
        .map(|v| PolynomialValues::new(v).coset_ifft(F::coset_shift()))
        .collect()
}

/// Levels of one key limb after which `2^levels` repeats: 2 has order 192 in Goldilocks.
pub const POW_PERIOD: usize = 192;

/// The table of `ops` in which the last operation, a split, walks `4 · 192` levels deeper than
/// the tree puts its two leaves: every key limb gets 192 more levels, which the limb's `POW`
/// (2^levels) and path values cannot tell from the honest walk. The extra levels' path bits are
/// zero, except the deepest one's, which carries the key's bit of the honest split level (whose
/// weight it takes, 2^(q + 192) = 2^q); that level's own bit becomes zero. Path values, remaining
/// keys and masks are then those of the honest table, but the new leaves hang about 800 levels
/// deep, so the new root is another tree's. Only the level count can refuse it.
pub fn deep_split(old_root: &zknode_state::Hash, ops: &[TableOp]) -> Result<Table, TraceError> {
    let last = ops.len().saturating_sub(1);
    let mut edit = |index: usize, pl: &mut Plan| {
        if index != last || pl.kind != OP_SPLIT {
            return;
        }
        let zero = [F::ZERO; 4];
        let depth = pl.levels.len();
        let (_, other_leaf, _, _) = pl.levels[depth - 1];
        let split_bit = pl.bits[depth - 1];
        pl.levels[depth - 1] = (zero, zero, false, true);
        pl.bits[depth - 1] = 0;
        for _ in 0..4 * POW_PERIOD {
            pl.levels.push((zero, zero, false, true));
            pl.bits.push(0);
        }
        let deepest = pl.levels.len() - 1;
        pl.levels[deepest] = (zero, other_leaf, false, true);
        pl.bits[deepest] = split_bit;
    };
    trace::build_planned(old_root, ops, MIN_ROWS, Some(&mut edit))
}
