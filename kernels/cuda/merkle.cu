// Merkle trees in plonky2's layout: leaf hashing (hash_or_noop of each row) and the levels of
// two_to_one compressions. Every node below the cap is also written into the digest layout:
// the 2^cap_height subtrees own consecutive slices of subtree_len digests and node j of a level
// inside a subtree sits at merkle_digest_index(level, j) (kernels/src/merkle.rs).

__device__ __forceinline__ u64 merkle_digest_index(u32 level, u64 j) {
    u64 pair = j >> 1;
    u64 parity = j & 1;
    return 2 * ((pair << (level + 1)) + (1ull << level) - 1) + parity;
}

// Writes node k (counted over all subtrees) of `level` into the layout.
__device__ __forceinline__ void merkle_place(u64 *layout, u32 level, u32 layers, u64 subtree_len,
                                             u64 k, const u64 *d) {
    u32 shift = layers - level;
    u64 t = k >> shift;
    u64 j = k & ((1ull << shift) - 1);
    u64 *dst = layout + 4 * (t * subtree_len + merkle_digest_index(level, j));
#pragma unroll
    for (int q = 0; q < 4; q++) {
        dst[q] = d[q];
    }
}

// Leaf digests. Source row r has element k at src[r * row_stride + k * col_stride]; it becomes
// leaf i = rev_bits ? reverse_bits(r, rev_bits) : r. Writes the digest to compact[4 i ..],
// into the layout (when layers > 0) and, when leaves != 0, the row to leaves[i * width ..].
// Rows of at most four elements are their own zero-padded digest; longer rows go through the
// sponge (overwrite mode, rate 8).
extern "C" __global__ void merkle_hash_rows(const u64 *src, u64 row_stride, u64 col_stride,
                                            u32 width, u64 rows, u32 rev_bits, u64 *leaves,
                                            u64 *compact, u64 *layout, u32 layers,
                                            u64 subtree_len) {
    u64 r = global_thread_id();
    if (r >= rows) {
        return;
    }
    u64 i = rev_bits != 0 ? brev64(r, rev_bits) : r;
    const u64 *row = src + r * row_stride;
    u64 *leaf = leaves != 0 ? leaves + i * (u64)width : 0;
    u64 s[12];
#pragma unroll
    for (int q = 0; q < 12; q++) {
        s[q] = 0;
    }
    if (width <= 4) {
#pragma unroll
        for (u32 q = 0; q < 4; q++) {
            if (q < width) {
                u64 x = row[q * col_stride];
                s[q] = x;
                if (leaf != 0) {
                    leaf[q] = x;
                }
            }
        }
    } else {
        for (u32 k0 = 0; k0 < width; k0 += 8) {
#pragma unroll
            for (u32 q = 0; q < 8; q++) {
                if (k0 + q < width) {
                    u64 x = row[(u64)(k0 + q) * col_stride];
                    s[q] = x;
                    if (leaf != 0) {
                        leaf[k0 + q] = x;
                    }
                }
            }
            poseidon_permute(s);
        }
    }
    u64 *out = compact + 4 * i;
#pragma unroll
    for (int q = 0; q < 4; q++) {
        out[q] = s[q];
    }
    if (layers > 0) {
        merkle_place(layout, 0, layers, subtree_len, i, s);
    }
}

// One level: next[k] = two_to_one(prev[2k], prev[2k+1]) for k < count; nodes of levels below
// the cap (level < layers) also go into the layout.
extern "C" __global__ void merkle_level(const u64 *prev, u64 *next, u64 count, u32 level,
                                        u32 layers, u64 subtree_len, u64 *layout) {
    u64 k = global_thread_id();
    if (k >= count) {
        return;
    }
    u64 d[4];
    poseidon_two_to_one(prev + 8 * k, prev + 8 * k + 4, d);
#pragma unroll
    for (int q = 0; q < 4; q++) {
        next[4 * k + q] = d[q];
    }
    if (level < layers) {
        merkle_place(layout, level, layers, subtree_len, k, d);
    }
}
