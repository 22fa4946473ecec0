// MSM (Pippenger). Scalars are split into `windows` digits of c bits; for each window the
// (point, digit) pairs with a non-zero digit are counting-sorted by digit (histogram, scan,
// scatter). Bucket sums S_b then come from levels of msm_chunks: each thread adds K consecutive
// entries run by run, so a crowded bucket is spread over many threads and every level divides
// the number of entries by K; msm_finish adds the last entries. Each window's sum_b b * S_b is
// formed over segments of buckets (msm_segments) and the segments are added up
// (bn_sum_groups). The host combines the windows.

// Canonical integers from Montgomery-form scalars (multiply by 1, i.e. one reduction).
extern "C" __global__ void bn_scalars_canonical(const u64 *in, u64 *out, u64 n) {
    u64 i = global_thread_id();
    if (i >= n) {
        return;
    }
    f256 one;
    one.l[0] = 1;
    one.l[1] = one.l[2] = one.l[3] = 0;
    f_store(out + 4 * i, f_mul<FrCfg>(f_load(in + 4 * i), one));
}

__device__ __forceinline__ u32 msm_digit(const u64 *s, u32 w, u32 c) {
    u32 bit = w * c;
    u32 limb = bit >> 6;
    u32 off = bit & 63;
    u64 v = s[limb] >> off;
    if (off + c > 64 && limb < 3) {
        v |= s[limb + 1] << (64 - off);
    }
    return (u32)(v & ((1ull << c) - 1));
}

extern "C" __global__ void msm_histogram(const u64 *scalars, u32 *counts, u64 n, u32 c,
                                         u32 windows) {
    u64 i = global_thread_id();
    if (i >= n) {
        return;
    }
    const u64 *s = scalars + 4 * i;
    for (u32 w = 0; w < windows; w++) {
        u32 d = msm_digit(s, w, c);
        if (d != 0) {
            atomicAdd(&counts[((u64)w << c) | d], 1u);
        }
    }
}

// One block of MSM_SCAN_THREADS per window: exclusive prefix sums of the 2^c bucket counts into
// cursor (where msm_scatter puts each bucket's entries), the window's total into totals[w].
#define MSM_SCAN_THREADS 256
extern "C" __global__ void __launch_bounds__(MSM_SCAN_THREADS)
    msm_scan(const u32 *counts, u32 *cursor, u32 *totals, u32 c) {
    __shared__ u32 sums[MSM_SCAN_THREADS];
    u32 buckets = 1u << c;
    u32 per = (buckets + MSM_SCAN_THREADS - 1) / MSM_SCAN_THREADS;
    u64 base = (u64)blockIdx.x << c;
    u32 start = threadIdx.x * per;
    u32 end = start + per < buckets ? start + per : buckets;
    u32 local = 0;
    for (u32 k = start; k < end; k++) {
        local += counts[base + k];
    }
    sums[threadIdx.x] = local;
    __syncthreads();
    if (threadIdx.x == 0) {
        u32 acc = 0;
        for (u32 t = 0; t < MSM_SCAN_THREADS; t++) {
            u32 x = sums[t];
            sums[t] = acc;
            acc += x;
        }
        totals[blockIdx.x] = acc;
    }
    __syncthreads();
    u32 acc = sums[threadIdx.x];
    for (u32 k = start; k < end; k++) {
        cursor[base + k] = acc;
        acc += counts[base + k];
    }
}

extern "C" __global__ void msm_scatter(const u64 *scalars, u32 *cursor, u32 *sorted_idx,
                                       u32 *sorted_bucket, u64 n, u32 c, u32 windows) {
    u64 i = global_thread_id();
    if (i >= n) {
        return;
    }
    const u64 *s = scalars + 4 * i;
    for (u32 w = 0; w < windows; w++) {
        u32 d = msm_digit(s, w, c);
        if (d != 0) {
            u32 pos = atomicAdd(&cursor[((u64)w << c) | d], 1u);
            sorted_idx[(u64)w * n + pos] = (u32)i;
            sorted_bucket[(u64)w * n + pos] = d;
        }
    }
}

// Entry e of window w at one level: a sorted (point, digit) pair at level 0, a chunk sum later.
__device__ __forceinline__ jpt msm_entry(u32 level, const u64 *points, const u32 *in_idx,
                                         const u64 *in_pts, u64 at) {
    return level == 0 ? j_from_affine(points + 8 * (u64)in_idx[at]) : j_load(in_pts + 12 * at);
}

// Adds a run to its bucket (infinity is all-zero, so the buckets start zeroed).
__device__ __forceinline__ void msm_add_to_bucket(u64 *bucket_acc, u64 at, const jpt &p) {
    u64 *dst = bucket_acc + 12 * at;
    j_store(dst, j_add(j_load(dst), p));
}

// One level of bucket sums. Window w has m = ceil(totals[w] / div) entries at this level, at
// in_* + w * in_stride, labelled with their bucket in nondecreasing order. Thread (w, q), for
// q < qpw, adds entries [qK, qK + K) run by run: the run starting the chunk goes to
// out_pts/out_label[w * cpw + q] (the next level's entry q); every other run begins its
// bucket's entries at this level, so no other thread of this level touches that bucket, and
// it is added to bucket_acc.
extern "C" __global__ void __launch_bounds__(128)
    msm_chunks(const u64 *points, const u32 *in_idx, const u64 *in_pts, const u32 *in_label,
               u64 in_stride, const u32 *totals, u64 div, u64 *out_pts, u32 *out_label,
               u64 *bucket_acc, u32 c, u32 windows, u32 K, u64 qpw, u64 cpw, u32 level) {
    u64 gid = global_thread_id();
    if (gid >= (u64)windows * qpw) {
        return;
    }
    u32 w = (u32)(gid / qpw);
    u64 q = gid - (u64)w * qpw;
    u64 m = ((u64)totals[w] + div - 1) / div;
    u64 start = q * K;
    if (start >= m) {
        return;
    }
    u64 end = start + K < m ? start + K : m;
    u64 base = (u64)w * in_stride;
    u64 out = (u64)w * cpw + q;
    u64 wb = (u64)w << c;
    u32 cur = in_label[base + start];
    jpt acc = msm_entry(level, points, in_idx, in_pts, base + start);
    bool first = true;
    for (u64 e = start + 1; e < end; e++) {
        u32 b = in_label[base + e];
        if (b != cur) {
            if (first) {
                j_store(out_pts + 12 * out, acc);
                out_label[out] = cur;
            } else {
                msm_add_to_bucket(bucket_acc, wb | cur, acc);
            }
            first = false;
            cur = b;
            acc = msm_entry(level, points, in_idx, in_pts, base + e);
        } else if (level == 0) {
            const u64 *pt = points + 8 * (u64)in_idx[base + e];
            acc = j_add_affine(acc, f_load(pt), f_load(pt + 4));
        } else {
            acc = j_add(acc, j_load(in_pts + 12 * (base + e)));
        }
    }
    if (first) {
        j_store(out_pts + 12 * out, acc);
        out_label[out] = cur;
    } else {
        msm_add_to_bucket(bucket_acc, wb | cur, acc);
    }
}

// After the last level every window has at most one entry left: add it to its bucket.
extern "C" __global__ void msm_finish(const u64 *pts, const u32 *labels, const u32 *totals,
                                      u64 *bucket_acc, u32 c, u32 windows, u64 cpw) {
    u64 w = global_thread_id();
    if (w >= windows || totals[w] == 0) {
        return;
    }
    u64 at = w * cpw;
    msm_add_to_bucket(bucket_acc, (w << c) | labels[at], j_load(pts + 12 * at));
}

// Thread (w, seg) covers buckets [lo, lo + 2^(c - seg_log)) of window w and writes
// sum_b b * S_b over them to seg_out[w << seg_log | seg].
extern "C" __global__ void msm_segments(const u64 *bucket_sums, u64 *seg_out, u32 c,
                                        u32 windows, u32 seg_log) {
    u64 gid = global_thread_id();
    if (gid >= ((u64)windows << seg_log)) {
        return;
    }
    u32 w = (u32)(gid >> seg_log);
    u32 seg = (u32)(gid & ((1u << seg_log) - 1));
    u32 size = 1u << (c - seg_log);
    u64 lo = (u64)seg * size;
    const u64 *s = bucket_sums + 12 * ((u64)w << c);
    jpt running = j_infinity();
    jpt weighted = j_infinity();
    // weighted = sum_{b > lo} (b - lo) S_b, running = sum_b S_b.
    for (u64 b = lo + size - 1; b > lo; b--) {
        running = j_add(running, j_load(s + 12 * b));
        weighted = j_add(weighted, running);
    }
    running = j_add(running, j_load(s + 12 * lo));
    if (lo != 0) {
        weighted = j_add(weighted, j_mul_small(running, lo));
    }
    j_store(seg_out + 12 * gid, weighted);
}

// out[k] = in[k F] + ... + in[k F + F - 1] for k < count_out (Jacobian points).
extern "C" __global__ void bn_sum_groups(const u64 *in, u64 *out, u64 count_out, u32 F) {
    u64 k = global_thread_id();
    if (k >= count_out) {
        return;
    }
    jpt acc = j_load(in + 12 * (k * F));
    for (u32 i = 1; i < F; i++) {
        acc = j_add(acc, j_load(in + 12 * (k * F + i)));
    }
    j_store(out + 12 * k, acc);
}
