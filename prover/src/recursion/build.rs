//! The wrap, aggregate and final circuits: how they are built, proved and verified.

use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{anyhow, bail, ensure, Context, Result};
use plonky2::field::types::{Field, Sample};
use plonky2::gates::gate::GateRef;
use plonky2::gates::noop::NoopGate;
use plonky2::hash::hash_types::{HashOut, HashOutTarget};
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::iop::target::{BoolTarget, Target};
use plonky2::iop::witness::{PartialWitness, WitnessWrite};
use plonky2::plonk::circuit_builder::CircuitBuilder;
use plonky2::plonk::circuit_data::{
    CircuitConfig, CircuitData, CommonCircuitData, VerifierCircuitData, VerifierCircuitTarget,
    VerifierOnlyCircuitData,
};
use plonky2::plonk::config::Hasher;
use plonky2::plonk::proof::{ProofWithPublicInputs, ProofWithPublicInputsTarget};
use starky::proof::StarkProofWithPublicInputsTarget;
use starky::recursive_verifier::{
    add_virtual_stark_proof_with_pis, set_stark_proof_with_pis_target, verify_stark_proof_circuit,
};

use super::{
    address_limbs, FinalStatement, RangeStatement, FINAL_FIELDS, MAX_STARK_BITS, MIN_STARK_BITS,
    RANGE_FIELDS,
};
use crate::batch::{self, layout, BatchProof, BatchStark, C, D, F};

pub(super) type Data = CircuitData<F, C, D>;
pub(super) type Common = CommonCircuitData<F, D>;
pub(super) type Vd = VerifierOnlyCircuitData<C, D>;
type Plonky2Proof = ProofWithPublicInputs<F, C, D>;

/// The configuration of every recursive circuit.
pub(super) fn circuit_config() -> CircuitConfig {
    CircuitConfig::standard_recursion_config()
}

/// Public inputs of a wrap or aggregate proof: the range statement, then the aggregate circuit's
/// verifier data (circuit digest, then the constants-sigmas cap).
pub(super) fn recursive_public_inputs() -> usize {
    RANGE_FIELDS + 4 + 4 * circuit_config().fri_config.num_cap_elements()
}

/// Number of wrap circuits.
pub(super) const NUM_WRAPS: usize = MAX_STARK_BITS - MIN_STARK_BITS + 1;

/// Number of leaf circuits the aggregate circuit accepts beside itself: the direct wraps and the
/// rewrap.
const NUM_LEAVES: usize = DIRECT_WRAP_MAX_BITS - MIN_STARK_BITS + 2;

/// The aggregate shape is at least this large (2^13 rows): the direct wraps fit in it.
const MIN_AGGREGATE_BITS: usize = 13;

// ---------------------------------------------------------------------------------------------
// Targets: what each circuit's witness sets. Built by deterministic functions, so the same
// targets come back when circuit data is loaded from the cache instead of built.

pub(super) struct WrapTargets {
    stark: StarkProofWithPublicInputsTarget<D>,
    acc_old: [Target; 4],
    zero: Target,
}

/// A child proof of the aggregate or final circuit and its one-hot kind: index 0 is "aggregate",
/// index `1 + k - MIN_STARK_BITS` is "wrap of a `2^k`-row STARK".
pub(super) struct ChildTargets {
    proof: ProofWithPublicInputsTarget<D>,
    vd: VerifierCircuitTarget,
    select: Vec<BoolTarget>,
}

pub(super) struct AggregateTargets {
    children: [ChildTargets; 2],
    self_vd: VerifierCircuitTarget,
}

pub(super) struct FinalTargets {
    child: ChildTargets,
    aggregator: [Target; 5],
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
fn pad_to(b: &mut CircuitBuilder<F, D>, common: &Common) -> Result<()> {
    let pis = b.num_public_inputs();
    ensure!(
        pis <= common.num_public_inputs,
        "{pis} public inputs do not fit the {} of the recursion shape",
        common.num_public_inputs
    );
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

fn wrap_builder(k: usize, shape: Option<&Common>) -> Result<(CircuitBuilder<F, D>, WrapTargets)> {
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
fn vd_elements<T: Copy>(digest: &[T; 4], cap: &[[T; 4]]) -> Vec<T> {
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

fn aggregate_builder(
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
fn rewrap_builder(
    big_shape: &Common,
    big_names: &[HashOut<F>],
    shape: &Common,
) -> Result<(CircuitBuilder<F, D>, ChildTargets)> {
    let mut b = CircuitBuilder::<F, D>::new(circuit_config());
    let allowed: Vec<_> = big_names.iter().map(|h| b.constant_hash(*h)).collect();
    let (child, s) = add_child(&mut b, big_shape, None, &allowed);
    s.register(&mut b);
    pad_to(&mut b, shape)?;
    Ok((b, child))
}

fn final_builder(
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

// ---------------------------------------------------------------------------------------------
// Building the set.

/// Where circuit data comes from: built, or read from (and written to) the cache.
pub(super) trait Source: Send + Sync {
    /// The circuit data of `name`, whose builder `b` is.
    fn data(&self, name: &str, b: CircuitBuilder<F, D>) -> Result<Data>;
    /// Only the verifier data of `name` (cheap when cached).
    fn verifier(&self, name: &str, b: CircuitBuilder<F, D>) -> Result<Vd> {
        Ok(self.data(name, b)?.verifier_only)
    }
    /// A common circuit data found by `find`, cached under `name`.
    fn shape(&self, name: &str, find: &mut dyn FnMut() -> Result<Common>) -> Result<Common> {
        let _ = name;
        find()
    }
}

pub(super) struct Wrap {
    data: Data,
    targets: WrapTargets,
}

struct Rewrap {
    data: Data,
    child: ChildTargets,
}

struct Aggregate {
    data: Data,
    targets: AggregateTargets,
}

struct Final {
    data: Data,
    targets: FinalTargets,
}

/// The largest STARK (degree bits) whose wrap circuit fits the aggregate shape; wraps of larger
/// ones go through the rewrap circuit.
pub const DIRECT_WRAP_MAX_BITS: usize = 13;

/// The recursion circuits. The aggregate and final circuits are ready at once; a wrap circuit is
/// loaded (or built) the first time a batch proof of its size is wrapped.
pub struct Circuits {
    source: Box<dyn Source>,
    shape: Common,
    big_shape: Common,
    wraps: Vec<OnceLock<Arc<Wrap>>>,
    /// Verifier data of every wrap circuit (the large ones' too), by degree bits from
    /// `MIN_STARK_BITS`.
    wrap_vds: Vec<Vd>,
    rewrap: OnceLock<Arc<Rewrap>>,
    rewrap_vd: Vd,
    aggregate: Aggregate,
    fin: Final,
    load_lock: Mutex<()>,
}

fn union_gates(into: &mut Vec<GateRef<F, D>>, gates: &[GateRef<F, D>]) {
    for g in gates {
        if !into.contains(g) {
            into.push(g.clone());
        }
    }
}

/// A circuit with `pis` public inputs, the gates `gates` and `2^bits` rows: a starting shape.
fn blank_shape(pis: usize, gates: &[GateRef<F, D>], bits: usize) -> Common {
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

impl Circuits {
    /// Builds the circuits, or loads them from `source`. `progress` hears what is being done.
    pub(super) fn assemble(
        source: Box<dyn Source>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Self> {
        // The shape of the large wraps: the largest one's, with the gates of the smallest.
        let mut gates: Vec<GateRef<F, D>> = Vec::new();
        let big_shape = source.shape("shape-large-wrap", &mut || {
            progress("finding the large-wrap shape");
            let mut largest = None;
            for k in [MIN_STARK_BITS, MAX_STARK_BITS] {
                let (b, _) = wrap_builder(k, None)?;
                let common = b.build::<C>().common;
                union_gates(&mut gates, &common.gates);
                largest = Some(common);
            }
            let largest = largest.context("two wraps")?;
            Ok(blank_shape(
                largest.num_public_inputs,
                &gates,
                largest.degree_bits(),
            ))
        })?;
        union_gates(&mut gates, &big_shape.gates);

        // The aggregate shape: the common data of an aggregate circuit that verifies proofs of
        // that same shape, at least as large as the direct wraps need. Iterate to the fixed
        // point from a small start; the leaf names' values do not change the shape.
        let placeholders: Vec<HashOut<F>> = (0..NUM_LEAVES)
            .map(|_| HashOut::from_vec(F::rand_vec(4)))
            .collect();
        let shape = source.shape("shape-aggregate", &mut || {
            progress("finding the aggregate shape");
            let mut shape = blank_shape(recursive_public_inputs(), &gates, MIN_AGGREGATE_BITS);
            for _ in 0..6 {
                let (b, _) = aggregate_builder(&shape, &placeholders, &gates, MIN_AGGREGATE_BITS);
                let next = b.build::<C>().common;
                if next == shape {
                    return Ok(shape);
                }
                shape = next;
            }
            bail!("the aggregate circuit's shape did not settle")
        })?;
        union_gates(&mut gates, &shape.gates);

        let mut wrap_vds = Vec::with_capacity(NUM_WRAPS);
        for k in MIN_STARK_BITS..=MAX_STARK_BITS {
            progress(&format!("wrap circuit for 2^{k}-row batch proofs"));
            let target = if k <= DIRECT_WRAP_MAX_BITS {
                &shape
            } else {
                &big_shape
            };
            let (b, _) = wrap_builder(k, Some(target))?;
            wrap_vds.push(source.verifier(&format!("wrap-{k}"), b)?);
        }
        let big_names: Vec<HashOut<F>> = wrap_vds[DIRECT_WRAP_MAX_BITS + 1 - MIN_STARK_BITS..]
            .iter()
            .map(vd_hash)
            .collect();
        progress("rewrap circuit for large batch proofs");
        let (b, _) = rewrap_builder(&big_shape, &big_names, &shape)?;
        let rewrap_vd = source.verifier("rewrap", b)?;
        let leaf_names = Self::leaf_names(&wrap_vds, &rewrap_vd);

        progress("aggregate circuit");
        let (b, targets) = aggregate_builder(&shape, &leaf_names, &gates, MIN_AGGREGATE_BITS);
        let data = source.data("aggregate", b)?;
        ensure!(
            data.common == shape,
            "the aggregate circuit does not have the shape it verifies"
        );
        let aggregate = Aggregate { data, targets };

        progress("final circuit");
        let vd = &aggregate.data.verifier_only;
        let (b, targets) = final_builder(&shape, vd_hash(vd), vd, &leaf_names);
        let data = source.data("final", b)?;
        ensure!(
            data.common.num_public_inputs == FINAL_FIELDS,
            "the final circuit has {} public inputs",
            data.common.num_public_inputs
        );
        let fin = Final { data, targets };
        Ok(Self {
            source,
            shape,
            big_shape,
            wraps: (0..NUM_WRAPS).map(|_| OnceLock::new()).collect(),
            wrap_vds,
            rewrap: OnceLock::new(),
            rewrap_vd,
            aggregate,
            fin,
            load_lock: Mutex::new(()),
        })
    }

    /// The names (verifier data hashes) of the leaf circuits, in selector order after the
    /// aggregate: the direct wraps by size, then the rewrap.
    fn leaf_names(wrap_vds: &[Vd], rewrap_vd: &Vd) -> Vec<HashOut<F>> {
        let mut names: Vec<_> = wrap_vds[..=DIRECT_WRAP_MAX_BITS - MIN_STARK_BITS]
            .iter()
            .map(vd_hash)
            .collect();
        names.push(vd_hash(rewrap_vd));
        names
    }

    fn check_bits(bits: usize) -> Result<()> {
        ensure!(
            (MIN_STARK_BITS..=MAX_STARK_BITS).contains(&bits),
            "no wrap circuit for a batch proof of 2^{bits} rows (from 2^{MIN_STARK_BITS} to \
             2^{MAX_STARK_BITS})"
        );
        Ok(())
    }

    fn wrap_circuit(&self, bits: usize) -> Result<Arc<Wrap>> {
        Self::check_bits(bits)?;
        let cell = &self.wraps[bits - MIN_STARK_BITS];
        if let Some(w) = cell.get() {
            return Ok(w.clone());
        }
        let _guard = self.load_lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = cell.get() {
            return Ok(w.clone());
        }
        let target = if bits <= DIRECT_WRAP_MAX_BITS {
            &self.shape
        } else {
            &self.big_shape
        };
        let (b, targets) = wrap_builder(bits, Some(target))?;
        let data = self.source.data(&format!("wrap-{bits}"), b)?;
        ensure!(
            data.verifier_only == self.wrap_vds[bits - MIN_STARK_BITS] && data.common == *target,
            "the wrap circuit for 2^{bits} rows is not the one the aggregate circuit accepts \
             (a stale cache?)"
        );
        let w = Arc::new(Wrap { data, targets });
        let _ = cell.set(w.clone());
        Ok(w)
    }

    fn rewrap_circuit(&self) -> Result<Arc<Rewrap>> {
        if let Some(r) = self.rewrap.get() {
            return Ok(r.clone());
        }
        let _guard = self.load_lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = self.rewrap.get() {
            return Ok(r.clone());
        }
        let big_names: Vec<HashOut<F>> = self.wrap_vds[DIRECT_WRAP_MAX_BITS + 1 - MIN_STARK_BITS..]
            .iter()
            .map(vd_hash)
            .collect();
        let (b, child) = rewrap_builder(&self.big_shape, &big_names, &self.shape)?;
        let data = self.source.data("rewrap", b)?;
        ensure!(
            data.verifier_only == self.rewrap_vd && data.common == self.shape,
            "the rewrap circuit is not the one the aggregate circuit accepts (a stale cache?)"
        );
        let r = Arc::new(Rewrap { data, child });
        let _ = self.rewrap.set(r.clone());
        Ok(r)
    }

    /// The aggregate circuit's degree (log2 of its rows).
    pub fn aggregate_degree_bits(&self) -> usize {
        self.aggregate.data.common.degree_bits()
    }

    /// Loads (or builds) every wrap circuit now rather than on first use.
    pub fn load_all(&self) -> Result<()> {
        for k in MIN_STARK_BITS..=MAX_STARK_BITS {
            self.wrap_circuit(k)?;
        }
        self.rewrap_circuit()?;
        Ok(())
    }

    /// The verifier data a leaf proof of this kind is checked against, and its selector index.
    fn leaf(&self, kind: Kind) -> Result<(&Vd, usize)> {
        match kind {
            Kind::Aggregate => Ok((&self.aggregate.data.verifier_only, 0)),
            Kind::Wrap(bits) => {
                Self::check_bits(bits)?;
                if bits <= DIRECT_WRAP_MAX_BITS {
                    Ok((
                        &self.wrap_vds[bits - MIN_STARK_BITS],
                        1 + bits - MIN_STARK_BITS,
                    ))
                } else {
                    Ok((&self.rewrap_vd, NUM_LEAVES))
                }
            }
        }
    }

    /// Wraps a batch proof, with the batch accumulator before it. The batch proof is verified
    /// first; a proof that does not verify is refused.
    pub fn wrap(&self, proof: &BatchProof, acc_old: [u64; 4]) -> Result<RecursiveProof> {
        let statement = proof.verify().context("refusing to wrap a batch proof")?;
        let expected = RangeStatement::of_batch(&statement, acc_old)?;
        let bits = proof
            .proof
            .proof
            .recover_degree_bits(&batch::stark_config());
        let w = self.wrap_circuit(bits)?;
        let mut pw = PartialWitness::new();
        set_stark_proof_with_pis_target(
            &mut pw,
            &w.targets.stark,
            &proof.proof,
            bits,
            w.targets.zero,
        )?;
        for (t, &x) in w.targets.acc_old.iter().zip(&acc_old) {
            pw.set_target(*t, F::from_canonical_u64(x))?;
        }
        let mut out = prove_guarded(&w.data, pw, "wrap")?;
        if bits > DIRECT_WRAP_MAX_BITS {
            let r = self.rewrap_circuit()?;
            let mut pw = PartialWitness::new();
            pw.set_proof_with_pis_target(&r.child.proof, &out)?;
            pw.set_verifier_data_target(&r.child.vd, &w.data.verifier_only)?;
            let index = bits - DIRECT_WRAP_MAX_BITS - 1;
            for (i, s) in r.child.select.iter().enumerate() {
                pw.set_bool_target(*s, i == index)?;
            }
            out = prove_guarded(&r.data, pw, "rewrap")?;
        }
        let got = RangeStatement::from_fields(&out.public_inputs)?;
        ensure!(
            got == expected,
            "the wrap proof states {got:?}, not {expected:?}"
        );
        Ok(RecursiveProof {
            kind: Kind::Wrap(bits),
            proof: out,
        })
    }

    fn set_child(
        &self,
        pw: &mut PartialWitness<F>,
        t: &ChildTargets,
        p: &RecursiveProof,
    ) -> Result<()> {
        let (vd, index) = self.leaf(p.kind)?;
        set_child_as(pw, t, &p.proof, vd, index)
    }

    /// Aggregates two proofs of adjacent ranges into one. Both are verified first, and must
    /// chain.
    pub fn aggregate(
        &self,
        left: &RecursiveProof,
        right: &RecursiveProof,
    ) -> Result<RecursiveProof> {
        let l = self.verify(left).context("the left proof")?;
        let r = self.verify(right).context("the right proof")?;
        let expected = l.then(&r)?;
        let out = self.prove_aggregate(left, right)?;
        let got = out.statement()?;
        ensure!(
            got == expected,
            "the aggregate proof states {got:?}, not {expected:?}"
        );
        Ok(out)
    }

    /// The aggregate circuit's prover, without the checks [`Circuits::aggregate`] makes first:
    /// for tests that show the circuit itself refuses what those checks refuse.
    #[doc(hidden)]
    pub fn prove_aggregate(
        &self,
        left: &RecursiveProof,
        right: &RecursiveProof,
    ) -> Result<RecursiveProof> {
        let (vd, _) = self.leaf(right.kind)?;
        self.prove_aggregate_with(left, &right.proof, vd, right.kind)
    }

    /// For soundness tests: a proof of the recursion shape, from a circuit outside the allowed
    /// set that states `statement` and checks nothing, with that circuit's verifier data. The
    /// proof verifies against its own circuit (checked here), so a recursive verifier that
    /// refuses it does so only because of whose proof it is.
    #[doc(hidden)]
    pub fn foreign_proof(
        &self,
        statement: &RangeStatement,
    ) -> Result<(Plonky2Proof, VerifierOnlyCircuitData<C, D>)> {
        let mut b = CircuitBuilder::<F, D>::new(circuit_config());
        let claimed: Vec<Target> = (0..RANGE_FIELDS).map(|_| b.add_virtual_target()).collect();
        b.register_public_inputs(&claimed);
        pad_to(&mut b, &self.shape)?;
        let data = b.build::<C>();
        ensure!(
            data.common == self.shape,
            "the foreign circuit does not have the recursion shape"
        );
        let mut pw = PartialWitness::new();
        for (t, v) in claimed.iter().zip(statement.to_fields()) {
            pw.set_target(*t, v)?;
        }
        let proof = prove_guarded(&data, pw, "foreign")?;
        verify_guarded(&data.verifier_data(), &proof, "foreign")?;
        Ok((proof, data.verifier_only))
    }

    /// The verifier data a proof of `kind` is checked against.
    #[doc(hidden)]
    pub fn verifier_data_of(&self, kind: Kind) -> Result<VerifierOnlyCircuitData<C, D>> {
        Ok(self.leaf(kind)?.0.clone())
    }

    /// The aggregate circuit's prover on `left` and a right child given with its verifier data
    /// and claimed kind, without any check first: [`Circuits::prove_aggregate`] with the right
    /// child's verifier data its kind's, and soundness tests with a foreign one.
    #[doc(hidden)]
    pub fn prove_aggregate_with(
        &self,
        left: &RecursiveProof,
        right: &Plonky2Proof,
        right_vd: &VerifierOnlyCircuitData<C, D>,
        right_kind: Kind,
    ) -> Result<RecursiveProof> {
        let a = &self.aggregate;
        let (_, index) = self.leaf(right_kind)?;
        let mut pw = PartialWitness::new();
        self.set_child(&mut pw, &a.targets.children[0], left)?;
        set_child_as(&mut pw, &a.targets.children[1], right, right_vd, index)?;
        pw.set_verifier_data_target(&a.targets.self_vd, &a.data.verifier_only)?;
        let out = prove_guarded(&a.data, pw, "aggregate")?;
        Ok(RecursiveProof {
            kind: Kind::Aggregate,
            proof: out,
        })
    }

    /// Verifies a wrap or aggregate proof and returns its statement.
    pub fn verify(&self, p: &RecursiveProof) -> Result<RangeStatement> {
        let (vd, _) = self.leaf(p.kind)?;
        let what = match p.kind {
            Kind::Aggregate => "aggregate",
            Kind::Wrap(_) => "wrap",
        };
        ensure!(
            p.proof.public_inputs.len() == self.shape.num_public_inputs,
            "the {what} proof has {} public inputs, not {}",
            p.proof.public_inputs.len(),
            self.shape.num_public_inputs
        );
        if p.kind == Kind::Aggregate {
            // The verifier data it checked its children against must be this circuit's.
            let cap: Vec<[F; 4]> = vd
                .constants_sigmas_cap
                .0
                .iter()
                .map(|h| h.elements)
                .collect();
            let own = vd_elements(&vd.circuit_digest.elements, &cap);
            ensure!(
                p.proof.public_inputs[RANGE_FIELDS..] == own[..],
                "the aggregate proof names other verifier data than this aggregate circuit's"
            );
        }
        let data = VerifierCircuitData {
            verifier_only: vd.clone(),
            common: self.shape.clone(),
        };
        verify_guarded(&data, &p.proof, what)?;
        RangeStatement::from_fields(&p.proof.public_inputs)
    }

    /// The final proof of a wrap or aggregate, bound to the aggregator's address.
    pub fn finalize(&self, p: &RecursiveProof, aggregator: [u8; 20]) -> Result<FinalProof> {
        let range = self.verify(p).context("refusing to finalize")?;
        let f = &self.fin;
        let mut pw = PartialWitness::new();
        self.set_child(&mut pw, &f.targets.child, p)?;
        for (t, x) in f.targets.aggregator.iter().zip(address_limbs(&aggregator)) {
            pw.set_target(*t, F::from_canonical_u64(x))?;
        }
        let out = prove_guarded(&f.data, pw, "final")?;
        let expected = FinalStatement { range, aggregator };
        let got = FinalStatement::from_fields(&out.public_inputs)?;
        ensure!(
            got == expected,
            "the final proof states {got:?}, not {expected:?}"
        );
        Ok(FinalProof { proof: out })
    }

    /// Verifies a final proof and returns its statement.
    pub fn verify_final(&self, p: &FinalProof) -> Result<FinalStatement> {
        ensure!(
            p.proof.public_inputs.len() == FINAL_FIELDS,
            "the final proof has {} public inputs, not {FINAL_FIELDS}",
            p.proof.public_inputs.len()
        );
        verify_guarded(&self.fin.data.verifier_data(), &p.proof, "final")?;
        FinalStatement::from_fields(&p.proof.public_inputs)
    }

    /// The final circuit's verifier data: what a settlement verifier needs.
    pub fn final_verifier_data(&self) -> VerifierCircuitData<F, C, D> {
        self.fin.data.verifier_data()
    }

    /// Reads a wrap or aggregate proof from its bytes (see [`RecursiveProof::to_bytes`]).
    pub fn read_recursive(&self, b: &[u8]) -> Result<RecursiveProof> {
        let rest = crate::envelope::open(b, RECURSIVE_MAGIC, "recursive proof", FORMAT_VERSION)?;
        let (&tag, body) = rest.split_first().context("the recursive proof is empty")?;
        let kind = match tag {
            0 => Kind::Aggregate,
            bits => {
                Self::check_bits(bits as usize)?;
                Kind::Wrap(bits as usize)
            }
        };
        let proof = read_guarded(body, &self.shape, "recursive proof")?;
        Ok(RecursiveProof { kind, proof })
    }

    /// Reads a final proof from its bytes (see [`FinalProof::to_bytes`]).
    pub fn read_final(&self, b: &[u8]) -> Result<FinalProof> {
        let body = crate::envelope::open(b, FINAL_MAGIC, "final proof", FORMAT_VERSION)?;
        let proof = read_guarded(body, &self.fin.data.common, "final proof")?;
        Ok(FinalProof { proof })
    }
}

/// plonky2's prover panics on a witness that breaks a constraint it checks while generating; a
/// refused witness is an error here.
/// Sets a child's proof, verifier data and one-hot kind selector.
fn set_child_as(
    pw: &mut PartialWitness<F>,
    t: &ChildTargets,
    proof: &Plonky2Proof,
    vd: &Vd,
    index: usize,
) -> Result<()> {
    pw.set_proof_with_pis_target(&t.proof, proof)?;
    pw.set_verifier_data_target(&t.vd, vd)?;
    for (i, s) in t.select.iter().enumerate() {
        pw.set_bool_target(*s, i == index)?;
    }
    Ok(())
}

fn prove_guarded(data: &Data, pw: PartialWitness<F>, what: &str) -> Result<Plonky2Proof> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| data.prove(pw))) {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(anyhow!("the {what} circuit refused its witness: {e}")),
        Err(_) => bail!("the {what} circuit refused its witness (a constraint does not hold)"),
    }
}

fn verify_guarded(data: &VerifierCircuitData<F, C, D>, p: &Plonky2Proof, what: &str) -> Result<()> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| data.verify(p.clone()))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(anyhow!("the {what} proof does not verify: {e}")),
        Err(_) => bail!("the {what} proof is malformed (the verifier could not read it)"),
    }
}

fn read_guarded(b: &[u8], common: &Common, what: &str) -> Result<Plonky2Proof> {
    let bytes = b.to_vec();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ProofWithPublicInputs::<F, C, D>::from_bytes(bytes, common)
    })) {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(anyhow!("the {what} is malformed: {e}")),
        Err(_) => bail!("the {what} is malformed"),
    }
}

const RECURSIVE_MAGIC: &[u8; 4] = b"ZKRP";
const FINAL_MAGIC: &[u8; 4] = b"ZKFP";
const FORMAT_VERSION: u32 = 1;

/// Which circuit a recursive proof is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A wrap of a batch STARK of `2^bits` rows.
    Wrap(usize),
    Aggregate,
}

/// A wrap or aggregate proof.
#[derive(Clone, Debug)]
pub struct RecursiveProof {
    pub kind: Kind,
    pub proof: Plonky2Proof,
}

impl RecursiveProof {
    /// Magic `ZKRP`, format version, the kind (0 for aggregate, else the wrapped STARK's degree
    /// bits), then plonky2's proof bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = crate::envelope::seal(RECURSIVE_MAGIC, FORMAT_VERSION);
        out.push(match self.kind {
            Kind::Aggregate => 0,
            Kind::Wrap(bits) => bits as u8,
        });
        out.extend(self.proof.to_bytes());
        out
    }

    /// The statement in its public inputs, unverified.
    pub fn statement(&self) -> Result<RangeStatement> {
        RangeStatement::from_fields(&self.proof.public_inputs)
    }
}

/// A final proof: what the settlement step sends to L1.
#[derive(Clone, Debug)]
pub struct FinalProof {
    pub proof: Plonky2Proof,
}

impl FinalProof {
    /// Magic `ZKFP`, format version, then plonky2's proof bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = crate::envelope::seal(FINAL_MAGIC, FORMAT_VERSION);
        out.extend(self.proof.to_bytes());
        out
    }

    /// The statement in its public inputs, unverified.
    pub fn statement(&self) -> Result<FinalStatement> {
        FinalStatement::from_fields(&self.proof.public_inputs)
    }
}
