//! How the wrap, aggregate, rewrap and final circuits are built: their configuration and shapes,
//! the targets each circuit's witness sets, and the builders themselves. Building is
//! deterministic, so a circuit loaded from the cache comes with the same targets as one built.

use plonky2::field::types::Field;
use plonky2::gates::gate::GateRef;
use plonky2::gates::noop::NoopGate;
use plonky2::hash::hash_types::{HashOut, HashOutTarget};
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::iop::target::{BoolTarget, Target};
use plonky2::plonk::circuit_builder::CircuitBuilder;
use plonky2::plonk::circuit_data::{
    CircuitConfig, CircuitData, CommonCircuitData, VerifierCircuitTarget, VerifierOnlyCircuitData,
};
use plonky2::plonk::config::Hasher;
use plonky2::plonk::proof::{ProofWithPublicInputs, ProofWithPublicInputsTarget};
use starky::proof::StarkProofWithPublicInputsTarget;
use starky::recursive_verifier::{add_virtual_stark_proof_with_pis, verify_stark_proof_circuit};

use super::{RecursionError, MAX_STARK_BITS, MIN_STARK_BITS, RANGE_FIELDS};
use crate::batch::{self, layout, BatchStark, C, D, F};

pub(super) type Data = CircuitData<F, C, D>;
pub(super) type Common = CommonCircuitData<F, D>;
pub(super) type Vd = VerifierOnlyCircuitData<C, D>;
pub(super) type Plonky2Proof = ProofWithPublicInputs<F, C, D>;

/// The configuration of every recursive circuit.
pub(super) fn circuit_config() -> CircuitConfig {
    CircuitConfig::standard_recursion_config()
}

/// Public inputs of a wrap or aggregate proof: the range statement, then the aggregate circuit's
/// verifier data (circuit digest, then the constants-sigmas cap).
pub(super) fn recursive_public_inputs() -> usize {
    RANGE_FIELDS + 4 + 4 * circuit_config().fri_config.num_cap_elements()
}

/// The largest STARK (degree bits) whose wrap circuit fits the aggregate shape; wraps of larger
/// ones go through the rewrap circuit.
pub const DIRECT_WRAP_MAX_BITS: usize = 13;
/// Number of wrap circuits.
pub(super) const NUM_WRAPS: usize = MAX_STARK_BITS - MIN_STARK_BITS + 1;

/// Number of leaf circuits the aggregate circuit accepts beside itself: the direct wraps and the
/// rewrap.
pub(super) const NUM_LEAVES: usize = DIRECT_WRAP_MAX_BITS - MIN_STARK_BITS + 2;

/// The aggregate shape is at least this large (2^13 rows): the direct wraps fit in it.
pub(super) const MIN_AGGREGATE_BITS: usize = 13;

// ---------------------------------------------------------------------------------------------
// Targets: what each circuit's witness sets. Built by deterministic functions, so the same
// targets come back when circuit data is loaded from the cache instead of built.

pub(super) struct WrapTargets {
    pub(super) stark: StarkProofWithPublicInputsTarget<D>,
    pub(super) acc_old: [Target; 4],
    pub(super) zero: Target,
}

/// A child proof of the aggregate or final circuit and its one-hot kind: index 0 is "aggregate",
/// index `1 + k - MIN_STARK_BITS` is "wrap of a `2^k`-row STARK".
pub(super) struct ChildTargets {
    pub(super) proof: ProofWithPublicInputsTarget<D>,
    pub(super) vd: VerifierCircuitTarget,
    pub(super) select: Vec<BoolTarget>,
}

pub(super) struct AggregateTargets {
    pub(super) children: [ChildTargets; 2],
    pub(super) self_vd: VerifierCircuitTarget,
}

pub(super) struct FinalTargets {
    pub(super) child: ChildTargets,
    pub(super) aggregator: [Target; 5],
}

/// The statement fields of a child proof's public inputs.
struct ChildStatement {
    first: Target,
    last: Target,
    old_root: [Target; 4],
    new_root: [Target; 4],
    acc_old: [Target; 4],
    acc_new: [Target; 4],
}

impl ChildStatement {
    fn of(pis: &[Target]) -> Self {
        let four = |at: usize| -> [Target; 4] { core::array::from_fn(|i| pis[at + i]) };
        Self {
            first: pis[0],
            last: pis[1],
            old_root: four(2),
            new_root: four(6),
            acc_old: four(10),
            acc_new: four(14),
        }
    }

    fn register(&self, b: &mut CircuitBuilder<F, D>) {
        b.register_public_input(self.first);
        b.register_public_input(self.last);
        for limbs in [&self.old_root, &self.new_root, &self.acc_old, &self.acc_new] {
            b.register_public_inputs(limbs);
        }
    }
}

/// Pads a builder to `common`'s shape: its public input count, gate set and degree.
pub(super) fn pad_to(b: &mut CircuitBuilder<F, D>, common: &Common) -> Result<(), RecursionError> {
    let pis = b.num_public_inputs();
    if pis > common.num_public_inputs {
        return Err(RecursionError::Circuit(format!(
            "{pis} public inputs do not fit the {} of the recursion shape",
            common.num_public_inputs
        )));
    }
    let zero = b.zero();
    for _ in pis..common.num_public_inputs {
        b.register_public_input(zero);
    }
    for g in &common.gates {
        b.add_gate_to_gate_set(g.clone());
    }
    pad_degree(b, common.degree_bits());
    Ok(())
}

/// Adds no-op gates so that the built circuit has at least `2^bits` rows (building adds a few
/// gates of its own and rounds up to a power of two).
fn pad_degree(b: &mut CircuitBuilder<F, D>, bits: usize) {
    while b.num_gates() < (1 << (bits - 1)) + 1 {
        b.add_gate(NoopGate, vec![]);
    }
}

pub(super) fn wrap_builder(
    k: usize,
    shape: Option<&Common>,
) -> Result<(CircuitBuilder<F, D>, WrapTargets), RecursionError> {
    let config = batch::stark_config();
    let mut b = CircuitBuilder::<F, D>::new(circuit_config());
    let stark = add_virtual_stark_proof_with_pis(&mut b, &BatchStark, &config, k, 0, 0);
    verify_stark_proof_circuit::<F, C, BatchStark, D>(
        &mut b,
        BatchStark,
        stark.clone(),
        &config,
        None,
    );
    let pis = &stark.public_inputs;
    let four = |at: usize| -> [Target; 4] { core::array::from_fn(|i| pis[at + i]) };
    let (lo, hi) = (pis[layout::PI_BATCH], pis[layout::PI_BATCH + 1]);
    // The batch number as one field element: lo + 2^32 hi with lo < 2^32 and hi < 2^31, so
    // distinct numbers stay distinct and adding one never wraps.
    b.range_check(lo, 32);
    b.range_check(hi, 31);
    let number = b.mul_const_add(F::from_canonical_u64(1 << 32), hi, lo);
    let acc_old: [Target; 4] = core::array::from_fn(|_| b.add_virtual_target());
    let mut input = acc_old.to_vec();
    input.extend(four(layout::PI_OPS));
    input.extend(four(layout::PI_DATA));
    input.push(number);
    let acc_new = b.hash_n_to_hash_no_pad::<PoseidonHash>(input).elements;
    ChildStatement {
        first: number,
        last: number,
        old_root: four(layout::PI_OLD_ROOT),
        new_root: four(layout::PI_NEW_ROOT),
        acc_old,
        acc_new,
    }
    .register(&mut b);
    let zero = b.zero();
    if let Some(shape) = shape {
        pad_to(&mut b, shape)?;
    }
    Ok((
        b,
        WrapTargets {
            stark,
            acc_old,
            zero,
        },
    ))
}

/// The verifier data elements in public-input order: circuit digest, then the cap.
pub(super) fn vd_elements<T: Copy>(digest: &[T; 4], cap: &[[T; 4]]) -> Vec<T> {
    let mut v = digest.to_vec();
    for h in cap {
        v.extend_from_slice(h);
    }
    v
}

fn vd_target_elements(vd: &VerifierCircuitTarget) -> Vec<Target> {
    let cap: Vec<[Target; 4]> = vd
        .constants_sigmas_cap
        .0
        .iter()
        .map(|h| h.elements)
        .collect();
    vd_elements(&vd.circuit_digest.elements, &cap)
}

/// The hash that names a circuit among the allowed ones: Poseidon over its verifier data.
pub(super) fn vd_hash(vd: &Vd) -> HashOut<F> {
    let cap: Vec<[F; 4]> = vd
        .constants_sigmas_cap
        .0
        .iter()
        .map(|h| h.elements)
        .collect();
    PoseidonHash::hash_no_pad(&vd_elements(&vd.circuit_digest.elements, &cap))
}

/// Adds a child proof of `shape` with free verifier data, verifies it, and requires that the
/// verifier data hash to one of `allowed` (picked by a one-hot selector). When `own` is given
/// (the verifier data of the aggregate circuit), the child may be an aggregate: selector 0,
/// whose allowed hash is `own`'s, and then its own verifier-data public inputs must equal
/// `own` too, since it checked its children against them.
fn add_child(
    b: &mut CircuitBuilder<F, D>,
    shape: &Common,
    own: Option<&VerifierCircuitTarget>,
    allowed: &[HashOutTarget],
) -> (ChildTargets, ChildStatement) {
    let proof = b.add_virtual_proof_with_pis(shape);
    let vd = b.add_virtual_verifier_data(shape.config.fri_config.cap_height);
    let select: Vec<BoolTarget> = (0..allowed.len())
        .map(|_| b.add_virtual_bool_target_safe())
        .collect();
    let sum = b.add_many(select.iter().map(|s| s.target));
    let one = b.one();
    b.connect(sum, one);
    let name = b.hash_n_to_hash_no_pad::<PoseidonHash>(vd_target_elements(&vd));
    for e in 0..4 {
        let mut acc = b.zero();
        for (s, h) in select.iter().zip(allowed) {
            acc = b.mul_add(s.target, h.elements[e], acc);
        }
        b.connect(acc, name.elements[e]);
    }
    b.verify_proof::<C>(&proof, &vd, shape);

    let pis = &proof.public_inputs;
    if let Some(own) = own {
        for (i, t) in vd_target_elements(own).into_iter().enumerate() {
            let d = b.sub(pis[RANGE_FIELDS + i], t);
            let gated = b.mul(d, select[0].target);
            b.assert_zero(gated);
        }
    }
    let statement = ChildStatement::of(pis);
    (ChildTargets { proof, vd, select }, statement)
}

pub(super) fn aggregate_builder(
    shape: &Common,
    leaf_names: &[HashOut<F>],
    extra_gates: &[GateRef<F, D>],
    min_bits: usize,
) -> (CircuitBuilder<F, D>, AggregateTargets) {
    let mut b = CircuitBuilder::<F, D>::new(circuit_config());
    // The aggregate's own verifier data, as targets first; they become public inputs (the last
    // ones) once the statement is registered.
    let self_vd = b.add_virtual_verifier_data(shape.config.fri_config.cap_height);
    let own_name = b.hash_n_to_hash_no_pad::<PoseidonHash>(vd_target_elements(&self_vd));
    let mut allowed = vec![own_name];
    allowed.extend(leaf_names.iter().map(|h| b.constant_hash(*h)));
    let (left, l) = add_child(&mut b, shape, Some(&self_vd), &allowed);
    let (right, r) = add_child(&mut b, shape, Some(&self_vd), &allowed);

    // They chain.
    let next = b.add_const(l.last, F::ONE);
    b.connect(next, r.first);
    for i in 0..4 {
        b.connect(l.new_root[i], r.old_root[i]);
        b.connect(l.acc_new[i], r.acc_old[i]);
    }
    ChildStatement {
        first: l.first,
        last: r.last,
        old_root: l.old_root,
        new_root: r.new_root,
        acc_old: l.acc_old,
        acc_new: r.acc_new,
    }
    .register(&mut b);
    b.register_public_inputs(&vd_target_elements(&self_vd));
    for g in extra_gates {
        b.add_gate_to_gate_set(g.clone());
    }
    pad_degree(&mut b, min_bits);
    (
        b,
        AggregateTargets {
            children: [left, right],
            self_vd,
        },
    )
}

/// The circuit that carries a wrap of a large STARK (whose wrap circuit does not fit the
/// aggregate shape) into the aggregate shape: it verifies a proof of the large-wrap shape whose
/// verifier data is one of the large wrap circuits', and states what it states.
pub(super) fn rewrap_builder(
    big_shape: &Common,
    big_names: &[HashOut<F>],
    shape: &Common,
) -> Result<(CircuitBuilder<F, D>, ChildTargets), RecursionError> {
    let mut b = CircuitBuilder::<F, D>::new(circuit_config());
    let allowed: Vec<_> = big_names.iter().map(|h| b.constant_hash(*h)).collect();
    let (child, s) = add_child(&mut b, big_shape, None, &allowed);
    s.register(&mut b);
    pad_to(&mut b, shape)?;
    Ok((b, child))
}

pub(super) fn final_builder(
    shape: &Common,
    aggregate_name: HashOut<F>,
    aggregate_vd: &Vd,
    leaf_names: &[HashOut<F>],
) -> (CircuitBuilder<F, D>, FinalTargets) {
    let mut b = CircuitBuilder::<F, D>::new(circuit_config());
    let own = VerifierCircuitTarget {
        constants_sigmas_cap: b.constant_merkle_cap(&aggregate_vd.constants_sigmas_cap),
        circuit_digest: b.constant_hash(aggregate_vd.circuit_digest),
    };
    let mut allowed = vec![b.constant_hash(aggregate_name)];
    allowed.extend(leaf_names.iter().map(|h| b.constant_hash(*h)));
    let (child, s) = add_child(&mut b, shape, Some(&own), &allowed);
    s.register(&mut b);
    let aggregator: [Target; 5] = core::array::from_fn(|_| b.add_virtual_target());
    for &t in &aggregator {
        b.range_check(t, 32);
    }
    b.register_public_inputs(&aggregator);
    (b, FinalTargets { child, aggregator })
}

pub(super) fn union_gates(into: &mut Vec<GateRef<F, D>>, gates: &[GateRef<F, D>]) {
    for g in gates {
        if !into.contains(g) {
            into.push(g.clone());
        }
    }
}

/// A circuit with `pis` public inputs, the gates `gates` and `2^bits` rows: a starting shape.
pub(super) fn blank_shape(pis: usize, gates: &[GateRef<F, D>], bits: usize) -> Common {
    let mut b = CircuitBuilder::<F, D>::new(circuit_config());
    for _ in 0..pis {
        b.add_virtual_public_input();
    }
    for g in gates {
        b.add_gate_to_gate_set(g.clone());
    }
    pad_degree(&mut b, bits);
    b.build::<C>().common
}
