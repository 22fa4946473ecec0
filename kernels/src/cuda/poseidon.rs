//! Poseidon permutations, leaf hashing and Merkle trees on the GPU, and the LDE commitment that
//! keeps the LDE on the device until the tree is built.

use cudarc::driver::CudaSlice;

use super::device::{launch, per_item, Gpu};
use super::goldilocks::{lde_into, lde_scratch_bytes};
use super::{digests_from_words, dptr, gl_words, state_words_mut};
use crate::error::{KernelError, Result};
use crate::goldilocks::Goldilocks;
use crate::merkle::{check_shape, MerkleTree};
use crate::poseidon::{Digest, State};
use crate::shape;

/// Threads per block of the Poseidon kernels.
const THREADS: u32 = 256;

/// Permutes `count` states (12 words each) in place.
pub(crate) fn permute_on_device(gpu: &Gpu, states: &mut CudaSlice<u64>, count: u64) -> Result<()> {
    if count == 0 {
        return Ok(());
    }
    launch!(
        gpu,
        "poseidon_permute_states",
        per_item(count, THREADS)?,
        &mut *states,
        &count
    )
}

pub(crate) fn poseidon_permute(gpu: &Gpu, states: &mut [State]) -> Result<()> {
    if states.is_empty() {
        return Ok(());
    }
    gpu.ensure_free(states.len() as u64 * 96)?;
    let words = state_words_mut(states);
    let mut buf = gpu.upload(words)?;
    permute_on_device(gpu, &mut buf, (words.len() / 12) as u64)?;
    gpu.download_into(&buf, words)
}

/// Where the rows of a leaf matrix are: element `k` of source row `r` at
/// `src[r * row_stride + k * col_stride]`; source row `r` is leaf `reverse_bits(r, rev_bits)`
/// (leaf `r` when `rev_bits` is 0).
pub(crate) struct Rows<'a> {
    pub src: &'a CudaSlice<u64>,
    pub row_stride: u64,
    pub col_stride: u64,
    pub width: u32,
    pub rows: u64,
    pub rev_bits: u32,
}

/// Digest layout of a tree, as [`merkle::check_shape`](crate::merkle::check_shape) sizes it.
struct TreeShape {
    layers: u32,
    subtree_len: u64,
    layout_digests: usize,
}

impl TreeShape {
    fn new(log_n: usize, cap_height: usize) -> Self {
        let layers = log_n - cap_height;
        Self {
            layers: layers as u32,
            subtree_len: 2 * ((1u64 << layers) - 1),
            layout_digests: 2 * ((1usize << log_n) - (1usize << cap_height)),
        }
    }
}

/// Device bytes of a tree over `2^log_n` leaves (digest layout and two level buffers).
fn tree_bytes(log_n: usize) -> u64 {
    (32u64 << log_n) * 2 + (32u64 << log_n) + (16u64 << log_n)
}

/// Hashes the leaves and builds every level. Returns the digest layout and the cap (words).
/// With `leaves_out`, the rows are also written there row-major, in leaf order.
pub(crate) fn build_tree(
    gpu: &Gpu,
    rows: &Rows<'_>,
    leaves_out: Option<&mut CudaSlice<u64>>,
    log_n: usize,
    cap_height: usize,
) -> Result<(CudaSlice<u64>, CudaSlice<u64>)> {
    let shape = TreeShape::new(log_n, cap_height);
    let n = 1u64 << log_n;
    let mut layout = gpu.alloc::<u64>(4 * shape.layout_digests)?;
    let mut cur = gpu.alloc::<u64>(4 * n as usize)?;
    let mut next = gpu.alloc::<u64>(4 * (n as usize / 2))?;
    let leaves_ptr = leaves_out.map_or(0, |b| dptr(gpu, b));
    let layout_ptr = dptr(gpu, &layout);
    let (layers, subtree_len) = (shape.layers, shape.subtree_len);
    launch!(
        gpu,
        "merkle_hash_rows",
        per_item(rows.rows, THREADS)?,
        rows.src,
        &rows.row_stride,
        &rows.col_stride,
        &rows.width,
        &rows.rows,
        &rows.rev_bits,
        &leaves_ptr,
        &mut cur,
        &layout_ptr,
        &layers,
        &subtree_len
    )?;
    for level in 1..=layers {
        let count = n >> level;
        launch!(
            gpu,
            "merkle_level",
            per_item(count, THREADS)?,
            &cur,
            &mut next,
            &count,
            &level,
            &layers,
            &subtree_len,
            &mut layout
        )?;
        std::mem::swap(&mut cur, &mut next);
    }
    Ok((layout, cur))
}

/// Copies a built tree back into a [`MerkleTree`].
fn download_tree(
    gpu: &Gpu,
    leaves: Vec<Goldilocks>,
    width: usize,
    log_n: usize,
    cap_height: usize,
    layout: &CudaSlice<u64>,
    cap: &CudaSlice<u64>,
) -> Result<MerkleTree> {
    let shape = TreeShape::new(log_n, cap_height);
    let mut digest_words = vec![0u64; 4 * shape.layout_digests];
    gpu.download_into(layout, &mut digest_words)?;
    let mut cap_words = vec![0u64; 4 << cap_height];
    gpu.download_into(cap, &mut cap_words)?;
    Ok(MerkleTree {
        leaves,
        leaf_width: width,
        digests: digests_from_words(&digest_words),
        cap: digests_from_words(&cap_words),
    })
}

fn width_u32(width: usize) -> Result<u32> {
    u32::try_from(width).map_err(|_| {
        KernelError::InvalidArgument(format!(
            "row width {width} is too large for the GPU kernels"
        ))
    })
}

pub(crate) fn hash_rows(gpu: &Gpu, rows: &[Goldilocks], width: usize) -> Result<Vec<Digest>> {
    if width == 0 || !rows.len().is_multiple_of(width) {
        return Err(KernelError::InvalidArgument(format!(
            "cannot split {} elements into rows of width {width}",
            rows.len()
        )));
    }
    let count = rows.len() / width;
    if count == 0 {
        return Ok(Vec::new());
    }
    gpu.ensure_free(rows.len() as u64 * 8 + count as u64 * 32)?;
    let src = gpu.upload(gl_words(rows))?;
    let mut out = gpu.alloc::<u64>(4 * count)?;
    let (w, n, zero_u32, zero_u64, row_stride, col_stride) = (
        width_u32(width)?,
        count as u64,
        0u32,
        0u64,
        width as u64,
        1u64,
    );
    launch!(
        gpu,
        "merkle_hash_rows",
        per_item(n, THREADS)?,
        &src,
        &row_stride,
        &col_stride,
        &w,
        &n,
        &zero_u32,
        &zero_u64,
        &mut out,
        &zero_u64,
        &zero_u32,
        &zero_u64
    )?;
    let mut words = vec![0u64; 4 * count];
    gpu.download_into(&out, &mut words)?;
    Ok(digests_from_words(&words))
}

pub(crate) fn merkle_tree(
    gpu: &Gpu,
    leaves: Vec<Goldilocks>,
    width: usize,
    cap_height: usize,
) -> Result<MerkleTree> {
    let log_n = check_shape(leaves.len(), width, cap_height)?;
    gpu.ensure_free(leaves.len() as u64 * 8 + tree_bytes(log_n))?;
    let src = gpu.upload(gl_words(&leaves))?;
    let rows = Rows {
        src: &src,
        row_stride: width as u64,
        col_stride: 1,
        width: width_u32(width)?,
        rows: 1 << log_n,
        rev_bits: 0,
    };
    let (layout, cap) = build_tree(gpu, &rows, None, log_n, cap_height)?;
    drop(src);
    download_tree(gpu, leaves, width, log_n, cap_height, &layout, &cap)
}

/// Device buffers of an LDE commitment, kept for repeated runs.
pub(crate) struct LdeCommit {
    count: usize,
    log_n: usize,
    rate_bits: usize,
    cap_height: usize,
    coeffs: CudaSlice<u64>,
    lde: CudaSlice<u64>,
    leaves: CudaSlice<u64>,
}

impl LdeCommit {
    /// Checks the request like the CPU backend, checks free memory and uploads the coefficients.
    pub fn new(
        gpu: &Gpu,
        coeffs: &[Goldilocks],
        log_n: usize,
        rate_bits: usize,
        cap_height: usize,
    ) -> Result<Self> {
        let count = shape::lde(coeffs.len(), log_n, rate_bits)?;
        let log_big = log_n + rate_bits;
        check_shape(count << log_big, count, cap_height)?;
        width_u32(count)?;
        let big_bytes = (count as u64) << log_big << 3;
        gpu.ensure_free(
            coeffs.len() as u64 * 8
                + 2 * big_bytes
                + lde_scratch_bytes(log_n, rate_bits)
                + tree_bytes(log_big),
        )?;
        let coeffs = gpu.upload(gl_words(coeffs))?;
        let lde = gpu.alloc::<u64>(count << log_big)?;
        let leaves = gpu.alloc::<u64>(count << log_big)?;
        Ok(Self {
            count,
            log_n,
            rate_bits,
            cap_height,
            coeffs,
            lde,
            leaves,
        })
    }

    /// LDE, bit-reversed transposition into rows, leaf hashes and tree, all on the device.
    pub fn run(&mut self, gpu: &Gpu) -> Result<(CudaSlice<u64>, CudaSlice<u64>)> {
        let log_big = self.log_n + self.rate_bits;
        lde_into(
            gpu,
            &self.coeffs,
            &mut self.lde,
            self.count,
            self.log_n,
            self.rate_bits,
            Goldilocks::MULTIPLICATIVE_GENERATOR,
        )?;
        let rows = Rows {
            src: &self.lde,
            row_stride: 1,
            col_stride: 1 << log_big,
            width: self.count as u32,
            rows: 1 << log_big,
            rev_bits: log_big as u32,
        };
        build_tree(gpu, &rows, Some(&mut self.leaves), log_big, self.cap_height)
    }

    /// Runs once and copies leaves, digests and cap back.
    pub fn commit(mut self, gpu: &Gpu) -> Result<MerkleTree> {
        let (layout, cap) = self.run(gpu)?;
        let log_big = self.log_n + self.rate_bits;
        let mut leaves = vec![Goldilocks::ZERO; self.count << log_big];
        gpu.download_into(&self.leaves, super::gl_words_mut(&mut leaves))?;
        download_tree(
            gpu,
            leaves,
            self.count,
            log_big,
            self.cap_height,
            &layout,
            &cap,
        )
    }
}
