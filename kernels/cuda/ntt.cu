// Radix-2 NTT over Goldilocks, natural order in and out, batched over vectors of 2^log_n.
//
// The transform is decimation in time on the bit-reversed input, the same butterflies as the
// CPU backend: stage s pairs i and i + 2^s (bit s of i clear) with twiddle w_{s+1}^j,
// j = i mod 2^s. The twiddles of stage s sit at tw[2^s - 1 + j] (see gl_twiddles).
//
// The stages run in passes over tiles of NTT_TILE elements held in shared memory:
// - gl_ntt_first gathers the input in bit-reversed order (optionally scaling and zero-padding
//   it, for coset LDEs) and runs stages 0..R-1 into the output buffer;
// - gl_ntt_pass runs R further stages s0..s0+R-1 in place. A tile holds 2^c groups of 2^R
//   elements: group (v, hi, lo) owns v*n + hi*2^(s0+R) + t*2^s0 + lo for t < 2^R, and the 2^c
//   groups of a block have consecutive lo, so global accesses come in runs of 2^c words.
// The host (kernels/src/cuda/goldilocks.rs) plans the passes.

#define NTT_TILE_LOG 12
#define NTT_TILE (1u << NTT_TILE_LOG)
#define NTT_THREADS 256
#define GL_RUN 32

// tw[2^s - 1 + j] = roots[s]^j for s < log_n, j < 2^s. Each thread fills GL_RUN entries.
extern "C" __global__ void gl_twiddles(u64 *tw, const u64 *roots, u32 log_n) {
    u64 total = (1ull << log_n) - 1;
    u64 k0 = global_thread_id() * GL_RUN;
    if (k0 >= total) {
        return;
    }
    u64 end = k0 + GL_RUN < total ? k0 + GL_RUN : total;
    u32 s = 63 - __clzll(k0 + 1);
    u64 cur = gl_pow(roots[s], k0 + 1 - (1ull << s));
    for (u64 k = k0; k < end; k++) {
        if (k + 1 == (2ull << s)) {
            s++;
            cur = 1;
        }
        tw[k] = cur;
        cur = gl_mul(cur, roots[s]);
    }
}

// out[j] = base^j for j < n. Each thread fills GL_RUN entries.
extern "C" __global__ void gl_powers(u64 *out, u64 base, u64 n) {
    u64 j0 = global_thread_id() * GL_RUN;
    if (j0 >= n) {
        return;
    }
    u64 end = j0 + GL_RUN < n ? j0 + GL_RUN : n;
    u64 cur = gl_pow(base, j0);
    for (u64 j = j0; j < end; j++) {
        out[j] = cur;
        cur = gl_mul(cur, base);
    }
}

// Runs stages s0 .. s0+R-1 on a tile of 2^c groups x 2^R elements, element (g, t) at
// smem[(t << c) | g]. Group g's twiddle offset is lo + g * lo_mul.
__device__ __forceinline__ void ntt_tile_stages(u64 *smem, const u64 *tw, u32 s0, u32 R, u32 c,
                                                u64 lo, u32 lo_mul) {
    u32 butterflies = 1u << (R + c - 1);
    u32 gmask = (1u << c) - 1;
    for (u32 r = 0; r < R; r++) {
        __syncthreads();
        const u64 *tws = tw + ((1ull << (s0 + r)) - 1);
        u32 rmask = (1u << r) - 1;
        for (u32 b = threadIdx.x; b < butterflies; b += blockDim.x) {
            u32 g = b & gmask;
            u32 u = b >> c;
            u32 tlo = ((u >> r) << (r + 1)) | (u & rmask);
            u32 ilo = (tlo << c) | g;
            u32 ihi = ilo + (1u << (r + c));
            u64 j = lo + (u64)g * lo_mul + ((u64)(u & rmask) << s0);
            u64 x = smem[ilo];
            u64 y = gl_mul(smem[ihi], tws[j]);
            smem[ilo] = gl_add(x, y);
            smem[ihi] = gl_sub(x, y);
        }
    }
    __syncthreads();
}

// First pass: dst = stages 0..R-1 of the bit-reversed src. Groups G < total_groups (2^(log_n-R)
// per vector); group G = (v, m) gathers src positions (t' << (log_n-R)) + m and writes
// dst[v*n + (rev(m) << R) + t]. With scale != 0, src holds vectors of 2^src_log elements, value
// p is multiplied by scale[p] and positions p >= 2^src_log read as zero (coset LDE). Outputs
// are multiplied by out_factor when it is not 1 (inverse transforms).
extern "C" __global__ void __launch_bounds__(NTT_THREADS)
    gl_ntt_first(const u64 *src, u64 *dst, const u64 *tw, const u64 *scale, u32 log_n,
                 u32 src_log, u32 R, u32 c, u64 total_groups, u64 out_factor) {
    __shared__ u64 smem[NTT_TILE];
    u32 lgr = log_n - R;
    u64 mmask = (1ull << lgr) - 1;
    u64 g0 = (u64)blockIdx.x << c;
    u32 tile = 1u << (R + c);
    u64 n_src = 1ull << src_log;
    for (u32 e = threadIdx.x; e < tile; e += blockDim.x) {
        u32 g, tp;
        if (lgr > 0) {
            g = e & ((1u << c) - 1);
            tp = e >> c;
        } else {
            tp = e & ((1u << R) - 1);
            g = e >> R;
        }
        u64 G = g0 + g;
        u64 val = 0;
        if (G < total_groups) {
            u64 v = G >> lgr;
            u64 p = ((u64)tp << lgr) + (G & mmask);
            if (p < n_src) {
                val = src[(v << src_log) + p];
                if (scale != 0) {
                    val = gl_mul(val, scale[p]);
                }
            }
        }
        smem[(brev32(tp, R) << c) | g] = val;
    }
    ntt_tile_stages(smem, tw, 0, R, c, 0, 0);
    for (u32 e = threadIdx.x; e < tile; e += blockDim.x) {
        u32 t = e & ((1u << R) - 1);
        u32 g = e >> R;
        u64 G = g0 + g;
        if (G < total_groups) {
            u64 v = G >> lgr;
            u64 val = smem[(t << c) | g];
            if (out_factor != 1) {
                val = gl_mul(val, out_factor);
            }
            dst[(v << log_n) + (brev64(G & mmask, lgr) << R) + t] = val;
        }
    }
}

// Later pass: stages s0..s0+R-1 in place. total_groups = count << (log_n - R) is a multiple
// of 2^c and c <= s0.
extern "C" __global__ void __launch_bounds__(NTT_THREADS)
    gl_ntt_pass(u64 *data, const u64 *tw, u32 log_n, u32 s0, u32 R, u32 c, u64 out_factor) {
    __shared__ u64 smem[NTT_TILE];
    u32 lgr = log_n - R;
    u64 g0 = (u64)blockIdx.x << c;
    u64 v = g0 >> lgr;
    u64 rem = g0 & ((1ull << lgr) - 1);
    u64 lo = rem & ((1ull << s0) - 1);
    u64 hi = rem >> s0;
    u64 base = (v << log_n) + (hi << (s0 + R)) + lo;
    u32 tile = 1u << (R + c);
    u32 gmask = (1u << c) - 1;
    for (u32 e = threadIdx.x; e < tile; e += blockDim.x) {
        smem[e] = data[base + ((u64)(e >> c) << s0) + (e & gmask)];
    }
    ntt_tile_stages(smem, tw, s0, R, c, lo, 1);
    for (u32 e = threadIdx.x; e < tile; e += blockDim.x) {
        u64 val = smem[e];
        if (out_factor != 1) {
            val = gl_mul(val, out_factor);
        }
        data[base + ((u64)(e >> c) << s0) + (e & gmask)] = val;
    }
}
