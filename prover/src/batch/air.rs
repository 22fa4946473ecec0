//! The batch table's constraints.
//!
//! Each operation of the batch occupies `L + 9` consecutive rows, where `L` is the depth of the
//! deepest leaf the operation touches:
//!
//! | row | lane 0 | lane 1 |
//! |---|---|---|
//! | key | `Poseidon(slot, 0^4)` = cap | `Poseidon([a0..a4, 0, type, 0], cap)` = key |
//! | value | hash of the old value | hash of the new value |
//! | leaf | leaf the old chain starts from | leaf the new chain starts from |
//! | extra | the other key's leaf at depth L | a branch's preimage (deletions) |
//! | walk × L | old chain, level L−1 … 0 | new chain, same level |
//! | commit | `u = Poseidon([hV_old, hV_new], C)` | `C' = Poseidon([key, u], 0^4)` |
//! | range × 4 | bits of key limb j, low-bit mask | bits of the other key's limb j |
//!
//! A chain is "active" from the level where it starts; below that the other chain runs alone
//! (the new leaves of a split, the old leaves of a collapse). The running root changes only on
//! the commit row, from the old chain's top to the new chain's top. The range rows decompose
//! the key into canonical bits and show that the path bits of the walk are the key's low bits
//! and that every remaining key hashed into a leaf is the key's high part, so a leaf can be
//! neither placed off its path nor given another key's remainder. A level counter bounds the
//! walk: at most 63 levels per key limb ([`MAX_DEPTH`] in all), so that path values stay below
//! the field's modulus and `POW = 2^levels` names one number of levels.
//!
//! Every input of both lanes on the commit row is pinned to the registers it hashes, so the
//! operation commitment in the public inputs is the commitment to exactly the operations the
//! table applies. `docs/batch-constraints.md` lists, for each row kind and column, the
//! constraints that pin it; a test recomputes that map from [`eval`].

use super::alg::Alg;
use super::layout::*;
use super::poseidon::eval_lane;

fn lane_in(lane: usize, i: usize) -> usize {
    lane + L_IN + i
}
fn lane_out(lane: usize, i: usize) -> usize {
    lane + L_OUT + i
}

/// Evaluates every constraint of the table on a pair of consecutive rows.
pub fn eval<A: Alg>(a: &mut A, lv: &[A::E], nv: &[A::E], pi: &[A::E]) {
    let one = a.one();
    let [fk, fv, fl, fe, fw, fc, fr, fp] = core::array::from_fn(|i| lv[F_KEY + i]);
    let [nk, _nval, _nl, ne, nw, nc, _nr, np] = core::array::from_fn(|i| nv[F_KEY + i]);
    let op: [A::E; OP_KINDS] = core::array::from_fn(|i| lv[OP + i]);
    let upd = op[OP_UPDATE];
    let ins_e = op[OP_INSERT_EMPTY];
    let split = op[OP_SPLIT];
    let del_b = op[OP_DELETE_BRANCH];
    let del_r = op[OP_DELETE_ROOT];
    let coll = op[OP_COLLAPSE];
    let abs_e = op[OP_ABSENT_EMPTY];
    let abs_f = op[OP_ABSENT_FOUND];

    // ---- Flags -------------------------------------------------------------------------------
    a.section("flags");
    for i in 0..ROW_KINDS {
        let b = a.bit(lv[F_KEY + i]);
        a.on_all(b);
    }
    let s = a.sum((0..ROW_KINDS).map(|i| lv[F_KEY + i]));
    let c = a.sub(s, one);
    a.on_all(c);
    for j in 0..4 {
        let b = a.bit(lv[RSEL + j]);
        a.on_all(b);
        let b = a.bit(lv[LSEL + j]);
        a.on_all(b);
    }
    let s = a.sum((0..4).map(|j| lv[RSEL + j]));
    let c = a.sub(s, fr);
    a.on_all(c);
    let s = a.sum((0..4).map(|j| lv[LSEL + j]));
    let c = a.sub(s, fw);
    a.on_all(c);
    for &o in &op {
        let b = a.bit(o);
        a.on_all(b);
    }
    let s = a.sum(op);
    let not_pad = a.not(fp);
    let c = a.sub(s, not_pad);
    a.on_all(c);
    let not_walk = a.not(fw);
    for col in [ACT_O, ACT_N, BIT, FW] {
        let b = a.bit(lv[col]);
        a.on_all(b);
        let c = a.mul(lv[col], not_walk);
        a.on_all(c);
    }

    // ---- Poseidon on both lanes of every row but range rows --------------------------------
    let hashing = a.not(fr);
    a.section("poseidon");
    eval_lane(a, lv, LANE0, hashing);
    eval_lane(a, lv, LANE1, hashing);

    // ---- Boundaries --------------------------------------------------------------------------
    a.section("boundaries");
    let c = a.sum([fk, fp]);
    let c = a.sub(c, one);
    a.on_first(c);
    let r3 = a.mul(fr, lv[RSEL + 3]);
    let c = a.sum([fp, r3]);
    let c = a.sub(c, one);
    a.on_last(c);
    for i in 0..4 {
        let c = a.sub(lv[ROOT + i], pi[PI_OLD_ROOT + i]);
        a.on_first(c);
        a.on_first(lv[COMM + i]);
        let c = a.sub(lv[ROOT + i], pi[PI_NEW_ROOT + i]);
        a.on_last(c);
        let c = a.sub(lv[COMM + i], pi[PI_OPS + i]);
        a.on_last(c);
    }

    // ---- Row order ---------------------------------------------------------------------------
    a.section("row order");
    for (next, cur) in [(F_VALUE, fk), (F_LEAF, fv), (F_EXTRA, fl)] {
        let c = a.sub(nv[next], cur);
        a.on_transition(c);
    }
    let walking = a.add(fe, fw);
    let s = a.add(nw, nc);
    let s = a.not(s);
    let c = a.mul(walking, s);
    a.on_transition(c);
    let s = a.not(nv[RSEL]);
    let c = a.mul(fc, s);
    a.on_transition(c);
    for j in 0..3 {
        let s = a.not(nv[RSEL + j + 1]);
        let c = a.mul(lv[RSEL + j], s);
        a.on_transition(c);
    }
    let s = a.add(nk, np);
    let s = a.not(s);
    let c = a.mul(lv[RSEL + 3], s);
    a.on_transition(c);
    let s = a.not(np);
    let c = a.mul(fp, s);
    a.on_transition(c);

    // ---- Registers ---------------------------------------------------------------------------
    a.section("registers");
    // `same`: the next row belongs to this row's operation.
    let s = a.add(nk, np);
    let same = a.not(s);
    let constant_regs = (OP..OP + OP_KINDS)
        .chain(K..RKS + 4)
        .chain(START_O..START_N + 4);
    for col in constant_regs {
        let d = a.sub(nv[col], lv[col]);
        let c = a.mul(same, d);
        a.on_transition(c);
    }
    // The walk registers evolve on walk rows, are set on the extra row, and hold elsewhere.
    let flip = a.add(split, coll);
    let nbit = nv[BIT];
    let two_bit = a.add(nbit, nbit);
    let flip_term = a.not(two_bit);
    let flip_term = a.mul(flip_term, flip);
    let flip_term = a.mul(flip_term, nv[FW]);
    let other_bit = a.add(nbit, flip_term);
    let s = a.add(nw, ne);
    let s = a.not(s);
    let hold = a.mul(same, s);
    for j in 0..4 {
        let sel = nv[LSEL + j];
        // POW' = POW·(1 + sel)
        let t = a.mul(lv[POW + j], sel);
        let e = a.add(lv[POW + j], t);
        let d = a.sub(nv[POW + j], e);
        let c = a.mul(nw, d);
        a.on_transition(c);
        for (col, bit) in [(A, nbit), (AP, other_bit), (R, other_bit)] {
            // X' = X + sel·(X + bit)
            let t = a.add(lv[col + j], bit);
            let t = a.mul(sel, t);
            let e = a.add(lv[col + j], t);
            let d = a.sub(nv[col + j], e);
            let c = a.mul(nw, d);
            a.on_transition(c);
        }
        for col in [POW, A, AP, R] {
            let d = a.sub(nv[col + j], lv[col + j]);
            let c = a.mul(hold, d);
            a.on_transition(c);
        }
        // Set on the extra row.
        let c = a.sub(lv[POW + j], one);
        let c = a.mul(fe, c);
        a.on_all(c);
        let c = a.mul(fe, lv[A + j]);
        a.on_all(c);
        let c = a.mul(fe, lv[AP + j]);
        a.on_all(c);
        let c = a.sub(lv[R + j], lv[RKP + j]);
        let c = a.mul(fe, c);
        a.on_all(c);
    }
    // Global registers: the operation commitment moves on commit rows, the root on entering one.
    let root_of = |a: &mut A, act: usize, lane: usize, start: usize, i: usize| {
        let walk_top = {
            let d = a.sub(lv[lane_out(lane, i)], lv[start + i]);
            let t = a.mul(lv[act], d);
            a.add(lv[start + i], t)
        };
        let w = a.mul(fw, walk_top);
        let e = a.mul(fe, lv[start + i]);
        a.add(w, e)
    };
    let not_nc = a.not(nc);
    for i in 0..4 {
        let d = a.sub(nv[COMM + i], lv[COMM + i]);
        let step = a.sub(lv[lane_out(LANE1, i)], lv[COMM + i]);
        let step = a.mul(fc, step);
        let c = a.sub(d, step);
        a.on_transition(c);

        let d = a.sub(nv[ROOT + i], lv[ROOT + i]);
        let c = a.mul(not_nc, d);
        a.on_transition(c);
        let old_top = root_of(a, ACT_O, LANE0, START_O, i);
        let d = a.sub(old_top, lv[ROOT + i]);
        let c = a.mul(nc, d);
        a.on_transition(c);
        let new_top = root_of(a, ACT_N, LANE1, START_N, i);
        let d = a.sub(nv[ROOT + i], new_top);
        let c = a.mul(nc, d);
        a.on_transition(c);
    }

    // ---- Commit row ----------------------------------------------------------------------------
    // The commitment step hashes what the witness generator hashes, and nothing else:
    // u = Poseidon([HVO, HVN], COMM) in lane 0, then COMM' = Poseidon([K, u], 0^4) in lane 1.
    a.section("commit row");
    for i in 0..4 {
        for (cell, value) in [
            (lane_in(LANE0, i), lv[HVO + i]),
            (lane_in(LANE0, 4 + i), lv[HVN + i]),
            (lane_in(LANE0, 8 + i), lv[COMM + i]),
            (lane_in(LANE1, i), lv[K + i]),
            (lane_in(LANE1, 4 + i), lv[lane_out(LANE0, i)]),
        ] {
            let d = a.sub(lv[cell], value);
            let c = a.mul(fc, d);
            a.on_all(c);
        }
        let c = a.mul(fc, lv[lane_in(LANE1, 8 + i)]);
        a.on_all(c);
    }

    // ---- Depth -----------------------------------------------------------------------------------
    // LVL counts the operation's walk rows; each range row takes away its limb's levels (the
    // length of its mask) and the last must leave zero. With mask bit 63 off, a limb has at most
    // 63 levels: without the count, a limb walked 192 + m levels would pass as m levels, since
    // 2^192 = 1, and its path bits would no longer be the key's.
    a.section("depth");
    let c = a.mul(fe, lv[LVL]);
    a.on_all(c);
    let d = a.sub(nv[LVL], lv[LVL]);
    let c = a.sub(d, one);
    let c = a.mul(nw, c);
    a.on_transition(c);
    let mask_len = a.sum((0..64).map(|k| lv[R_MASK + k]));
    let taken = a.mul(fr, mask_len);
    let c = a.add(d, taken);
    let c = a.mul(hold, c);
    a.on_transition(c);
    let left = a.sub(lv[LVL], mask_len);
    let last_range = a.mul(fr, lv[RSEL + 3]);
    let c = a.mul(last_range, left);
    a.on_all(c);
    let c = a.mul(fr, lv[R_MASK + 63]);
    a.on_all(c);

    // ---- Key row -------------------------------------------------------------------------------
    a.section("key row");
    let ty = lv[lane_in(LANE1, 6)];
    let mut prod = fk;
    for t in 0..5u64 {
        let k = a.constant(t);
        let d = a.sub(ty, k);
        prod = a.mul(prod, d);
    }
    a.on_all(prod);
    let three = a.constant(3);
    let not_storage = a.sub(ty, three);
    let not_storage = a.mul(fk, not_storage);
    for i in 0..8 {
        let c = a.mul(not_storage, lv[lane_in(LANE0, i)]);
        a.on_all(c);
    }
    for i in [5, 7] {
        let c = a.mul(fk, lv[lane_in(LANE1, i)]);
        a.on_all(c);
    }
    for i in 0..4 {
        let c = a.mul(fk, lv[lane_in(LANE0, 8 + i)]);
        a.on_all(c);
        let d = a.sub(lv[lane_in(LANE1, 8 + i)], lv[lane_out(LANE0, i)]);
        let c = a.mul(fk, d);
        a.on_all(c);
        let d = a.sub(lv[K + i], lv[lane_out(LANE1, i)]);
        let c = a.mul(fk, d);
        a.on_all(c);
    }

    // ---- Value row -----------------------------------------------------------------------------
    a.section("value row");
    let old_zero = a.sum([ins_e, split, abs_e, abs_f]);
    let new_zero = a.sum([del_b, del_r, coll, abs_e, abs_f]);
    for (lane, reg, zero, aux) in [(LANE0, HVO, old_zero, 0), (LANE1, HVN, new_zero, 8)] {
        for i in 0..4 {
            let c = a.mul(fv, lv[lane_in(lane, 8 + i)]);
            a.on_all(c);
            let d = a.sub(lv[reg + i], lv[lane_out(lane, i)]);
            let c = a.mul(fv, d);
            a.on_all(c);
        }
        let gz = a.mul(fv, zero);
        for i in 0..8 {
            let c = a.mul(gz, lv[lane_in(lane, i)]);
            a.on_all(c);
        }
        // Non-zero: some limb times its claimed inverse is one.
        let mut dot = a.zero();
        for i in 0..8 {
            let t = a.mul(lv[lane_in(lane, i)], lv[AUX + aux + i]);
            dot = a.add(dot, t);
        }
        let dot = a.sub(dot, one);
        let nz = a.not(zero);
        let g = a.mul(fv, nz);
        let c = a.mul(g, dot);
        a.on_all(c);
    }

    // ---- Leaf row ------------------------------------------------------------------------------
    a.section("leaf row");
    let key_old = a.sum([upd, del_b, del_r, coll]);
    let key_new = a.sum([upd, ins_e, split]);
    let other_vh_old = a.add(split, abs_f);
    let other_vh_new = a.add(coll, abs_f);
    for (lane, start, sources, vh_sources) in [
        (
            LANE0,
            START_O,
            [(key_old, RK), (split, RKS), (abs_f, RKP)],
            [(key_old, HVO), (other_vh_old, HVP)],
        ),
        (
            LANE1,
            START_N,
            [(key_new, RK), (coll, RKS), (abs_f, RKP)],
            [(key_new, HVN), (other_vh_new, HVP)],
        ),
    ] {
        let c = a.sub(lv[lane_in(lane, 8)], one);
        let c = a.mul(fl, c);
        a.on_all(c);
        for i in 1..4 {
            let c = a.mul(fl, lv[lane_in(lane, 8 + i)]);
            a.on_all(c);
        }
        for i in 0..4 {
            let mut acc = a.zero();
            for &(flag, reg) in &sources {
                let d = a.sub(lv[lane_in(lane, i)], lv[reg + i]);
                let t = a.mul(flag, d);
                acc = a.add(acc, t);
            }
            let c = a.mul(fl, acc);
            a.on_all(c);
            let mut acc = a.zero();
            for &(flag, reg) in &vh_sources {
                let d = a.sub(lv[lane_in(lane, 4 + i)], lv[reg + i]);
                let t = a.mul(flag, d);
                acc = a.add(acc, t);
            }
            let c = a.mul(fl, acc);
            a.on_all(c);
            let has = a.sum(sources.iter().map(|s| s.0));
            let t = a.mul(has, lv[lane_out(lane, i)]);
            let d = a.sub(lv[start + i], t);
            let c = a.mul(fl, d);
            a.on_all(c);
        }
    }

    // ---- Extra row -----------------------------------------------------------------------------
    a.section("extra row");
    for i in 0..4 {
        let d = a.sub(lv[lane_in(LANE0, i)], lv[RKP + i]);
        let c = a.mul(fe, d);
        a.on_all(c);
        let d = a.sub(lv[lane_in(LANE0, 4 + i)], lv[HVP + i]);
        let c = a.mul(fe, d);
        a.on_all(c);
        let cap = if i == 0 {
            a.sub(lv[lane_in(LANE0, 8)], one)
        } else {
            lv[lane_in(LANE0, 8 + i)]
        };
        let c = a.mul(fe, cap);
        a.on_all(c);
        let c = a.mul(fe, lv[lane_in(LANE1, 8 + i)]);
        a.on_all(c);
    }
    // An absent key's found leaf belongs to another key.
    let mut dot = a.zero();
    for j in 0..4 {
        let d = a.sub(lv[RKP + j], lv[RK + j]);
        let t = a.mul(d, lv[AUX + j]);
        dot = a.add(dot, t);
    }
    let dot = a.sub(dot, one);
    let g = a.mul(fe, abs_f);
    let c = a.mul(g, dot);
    a.on_all(c);
    // Removing the root leaf ends the walk at once; splits, collapses and branch deletions walk.
    let c = a.not(nc);
    let c = a.mul(del_r, c);
    let c = a.mul(fe, c);
    a.on_transition(c);
    let needs_walk = a.sum([split, coll, del_b]);
    let c = a.not(nw);
    let c = a.mul(needs_walk, c);
    let c = a.mul(fe, c);
    a.on_transition(c);
    // The first walk row's special sibling: the other key's leaf (split: new chain; collapse:
    // old chain) or the opened branch (deletion beside a branch).
    let enter = a.mul(fe, nw);
    for i in 0..4 {
        for (flag, sib, src) in [
            (split, SIB_N, lane_out(LANE0, i)),
            (coll, SIB_O, lane_out(LANE0, i)),
            (del_b, SIB_O, lane_out(LANE1, i)),
        ] {
            let d = a.sub(nv[sib + i], lv[src]);
            let g = a.mul(enter, flag);
            let c = a.mul(g, d);
            a.on_transition(c);
        }
    }

    // ---- Walk rows -----------------------------------------------------------------------------
    a.section("walk rows");
    let bit = lv[BIT];
    for (lane, cur, sib) in [(LANE0, CUR_O, SIB_O), (LANE1, CUR_N, SIB_N)] {
        for i in 0..4 {
            let (c0, s0) = (lv[cur + i], lv[sib + i]);
            let d = a.sub(s0, c0);
            let t = a.mul(bit, d);
            let left = a.add(c0, t);
            let right = a.sub(s0, t);
            let d = a.sub(lv[lane_in(lane, i)], left);
            let c = a.mul(fw, d);
            a.on_all(c);
            let d = a.sub(lv[lane_in(lane, 4 + i)], right);
            let c = a.mul(fw, d);
            a.on_all(c);
            let c = a.mul(fw, lv[lane_in(lane, 8 + i)]);
            a.on_all(c);
        }
    }
    let both_walk = a.mul(fw, nw);
    for j in 0..4 {
        let d = a.sub(nv[LSEL + j], lv[LSEL + (j + 1) % 4]);
        let c = a.mul(both_walk, d);
        a.on_transition(c);
    }
    let c = a.not(lv[LSEL]);
    let c = a.mul(fw, c);
    let c = a.mul(nc, c);
    a.on_transition(c);
    let d = a.sub(nv[FW], fe);
    let c = a.mul(nw, d);
    a.on_transition(c);
    for (act, cur, lane, start) in [
        (ACT_O, CUR_O, LANE0, START_O),
        (ACT_N, CUR_N, LANE1, START_N),
    ] {
        let n_act = a.not(nv[act]);
        let c = a.mul(lv[act], n_act);
        let c = a.mul(nw, c);
        a.on_transition(c);
        let g = a.mul(nw, nv[act]);
        for i in 0..4 {
            let d = a.sub(lv[lane_out(lane, i)], lv[start + i]);
            let t = a.mul(lv[act], d);
            let from = a.add(lv[start + i], t);
            let d = a.sub(nv[cur + i], from);
            let c = a.mul(g, d);
            a.on_transition(c);
        }
    }
    let both_act = a.mul(lv[ACT_O], lv[ACT_N]);
    for i in 0..4 {
        let d = a.sub(lv[SIB_O + i], lv[SIB_N + i]);
        let c = a.mul(both_act, d);
        a.on_all(c);
    }
    let both_kinds = a.sum([upd, ins_e, del_b, abs_e, abs_f]);
    let g = a.mul(fw, both_kinds);
    for act in [ACT_O, ACT_N] {
        let n = a.not(lv[act]);
        let c = a.mul(g, n);
        a.on_all(c);
    }
    // Split: the new chain walks alone below the old leaf; collapse: the old chain does.
    let not_first = a.not(lv[FW]);
    for (flag, lead, follow, sib_lead) in
        [(split, ACT_N, ACT_O, SIB_N), (coll, ACT_O, ACT_N, SIB_O)]
    {
        let g = a.mul(fw, flag);
        let n = a.not(lv[lead]);
        let c = a.mul(g, n);
        a.on_all(c);
        let c = a.mul(lv[FW], flag);
        let c = a.mul(c, lv[follow]);
        a.on_all(c);
        let alone = a.not(lv[follow]);
        let alone = a.mul(g, alone);
        let alone = a.mul(alone, not_first);
        for i in 0..4 {
            let c = a.mul(alone, lv[sib_lead + i]);
            a.on_all(c);
        }
        // Where the follower starts (or at the top), the other key's climbing remaining key is
        // the one its short leaf was hashed with.
        let starts = a.add(nv[follow], nc);
        let n = a.not(lv[follow]);
        let g2 = a.mul(g, n);
        let g2 = a.mul(g2, starts);
        for j in 0..4 {
            let d = a.sub(lv[R + j], lv[RKS + j]);
            let c = a.mul(g2, d);
            a.on_transition(c);
        }
    }
    // A collapsing leaf stops below the first non-empty sibling.
    let n = a.not(lv[ACT_N]);
    let g = a.mul(fw, n);
    let g = a.mul(g, nv[ACT_N]);
    let g = a.mul(g, coll);
    let mut dot = a.zero();
    for j in 0..4 {
        let t = a.mul(nv[SIB_O + j], nv[AUX + j]);
        dot = a.add(dot, t);
    }
    let dot = a.sub(dot, one);
    let c = a.mul(g, dot);
    a.on_transition(c);

    // ---- Range rows ----------------------------------------------------------------------------
    a.section("range rows");
    let sel = |a: &mut A, reg: usize| {
        let mut acc = a.zero();
        for j in 0..4 {
            let t = a.mul(lv[RSEL + j], lv[reg + j]);
            acc = a.add(acc, t);
        }
        acc
    };
    let (k, pow, low, rk) = (sel(a, K), sel(a, POW), sel(a, A), sel(a, RK));
    let (lowp, rkp) = (sel(a, AP), sel(a, RKP));
    for k in 0..64 {
        for base in [R_BITS, R_MASK, R_BITS2] {
            let b = a.bit(lv[base + k]);
            let c = a.mul(fr, b);
            a.on_all(c);
        }
    }
    for k in 0..63 {
        let n = a.not(lv[R_MASK + k]);
        let c = a.mul(lv[R_MASK + k + 1], n);
        let c = a.mul(fr, c);
        a.on_all(c);
    }
    let weighted = |a: &mut A, base: usize, masked: bool| {
        let mut acc = a.zero();
        for k in 0..64 {
            let x = if masked {
                a.mul(lv[base + k], lv[R_MASK + k])
            } else {
                lv[base + k]
            };
            let t = a.scale(1u64 << k, x);
            acc = a.add(acc, t);
        }
        acc
    };
    let mask = weighted(a, R_MASK, false);
    let c = a.add(mask, one);
    let c = a.sub(c, pow);
    let c = a.mul(fr, c);
    a.on_all(c);
    let has_other = a.sum([split, coll, abs_f]);
    for (base, key_limb, low_limb, rk_limb, gate, canon) in [
        (R_BITS, Some(k), low, rk, fr, CANON),
        (R_BITS2, None, lowp, rkp, a.mul(fr, has_other), CANON + 2),
    ] {
        let full = weighted(a, base, false);
        let lowbits = weighted(a, base, true);
        if let Some(k) = key_limb {
            let c = a.sub(full, k);
            let c = a.mul(gate, c);
            a.on_all(c);
        }
        let c = a.sub(lowbits, low_limb);
        let c = a.mul(gate, c);
        a.on_all(c);
        let high = a.sub(full, lowbits);
        let t = a.mul(rk_limb, pow);
        let c = a.sub(t, high);
        let c = a.mul(gate, c);
        a.on_all(c);
        // Canonical: when the top 32 bits are all ones, the low 32 bits are zero (value < p).
        let (z, inv) = (lv[canon], lv[canon + 1]);
        let hi = a.sum((32..64).map(|k| lv[base + k]));
        let thirty_two = a.constant(32);
        let t = a.sub(hi, thirty_two);
        let e = a.mul(t, inv);
        let e = a.sub(e, one);
        let e = a.add(e, z);
        let c = a.mul(fr, e);
        a.on_all(c);
        let c = a.mul(z, t);
        let c = a.mul(fr, c);
        a.on_all(c);
        let lo = a.sum((0..32).map(|k| lv[base + k]));
        let c = a.mul(z, lo);
        let c = a.mul(fr, c);
        a.on_all(c);
        let b = a.bit(z);
        let c = a.mul(fr, b);
        a.on_all(c);
    }
}
