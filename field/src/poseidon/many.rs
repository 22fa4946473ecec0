//! Many sponges and compressions at once: groups of [`GROUP`] inputs go through the
//! permutation in lockstep with [`permute_many`], so the multi-lane permutation serves bulk
//! hashing (Merkle leaves and levels, row hashes). Results equal [`hash_or_noop`] and
//! [`two_to_one`] one input at a time; these functions are sequential, callers spread groups
//! over threads.

#[cfg(doc)]
use super::{hash_or_noop, permute_many, two_to_one};
use super::{permute_many_with, simd_lanes, Digest, State, RATE, WIDTH};
use crate::goldilocks::Goldilocks;

/// Inputs per lockstep group: the lane count of the widest multi-lane permutation.
pub const GROUP: usize = 8;

/// A group of states with fewer live ones than [`GROUP`] still goes through the multi-lane
/// permutation (the spare lanes computing garbage) once it has at least this many: one 8-lane
/// permutation costs about four scalar ones.
const MIN_LIVE_FOR_PADDING: usize = 4;

/// Permutes the first `live` states of `group` (the others may be permuted too).
#[inline]
fn permute_live(group: &mut [State; GROUP], live: usize, lanes: usize) {
    if lanes == GROUP && live >= MIN_LIVE_FOR_PADDING {
        permute_many_with(group, lanes);
    } else {
        permute_many_with(&mut group[..live], lanes);
    }
}

#[inline]
fn digest_of(s: &State) -> Digest {
    [s[0], s[1], s[2], s[3]]
}

/// [`hash_or_noop`] of each `width`-element row of `rows` (row-major), into `out`: one digest
/// per row, `rows.len() == out.len() * width`.
pub fn hash_or_noop_many(rows: &[Goldilocks], width: usize, out: &mut [Digest]) {
    hash_or_noop_many_with(rows, width, out, simd_lanes())
}

fn hash_or_noop_many_with(rows: &[Goldilocks], width: usize, out: &mut [Digest], lanes: usize) {
    assert_eq!(
        rows.len(),
        out.len() * width,
        "hash_or_noop_many: {} elements are not {} rows of width {width}",
        rows.len(),
        out.len()
    );
    if width <= 4 {
        // Short rows are their own digest, zero padded.
        for (i, d) in out.iter_mut().enumerate() {
            *d = [Goldilocks::ZERO; 4];
            d[..width].copy_from_slice(&rows[i * width..(i + 1) * width]);
        }
        return;
    }
    for (rows, out) in rows.chunks(GROUP * width).zip(out.chunks_mut(GROUP)) {
        let live = out.len();
        let mut group = [[Goldilocks::ZERO; WIDTH]; GROUP];
        // Overwrite mode: each chunk of up to RATE inputs overwrites the start of the state.
        for start in (0..width).step_by(RATE) {
            let len = RATE.min(width - start);
            for (s, row) in group.iter_mut().zip(rows.chunks_exact(width)) {
                s[..len].copy_from_slice(&row[start..start + len]);
            }
            permute_live(&mut group, live, lanes);
        }
        for (d, s) in out.iter_mut().zip(&group) {
            *d = digest_of(s);
        }
    }
}

/// [`two_to_one`] of each pair of consecutive digests: `out[k]` is the compression of
/// `nodes[2k]` and `nodes[2k + 1]`, `nodes.len() == 2 * out.len()` (one Merkle level).
pub fn two_to_one_many(nodes: &[Digest], out: &mut [Digest]) {
    two_to_one_many_with(nodes, out, simd_lanes())
}

fn two_to_one_many_with(nodes: &[Digest], out: &mut [Digest], lanes: usize) {
    assert_eq!(
        nodes.len(),
        2 * out.len(),
        "two_to_one_many: {} nodes do not pair into {} parents",
        nodes.len(),
        out.len()
    );
    for (pairs, out) in nodes.chunks(2 * GROUP).zip(out.chunks_mut(GROUP)) {
        let live = out.len();
        let mut group = [[Goldilocks::ZERO; WIDTH]; GROUP];
        for (s, p) in group.iter_mut().zip(pairs.chunks_exact(2)) {
            s[..4].copy_from_slice(&p[0]);
            s[4..8].copy_from_slice(&p[1]);
        }
        permute_live(&mut group, live, lanes);
        for (d, s) in out.iter_mut().zip(&group) {
            *d = digest_of(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{hash_or_noop, two_to_one};
    use super::*;

    fn rng(seed: u64) -> impl FnMut() -> Goldilocks {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Goldilocks::new(x)
        }
    }

    /// Every lane count the CPU has, and the scalar path.
    fn lane_counts() -> Vec<usize> {
        let mut v = vec![1, simd_lanes()];
        v.dedup();
        v
    }

    #[test]
    fn row_hashes_equal_hash_or_noop_one_by_one() {
        let mut next = rng(0x1234_5678_9abc_def1);
        for width in [0, 1, 3, 4, 5, 7, 8, 9, 12, 16, 17, 23, 46, 368] {
            for count in [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 33] {
                let rows: Vec<Goldilocks> = (0..width * count).map(|_| next()).collect();
                let want: Vec<Digest> = (0..count)
                    .map(|i| hash_or_noop(&rows[i * width..(i + 1) * width]))
                    .collect();
                for lanes in lane_counts() {
                    let mut got = vec![[Goldilocks::ONE; 4]; count];
                    hash_or_noop_many_with(&rows, width, &mut got, lanes);
                    assert_eq!(got, want, "width {width}, {count} rows, {lanes} lanes");
                }
            }
        }
    }

    #[test]
    fn compressions_equal_two_to_one_one_by_one() {
        let mut next = rng(0x0fed_cba9_8765_4321);
        for count in [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 40] {
            let nodes: Vec<Digest> = (0..2 * count)
                .map(|_| core::array::from_fn(|_| next()))
                .collect();
            let want: Vec<Digest> = nodes.chunks(2).map(|p| two_to_one(&p[0], &p[1])).collect();
            for lanes in lane_counts() {
                let mut got = vec![[Goldilocks::ONE; 4]; count];
                two_to_one_many_with(&nodes, &mut got, lanes);
                assert_eq!(got, want, "{count} pairs, {lanes} lanes");
            }
        }
    }

    #[test]
    #[should_panic(expected = "not 2 rows of width 5")]
    fn row_count_mismatch_panics() {
        hash_or_noop_many(&[Goldilocks::ZERO; 9], 5, &mut [[Goldilocks::ZERO; 4]; 2]);
    }
}
