//! Builds the batch table from the operations of a witness. Every operation is checked against
//! the running root first, so a bad witness is refused with the operation's index and never
//! reaches the prover.

use plonky2::field::goldilocks_field::GoldilocksField as F;
use plonky2::field::types::{Field, PrimeField64};
use ruint::aliases::U256;
use zknode_state::keys::{key as derive_key, LeafType};
use zknode_state::smt::hash::{branch_hash, value_hash, value_limbs};
use zknode_state::{Hash, SiblingNode, UpdateKind, UpdateProof};

use super::layout::*;
use super::poseidon::fill_lane;

/// One state operation as the table needs it: what the key was derived from, and the proof of
/// the write against the running root.
#[derive(Clone, Debug)]
pub struct TableOp {
    pub address: [u8; 20],
    pub leaf_type: u8,
    pub slot: U256,
    pub proof: UpdateProof,
}

/// Why a witness cannot be proved.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("operation {index}: {msg}")]
    Op { index: usize, msg: String },
}

/// The table and the values its public inputs must carry.
pub struct Table {
    /// Rows of [`NUM_COLUMNS`] cells, row-major, padded to a power of two.
    pub cells: Vec<F>,
    pub rows: usize,
    pub used_rows: usize,
    pub old_root: [F; 4],
    pub new_root: [F; 4],
    pub ops_commitment: [F; 4],
}

fn f(x: zknode_kernels::Goldilocks) -> F {
    F::from_canonical_u64(x.value())
}
fn f4(h: &Hash) -> [F; 4] {
    h.0.map(f)
}
fn u4(x: [F; 4]) -> [u64; 4] {
    x.map(|v| v.to_canonical_u64())
}

/// Levels below depth `n` that take their bit from limb `j`.
fn levels_in_limb(n: usize, j: usize) -> usize {
    if n > j {
        (n - j).div_ceil(4)
    } else {
        0
    }
}

fn path_bit(k: &[u64; 4], level: usize) -> u64 {
    (k[level % 4] >> (level / 4)) & 1
}

fn remaining(k: &[u64; 4], depth: usize) -> [u64; 4] {
    core::array::from_fn(|j| {
        let c = levels_in_limb(depth, j);
        if c >= 64 {
            0
        } else {
            k[j] >> c
        }
    })
}

/// The full key of a leaf at `depth` with remaining key `rk` on the path `prefix` (path bits of
/// `prefix` below `depth`, with the bit at `flip` inverted).
fn join(rk: [u64; 4], prefix: &[u64; 4], depth: usize, flip: Option<usize>) -> [u64; 4] {
    let mut out: [u64; 4] = core::array::from_fn(|j| {
        let c = levels_in_limb(depth, j);
        if c >= 64 {
            0
        } else {
            rk[j] << c
        }
    });
    for l in 0..depth {
        let mut b = path_bit(prefix, l);
        if flip == Some(l) {
            b ^= 1;
        }
        out[l % 4] |= b << (l / 4);
    }
    out
}

const W: usize = NUM_COLUMNS;

struct Builder {
    cells: Vec<F>,
    root: [F; 4],
    comm: [F; 4],
}

/// Per-operation constants copied into each of its rows.
#[derive(Clone)]
struct OpRegs {
    kind: usize,
    k: [F; 4],
    hvo: [F; 4],
    hvn: [F; 4],
    hvp: [F; 4],
    rk: [F; 4],
    rkp: [F; 4],
    rks: [F; 4],
    start_o: [F; 4],
    start_n: [F; 4],
    pow: [F; 4],
    a: [F; 4],
    ap: [F; 4],
    r: [F; 4],
}

impl Builder {
    fn row(&mut self, flag: usize, regs: Option<&OpRegs>) -> usize {
        let at = self.cells.len();
        self.cells.resize(at + W, F::ZERO);
        let row = &mut self.cells[at..at + W];
        row[flag] = F::ONE;
        row[ROOT..ROOT + 4].copy_from_slice(&self.root);
        row[COMM..COMM + 4].copy_from_slice(&self.comm);
        if let Some(g) = regs {
            row[OP + g.kind] = F::ONE;
            for (col, v) in [
                (K, g.k),
                (HVO, g.hvo),
                (HVN, g.hvn),
                (HVP, g.hvp),
                (RK, g.rk),
                (RKP, g.rkp),
                (RKS, g.rks),
                (START_O, g.start_o),
                (START_N, g.start_n),
                (POW, g.pow),
                (A, g.a),
                (AP, g.ap),
                (R, g.r),
            ] {
                row[col..col + 4].copy_from_slice(&v);
            }
        }
        at
    }

    fn cells(&mut self, at: usize) -> &mut [F] {
        &mut self.cells[at..at + W]
    }
}

fn input(a: [F; 4], b: [F; 4], cap: [F; 4]) -> [F; 12] {
    let mut s = [F::ZERO; 12];
    s[..4].copy_from_slice(&a);
    s[4..8].copy_from_slice(&b);
    s[8..].copy_from_slice(&cap);
    s
}

fn leaf_cap() -> [F; 4] {
    [F::ONE, F::ZERO, F::ZERO, F::ZERO]
}

fn limbs_f(v: U256) -> [F; 8] {
    value_limbs(v).map(f)
}

/// Sets `aux[..n]` to show that `xs` is not all zero (inverse of its first non-zero entry).
fn nonzero_witness(aux: &mut [F], xs: &[F]) {
    if let Some((i, x)) = xs.iter().enumerate().find(|(_, x)| !x.is_zero()) {
        aux[i] = x.inverse();
    }
}

/// How an operation is laid out in the table.
pub(super) struct Plan {
    pub kind: usize,
    /// The depth of the deepest leaf the operation touches (the range rows' masks and remaining
    /// keys follow it).
    pub depth: usize,
    rkp: [u64; 4],
    rks: [u64; 4],
    kp: [u64; 4],
    hvp: [F; 4],
    branch: Option<(Hash, Hash)>,
    /// The walk, per level (index = level): (old sibling, new sibling, old active, new active).
    /// An honest plan walks `depth` levels.
    pub levels: Vec<([F; 4], [F; 4], bool, bool)>,
    /// The path bit of each walked level; an honest plan takes them from the key.
    pub bits: Vec<u64>,
}

impl Plan {
    /// An operation whose chains share every level and that involves no other key.
    fn plain(kind: usize, depth: usize, levels: Vec<([F; 4], [F; 4], bool, bool)>) -> Self {
        Self {
            kind,
            depth,
            rkp: [0; 4],
            rks: [0; 4],
            kp: [0; 4],
            hvp: [F::ZERO; 4],
            branch: None,
            levels,
            bits: Vec::new(),
        }
    }
}

fn plan(index: usize, op: &TableOp) -> Result<Plan, TraceError> {
    let err = |msg: String| TraceError::Op { index, msg };
    let p = &op.proof;
    let k = p.key.raw();
    let d = p.siblings.len();
    let sib = |l: usize| f4(&p.siblings[l]);
    let both = |n: usize| {
        (0..n)
            .map(|l| (sib(l), sib(l), true, true))
            .collect::<Vec<_>>()
    };
    let zero = [F::ZERO; 4];
    let mut plan = match &p.kind {
        UpdateKind::Update => Plan::plain(OP_UPDATE, d, both(d)),
        UpdateKind::InsertEmpty => Plan::plain(OP_INSERT_EMPTY, d, both(d)),
        UpdateKind::ZeroToAbsent { found: None } => Plan::plain(OP_ABSENT_EMPTY, d, both(d)),
        UpdateKind::ZeroToAbsent {
            found: Some((rkey, vh)),
        } => {
            let kp = join(rkey.raw(), &k, d, None);
            Plan {
                rkp: rkey.raw(),
                kp,
                hvp: f4(vh),
                ..Plan::plain(OP_ABSENT_FOUND, d, both(d))
            }
        }
        UpdateKind::Delete { sibling: None } => {
            if d != 0 {
                return Err(err(format!(
                    "a deletion without a sibling must remove the root leaf, but the path has {d} siblings"
                )));
            }
            Plan::plain(OP_DELETE_ROOT, 0, Vec::new())
        }
        UpdateKind::Delete {
            sibling: Some(SiblingNode::Branch { left, right }),
        } => {
            if d == 0 {
                return Err(err("a deletion beside a branch needs a sibling path".into()));
            }
            Plan {
                branch: Some((*left, *right)),
                ..Plan::plain(OP_DELETE_BRANCH, d, both(d))
            }
        }
        UpdateKind::Delete {
            sibling: Some(SiblingNode::Leaf { rkey, value_hash }),
        } => {
            if d == 0 {
                return Err(err("a collapsing deletion needs a sibling path".into()));
            }
            let kp = join(rkey.raw(), &k, d, Some(d - 1));
            // The leaf moves up to just below the deepest non-empty sibling above it.
            let top = (0..d - 1)
                .rev()
                .find(|&l| !p.siblings[l].is_zero())
                .map_or(0, |l| l + 1);
            let levels = (0..d)
                .map(|l| {
                    if l < top {
                        (sib(l), sib(l), true, true)
                    } else {
                        (sib(l), zero, true, false)
                    }
                })
                .collect();
            Plan {
                kind: OP_COLLAPSE,
                depth: d,
                rkp: rkey.raw(),
                rks: remaining(&kp, top),
                kp,
                hvp: f4(value_hash),
                branch: None,
                levels,
                bits: Vec::new(),
            }
        }
        UpdateKind::InsertSplit {
            other_rkey,
            other_value_hash,
        } => {
            let kp = join(other_rkey.raw(), &k, d, None);
            let Some(part) = (d..256).find(|&l| path_bit(&kp, l) != path_bit(&k, l)) else {
                return Err(err("the leaf to split holds the same key".into()));
            };
            let depth = part + 1;
            let rkp = remaining(&kp, depth);
            let other_leaf = zknode_state::smt::hash::leaf_hash(
                &Hash::from_raw(rkp).ok_or_else(|| err("bad remaining key".into()))?,
                other_value_hash,
            );
            let levels = (0..depth)
                .map(|l| {
                    if l < d {
                        (sib(l), sib(l), true, true)
                    } else if l == depth - 1 {
                        (zero, f4(&other_leaf), false, true)
                    } else {
                        (zero, zero, false, true)
                    }
                })
                .collect();
            Plan {
                kind: OP_SPLIT,
                depth,
                rkp,
                rks: other_rkey.raw(),
                kp,
                hvp: f4(other_value_hash),
                branch: None,
                levels,
                bits: Vec::new(),
            }
        }
    };
    plan.bits = (0..plan.levels.len()).map(|l| path_bit(&k, l)).collect();
    Ok(plan)
}

/// Builds the table for `ops` applied in order from `old_root`, padded to at least
/// `min_rows` rows (a power of two).
pub fn build(old_root: &Hash, ops: &[TableOp], min_rows: usize) -> Result<Table, TraceError> {
    build_planned(old_root, ops, min_rows, None)
}

/// Changes an operation's plan before its rows are written: what a forger does, for soundness
/// tests ([`super::forge`]).
pub(super) type PlanEdit<'a> = &'a mut dyn FnMut(usize, &mut Plan);

/// [`build`], with each operation's plan passed through `edit` when one is given. An edited
/// table is written as planned, without the depth limit and without checking that it still
/// reaches the proof's new root.
pub(super) fn build_planned(
    old_root: &Hash,
    ops: &[TableOp],
    min_rows: usize,
    mut edit: Option<PlanEdit<'_>>,
) -> Result<Table, TraceError> {
    let mut b = Builder {
        cells: Vec::new(),
        root: f4(old_root),
        comm: [F::ZERO; 4],
    };
    let mut running = *old_root;
    for (index, op) in ops.iter().enumerate() {
        let err = |msg: String| TraceError::Op { index, msg };
        let p = &op.proof;
        let leaf = LeafType::from_u8(op.leaf_type)
            .ok_or_else(|| err(format!("leaf type {} is not 0..=4", op.leaf_type)))?;
        if leaf != LeafType::Storage && op.slot != U256::ZERO {
            return Err(err(
                "a slot is given for a key that is not a storage key".into()
            ));
        }
        let derived = derive_key(&op.address, leaf, op.slot);
        if derived != p.key {
            return Err(err(format!(
                "key {:?} is not the key of (0x{}, type {}, slot {:#x}) = {:?}",
                p.key,
                hex::encode(op.address),
                op.leaf_type,
                op.slot,
                derived
            )));
        }
        let (old, new) = p
            .roots(&mut |_, _| {})
            .map_err(|e| err(format!("inconsistent proof: {e}")))?;
        if old != running {
            return Err(err(format!(
                "its siblings and old value give root {old:?}, but the running root is {running:?} \
                 (wrong siblings, old value or key)"
            )));
        }
        running = new;
        let mut pl = plan(index, op)?;
        let honest = match edit.as_mut() {
            Some(edit) => {
                edit(index, &mut pl);
                false
            }
            None => true,
        };
        if honest && pl.depth > MAX_DEPTH {
            return Err(err(format!(
                "it reaches a leaf {} levels deep, and the batch table proves at most {MAX_DEPTH} \
                 (two keys sharing {MAX_DEPTH} path bits is a Poseidon near-collision)",
                pl.depth
            )));
        }
        push_op(&mut b, op, &pl);
        if honest && b.root != f4(&new) {
            return Err(err(
                "internal: the table's new root differs from the proof's".into(),
            ));
        }
    }
    let used_rows = b.cells.len() / W;
    let rows = used_rows.max(min_rows).max(2).next_power_of_two();
    let mut pad = vec![F::ZERO; W];
    pad[F_PAD] = F::ONE;
    pad[ROOT..ROOT + 4].copy_from_slice(&b.root);
    pad[COMM..COMM + 4].copy_from_slice(&b.comm);
    fill_lane(&mut pad, LANE0, [F::ZERO; 12]);
    fill_lane(&mut pad, LANE1, [F::ZERO; 12]);
    for _ in used_rows..rows {
        b.cells.extend_from_slice(&pad);
    }
    Ok(Table {
        cells: b.cells,
        rows,
        used_rows,
        old_root: f4(old_root),
        new_root: b.root,
        ops_commitment: b.comm,
    })
}

fn push_op(b: &mut Builder, op: &TableOp, pl: &Plan) {
    let p = &op.proof;
    let k = p.key.raw();
    let depth = pl.depth;
    let old_limbs = limbs_f(p.old_value);
    let new_limbs = limbs_f(p.new_value);
    let hvo = f4(&value_hash(&value_limbs(p.old_value)));
    let hvn = f4(&value_hash(&value_limbs(p.new_value)));
    let fu = |x: [u64; 4]| x.map(F::from_canonical_u64);
    let rk = remaining(&k, depth);
    let mut g = OpRegs {
        kind: pl.kind,
        k: fu(k),
        hvo,
        hvn,
        hvp: pl.hvp,
        rk: fu(rk),
        rkp: fu(pl.rkp),
        rks: fu(pl.rks),
        start_o: [F::ZERO; 4],
        start_n: [F::ZERO; 4],
        pow: [F::ONE; 4],
        a: [F::ZERO; 4],
        ap: [F::ZERO; 4],
        r: fu(pl.rkp),
    };
    // Leaf starts, computed first because every row carries them.
    let (old_leaf, new_leaf) = match pl.kind {
        OP_UPDATE => (Some((g.rk, hvo)), Some((g.rk, hvn))),
        OP_INSERT_EMPTY => (None, Some((g.rk, hvn))),
        OP_SPLIT => (Some((g.rks, g.hvp)), Some((g.rk, hvn))),
        OP_DELETE_BRANCH | OP_DELETE_ROOT => (Some((g.rk, hvo)), None),
        OP_COLLAPSE => (Some((g.rk, hvo)), Some((g.rks, g.hvp))),
        OP_ABSENT_FOUND => (Some((g.rkp, g.hvp)), Some((g.rkp, g.hvp))),
        _ => (None, None),
    };
    let mut scratch = vec![F::ZERO; W];
    if let Some((r, h)) = old_leaf {
        g.start_o = fill_lane(&mut scratch, LANE0, input(r, h, leaf_cap()));
    }
    if let Some((r, h)) = new_leaf {
        g.start_n = fill_lane(&mut scratch, LANE1, input(r, h, leaf_cap()));
    }

    // Key row.
    let at = b.row(F_KEY, Some(&g));
    let row = b.cells(at);
    let slot = limbs_f(op.slot);
    let mut s = [F::ZERO; 12];
    s[..8].copy_from_slice(&slot);
    let cap = fill_lane(row, LANE0, s);
    let alimbs: [F; 5] = core::array::from_fn(|i| {
        let off = 20 - 4 * (i + 1);
        F::from_canonical_u32(u32::from_be_bytes(
            op.address[off..off + 4].try_into().expect("4 bytes"),
        ))
    });
    let mut s = [F::ZERO; 12];
    s[..5].copy_from_slice(&alimbs);
    s[6] = F::from_canonical_u8(op.leaf_type);
    s[8..].copy_from_slice(&cap);
    fill_lane(row, LANE1, s);

    // Value row.
    let at = b.row(F_VALUE, Some(&g));
    let row = b.cells(at);
    let mut s = [F::ZERO; 12];
    s[..8].copy_from_slice(&old_limbs);
    fill_lane(row, LANE0, s);
    s[..8].copy_from_slice(&new_limbs);
    fill_lane(row, LANE1, s);
    nonzero_witness(&mut row[AUX..AUX + 8], &old_limbs);
    nonzero_witness(&mut row[AUX + 8..AUX + 16], &new_limbs);

    // Leaf row.
    let at = b.row(F_LEAF, Some(&g));
    let row = b.cells(at);
    let (r0, h0) = old_leaf.unwrap_or(([F::ZERO; 4], [F::ZERO; 4]));
    fill_lane(row, LANE0, input(r0, h0, leaf_cap()));
    let (r1, h1) = new_leaf.unwrap_or(([F::ZERO; 4], [F::ZERO; 4]));
    fill_lane(row, LANE1, input(r1, h1, leaf_cap()));

    // Extra row.
    let at = b.row(F_EXTRA, Some(&g));
    let row = b.cells(at);
    fill_lane(row, LANE0, input(g.rkp, g.hvp, leaf_cap()));
    let (left, right) = pl
        .branch
        .map(|(l, r)| (f4(&l), f4(&r)))
        .unwrap_or(([F::ZERO; 4], [F::ZERO; 4]));
    let y = fill_lane(row, LANE1, input(left, right, [F::ZERO; 4]));
    if pl.kind == OP_DELETE_BRANCH {
        debug_assert_eq!(
            u4(y),
            u4(f4(&branch_hash(
                &pl.branch.expect("branch").0,
                &pl.branch.expect("branch").1
            )))
        );
    }
    if pl.kind == OP_ABSENT_FOUND {
        let diff: [F; 4] = core::array::from_fn(|j| g.rkp[j] - g.rk[j]);
        nonzero_witness(&mut row[AUX..AUX + 4], &diff);
    }

    // Walk rows, deepest level first.
    let flip = matches!(pl.kind, OP_SPLIT | OP_COLLAPSE);
    let mut cur_o = [F::ZERO; 4];
    let mut cur_n = [F::ZERO; 4];
    let mut prev_act = (false, false);
    let mut top = (g.start_o, g.start_n);
    let walked = pl.levels.len();
    for level in (0..walked).rev() {
        let (so, sn, ao, an) = pl.levels[level];
        let j = level % 4;
        let bit = pl.bits[level];
        let first = level == walked - 1;
        let other_bit = if flip && first { bit ^ 1 } else { bit };
        let (bf, obf) = (F::from_canonical_u64(bit), F::from_canonical_u64(other_bit));
        g.pow[j] = g.pow[j].double();
        g.a[j] = g.a[j].double() + bf;
        g.ap[j] = g.ap[j].double() + obf;
        g.r[j] = g.r[j].double() + obf;
        if ao {
            cur_o = if prev_act.0 { cur_o } else { g.start_o };
        }
        if an {
            cur_n = if prev_act.1 { cur_n } else { g.start_n };
        }
        let at = b.row(F_WALK, Some(&g));
        let row = b.cells(at);
        row[LSEL + j] = F::ONE;
        row[BIT] = bf;
        row[FW] = F::from_bool(first);
        row[ACT_O] = F::from_bool(ao);
        row[ACT_N] = F::from_bool(an);
        row[LVL] = F::from_canonical_usize(walked - level);
        let co = if ao { cur_o } else { [F::ZERO; 4] };
        let cn = if an { cur_n } else { [F::ZERO; 4] };
        row[CUR_O..CUR_O + 4].copy_from_slice(&co);
        row[CUR_N..CUR_N + 4].copy_from_slice(&cn);
        row[SIB_O..SIB_O + 4].copy_from_slice(&so);
        row[SIB_N..SIB_N + 4].copy_from_slice(&sn);
        let order = |c: [F; 4], s: [F; 4]| if bit == 1 { (s, c) } else { (c, s) };
        let (l0, r0) = order(co, so);
        let out_o = fill_lane(row, LANE0, input(l0, r0, [F::ZERO; 4]));
        let (l1, r1) = order(cn, sn);
        let out_n = fill_lane(row, LANE1, input(l1, r1, [F::ZERO; 4]));
        if pl.kind == OP_COLLAPSE && an && !prev_act.1 {
            nonzero_witness(&mut row[AUX..AUX + 4], &so);
        }
        if ao {
            cur_o = out_o;
            top.0 = out_o;
        }
        if an {
            cur_n = out_n;
            top.1 = out_n;
        }
        prev_act = (ao, an);
    }

    // Commit row: the root moves here.
    b.root = top.1;
    let at = b.row(F_COMMIT, Some(&g));
    let comm = b.comm;
    let row = b.cells(at);
    row[LVL] = F::from_canonical_usize(walked);
    let u = fill_lane(row, LANE0, input(hvo, hvn, comm));
    b.comm = fill_lane(row, LANE1, input(g.k, u, [F::ZERO; 4]));

    // Range rows.
    let kp = pl.kp;
    let mut levels_left = walked;
    for j in 0..4 {
        let at = b.row(F_RANGE, Some(&g));
        let row = b.cells(at);
        row[RSEL + j] = F::ONE;
        row[LVL] = F::from_canonical_usize(levels_left);
        let c = levels_in_limb(depth, j);
        levels_left = levels_left.saturating_sub(c);
        for bitpos in 0..64 {
            row[R_BITS + bitpos] = F::from_canonical_u64((k[j] >> bitpos) & 1);
            row[R_MASK + bitpos] = F::from_bool(bitpos < c);
            row[R_BITS2 + bitpos] = F::from_canonical_u64((kp[j] >> bitpos) & 1);
        }
        for (v, canon) in [(k[j], CANON), (kp[j], CANON + 2)] {
            let hi = (v >> 32).count_ones() as u64;
            let t = F::from_canonical_u64(hi) - F::from_canonical_u64(32);
            if hi == 32 {
                row[canon] = F::ONE;
            } else {
                row[canon + 1] = t.inverse();
            }
        }
    }
}
