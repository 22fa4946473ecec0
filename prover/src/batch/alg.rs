//! One description of the constraints for two evaluators: packed field values (the prover's
//! quotient and the native verifier) and extension targets in a plonky2 circuit (the recursive
//! verifier). Writing the AIR once against [`Alg`] keeps the two from drifting apart: starky
//! requires them to emit the same constraints in the same order.

use plonky2::field::extension::Extendable;
use plonky2::field::goldilocks_field::GoldilocksField as Gl;
use plonky2::field::packed::PackedField;
use plonky2::field::types::Field;
use plonky2::hash::hash_types::RichField;
use plonky2::iop::ext_target::ExtensionTarget;
use plonky2::plonk::circuit_builder::CircuitBuilder;
use starky::constraint_consumer::{ConstraintConsumer, RecursiveConstraintConsumer};

/// Arithmetic over constraint expressions, and the four kinds of constraint starky knows.
pub trait Alg {
    type E: Copy;
    fn add(&mut self, a: Self::E, b: Self::E) -> Self::E;
    fn sub(&mut self, a: Self::E, b: Self::E) -> Self::E;
    fn mul(&mut self, a: Self::E, b: Self::E) -> Self::E;
    /// A constant of the base field, given canonically.
    fn constant(&mut self, c: u64) -> Self::E;
    /// `c·a` for a base-field constant `c`.
    fn scale(&mut self, c: u64, a: Self::E) -> Self::E;
    /// Holds on every row.
    fn on_all(&mut self, e: Self::E);
    /// Holds between every row and the next (not from the last row to the first).
    fn on_transition(&mut self, e: Self::E);
    fn on_first(&mut self, e: Self::E);
    fn on_last(&mut self, e: Self::E);
    /// Names the constraints that follow (for the constraint map); evaluators ignore it.
    fn section(&mut self, _name: &'static str) {}

    fn one(&mut self) -> Self::E {
        self.constant(1)
    }
    fn zero(&mut self) -> Self::E {
        self.constant(0)
    }
    /// `1 - a`.
    fn not(&mut self, a: Self::E) -> Self::E {
        let one = self.one();
        self.sub(one, a)
    }
    /// The sum of many terms.
    fn sum(&mut self, terms: impl IntoIterator<Item = Self::E>) -> Self::E {
        let mut acc = self.zero();
        for t in terms {
            acc = self.add(acc, t);
        }
        acc
    }
    /// `a^7`, Poseidon's S-box.
    fn pow7(&mut self, a: Self::E) -> Self::E {
        let a2 = self.mul(a, a);
        let a3 = self.mul(a2, a);
        let a4 = self.mul(a2, a2);
        self.mul(a3, a4)
    }
    /// `a·(1 - a)`: zero exactly when `a` is a bit.
    fn bit(&mut self, a: Self::E) -> Self::E {
        let n = self.not(a);
        self.mul(a, n)
    }
}

/// Evaluation on packed values, for the prover and the native verifier.
pub struct Packed<'a, P: PackedField> {
    pub cc: &'a mut ConstraintConsumer<P>,
}

impl<P: PackedField> Alg for Packed<'_, P> {
    type E = P;
    #[inline]
    fn add(&mut self, a: P, b: P) -> P {
        a + b
    }
    #[inline]
    fn sub(&mut self, a: P, b: P) -> P {
        a - b
    }
    #[inline]
    fn mul(&mut self, a: P, b: P) -> P {
        a * b
    }
    #[inline]
    fn constant(&mut self, c: u64) -> P {
        P::from(P::Scalar::from_canonical_u64(c))
    }
    #[inline]
    fn scale(&mut self, c: u64, a: P) -> P {
        a * P::Scalar::from_canonical_u64(c)
    }
    #[inline]
    fn on_all(&mut self, e: P) {
        self.cc.constraint(e)
    }
    #[inline]
    fn on_transition(&mut self, e: P) {
        self.cc.constraint_transition(e)
    }
    #[inline]
    fn on_first(&mut self, e: P) {
        self.cc.constraint_first_row(e)
    }
    #[inline]
    fn on_last(&mut self, e: P) {
        self.cc.constraint_last_row(e)
    }
}

/// Evaluation inside a plonky2 circuit, for starky's recursive verifier.
pub struct Circuit<'a, F: RichField + Extendable<D>, const D: usize> {
    pub b: &'a mut CircuitBuilder<F, D>,
    pub cc: &'a mut RecursiveConstraintConsumer<F, D>,
}

impl<F: RichField + Extendable<D>, const D: usize> Alg for Circuit<'_, F, D> {
    type E = ExtensionTarget<D>;
    fn add(&mut self, a: Self::E, b: Self::E) -> Self::E {
        self.b.add_extension(a, b)
    }
    fn sub(&mut self, a: Self::E, b: Self::E) -> Self::E {
        self.b.sub_extension(a, b)
    }
    fn mul(&mut self, a: Self::E, b: Self::E) -> Self::E {
        self.b.mul_extension(a, b)
    }
    fn constant(&mut self, c: u64) -> Self::E {
        self.b
            .constant_extension(F::Extension::from_canonical_u64(c))
    }
    fn scale(&mut self, c: u64, a: Self::E) -> Self::E {
        self.b.mul_const_extension(F::from_canonical_u64(c), a)
    }
    fn on_all(&mut self, e: Self::E) {
        self.cc.constraint(self.b, e)
    }
    fn on_transition(&mut self, e: Self::E) {
        self.cc.constraint_transition(self.b, e)
    }
    fn on_first(&mut self, e: Self::E) {
        self.cc.constraint_first_row(self.b, e)
    }
    fn on_last(&mut self, e: Self::E) {
        self.cc.constraint_last_row(self.b, e)
    }
}

/// Direct evaluation on one pair of rows that keeps every constraint's value with the section
/// it belongs to: what the table check, the constraint map (`docs/batch-constraints.md`) and
/// the AIR fingerprint are computed from. A constraint that does not apply to the pair (a
/// transition from the last row, a boundary elsewhere) records zero.
pub struct Record {
    first: bool,
    last: bool,
    section: &'static str,
    pub values: Vec<(&'static str, Gl)>,
}

impl Record {
    pub fn new(first: bool, last: bool) -> Self {
        Self {
            first,
            last,
            section: "",
            values: Vec::new(),
        }
    }

    fn record(&mut self, e: Gl, applies: bool) {
        let e = if applies { e } else { Gl::ZERO };
        self.values.push((self.section, e));
    }
}

impl Alg for Record {
    type E = Gl;
    fn add(&mut self, a: Self::E, b: Self::E) -> Self::E {
        a + b
    }
    fn sub(&mut self, a: Self::E, b: Self::E) -> Self::E {
        a - b
    }
    fn mul(&mut self, a: Self::E, b: Self::E) -> Self::E {
        a * b
    }
    fn constant(&mut self, c: u64) -> Self::E {
        Self::E::from_canonical_u64(c)
    }
    fn scale(&mut self, c: u64, a: Self::E) -> Self::E {
        a * Self::E::from_canonical_u64(c)
    }
    fn on_all(&mut self, e: Self::E) {
        self.record(e, true)
    }
    fn on_transition(&mut self, e: Self::E) {
        let applies = !self.last;
        self.record(e, applies)
    }
    fn on_first(&mut self, e: Self::E) {
        let applies = self.first;
        self.record(e, applies)
    }
    fn on_last(&mut self, e: Self::E) {
        let applies = self.last;
        self.record(e, applies)
    }
    fn section(&mut self, name: &'static str) {
        self.section = name;
    }
}
