//! The recursion circuits as one set ([`Circuits`]): the aggregate and final circuits built (or
//! loaded) at once, each wrap circuit on first use, and the checks that what a cache gives back
//! is what the aggregate circuit accepts.

use std::sync::{Arc, Mutex, OnceLock};

use plonky2::field::types::Sample;
use plonky2::gates::gate::GateRef;
use plonky2::hash::hash_types::HashOut;
use plonky2::plonk::circuit_builder::CircuitBuilder;

use super::build::{
    aggregate_builder, blank_shape, final_builder, recursive_public_inputs, rewrap_builder,
    union_gates, vd_hash, wrap_builder, AggregateTargets, ChildTargets, Common, Data, FinalTargets,
    Vd, WrapTargets, DIRECT_WRAP_MAX_BITS, MIN_AGGREGATE_BITS, NUM_LEAVES, NUM_WRAPS,
};
use super::{Kind, RecursionError, FINAL_FIELDS, MAX_STARK_BITS, MIN_STARK_BITS};
use crate::batch::{C, D, F};

/// Where circuit data comes from: built, or read from (and written to) the cache.
pub(super) trait Source: Send + Sync {
    /// The circuit data of `name`, whose builder `b` is.
    fn data(&self, name: &str, b: CircuitBuilder<F, D>) -> Result<Data, RecursionError>;
    /// Only the verifier data of `name` (cheap when cached).
    fn verifier(&self, name: &str, b: CircuitBuilder<F, D>) -> Result<Vd, RecursionError> {
        Ok(self.data(name, b)?.verifier_only)
    }
    /// A common circuit data found by `find`, cached under `name`.
    fn shape(
        &self,
        name: &str,
        find: &mut dyn FnMut() -> Result<Common, RecursionError>,
    ) -> Result<Common, RecursionError> {
        let _ = name;
        find()
    }
}

pub(super) struct Wrap {
    pub(super) data: Data,
    pub(super) targets: WrapTargets,
}

pub(super) struct Rewrap {
    pub(super) data: Data,
    pub(super) child: ChildTargets,
}

pub(super) struct Aggregate {
    pub(super) data: Data,
    pub(super) targets: AggregateTargets,
}

pub(super) struct Final {
    pub(super) data: Data,
    pub(super) targets: FinalTargets,
}

/// The recursion circuits. The aggregate and final circuits are ready at once; a wrap circuit is
/// loaded (or built) the first time a batch proof of its size is wrapped.
pub struct Circuits {
    source: Box<dyn Source>,
    pub(super) shape: Common,
    big_shape: Common,
    wraps: Vec<OnceLock<Arc<Wrap>>>,
    /// Verifier data of every wrap circuit (the large ones' too), by degree bits from
    /// `MIN_STARK_BITS`.
    wrap_vds: Vec<Vd>,
    rewrap: OnceLock<Arc<Rewrap>>,
    rewrap_vd: Vd,
    pub(super) aggregate: Aggregate,
    pub(super) fin: Final,
    load_lock: Mutex<()>,
}

impl Circuits {
    /// Builds the circuits, or loads them from `source`. `progress` hears what is being done.
    pub(super) fn assemble(
        source: Box<dyn Source>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Self, RecursionError> {
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
            let largest = largest
                .ok_or_else(|| RecursionError::Circuit("no wrap circuit was built".into()))?;
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
            Err(RecursionError::Circuit(
                "the aggregate circuit's shape did not settle".into(),
            ))
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
        if data.common != shape {
            return Err(RecursionError::Circuit(
                "the aggregate circuit does not have the shape it verifies".into(),
            ));
        }
        let aggregate = Aggregate { data, targets };

        progress("final circuit");
        let vd = &aggregate.data.verifier_only;
        let (b, targets) = final_builder(&shape, vd_hash(vd), vd, &leaf_names);
        let data = source.data("final", b)?;
        if data.common.num_public_inputs != FINAL_FIELDS {
            return Err(RecursionError::Circuit(format!(
                "the final circuit has {} public inputs, not {FINAL_FIELDS}",
                data.common.num_public_inputs
            )));
        }
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

    pub(super) fn check_bits(bits: usize) -> Result<(), RecursionError> {
        if (MIN_STARK_BITS..=MAX_STARK_BITS).contains(&bits) {
            Ok(())
        } else {
            Err(RecursionError::UnsupportedSize { bits })
        }
    }

    pub(super) fn wrap_circuit(&self, bits: usize) -> Result<Arc<Wrap>, RecursionError> {
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
        if data.verifier_only != self.wrap_vds[bits - MIN_STARK_BITS] || data.common != *target {
            return Err(RecursionError::StaleCircuit {
                circuit: format!("wrap circuit for 2^{bits} rows"),
            });
        }
        let w = Arc::new(Wrap { data, targets });
        let _ = cell.set(w.clone());
        Ok(w)
    }

    pub(super) fn rewrap_circuit(&self) -> Result<Arc<Rewrap>, RecursionError> {
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
        if data.verifier_only != self.rewrap_vd || data.common != self.shape {
            return Err(RecursionError::StaleCircuit {
                circuit: "rewrap circuit".into(),
            });
        }
        let r = Arc::new(Rewrap { data, child });
        let _ = self.rewrap.set(r.clone());
        Ok(r)
    }

    /// The aggregate circuit's degree (log2 of its rows).
    pub fn aggregate_degree_bits(&self) -> usize {
        self.aggregate.data.common.degree_bits()
    }

    /// Loads (or builds) every wrap circuit now rather than on first use.
    pub fn load_all(&self) -> Result<(), RecursionError> {
        for k in MIN_STARK_BITS..=MAX_STARK_BITS {
            self.wrap_circuit(k)?;
        }
        self.rewrap_circuit()?;
        Ok(())
    }

    /// The verifier data a leaf proof of this kind is checked against, and its selector index.
    pub(super) fn leaf(&self, kind: Kind) -> Result<(&Vd, usize), RecursionError> {
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
}
