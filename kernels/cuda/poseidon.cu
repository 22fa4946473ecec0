// Poseidon over Goldilocks, width 12, x^7 S-box, POSEIDON_HALF_FULL_ROUNDS full rounds, then
// POSEIDON_PARTIAL_ROUNDS partial rounds, then full rounds again; round r adds
// POSEIDON_RC[12 r + i] to lane i, then the S-box, then the MDS matrix (circulant + diagonal).
// The constants come from the Rust tables (generated prelude). One thread per state.

__device__ __forceinline__ u64 poseidon_sbox(u64 x) {
    u64 x2 = gl_mul(x, x);
    u64 x4 = gl_mul(x2, x2);
    return gl_mul(gl_mul(x4, x2), x);
}

// out[r] = sum_i s[(i + r) % 12] * CIRC[i] + s[r] * DIAG[r]. The entries are small, so the sum is
// accumulated exactly from the 32-bit halves of the lanes and reduced once.
__device__ __forceinline__ void poseidon_mds(u64 s[12]) {
    const u32 circ[12] = POSEIDON_MDS_CIRC;
    const u32 diag[12] = POSEIDON_MDS_DIAG;
    u64 out[12];
#pragma unroll
    for (int r = 0; r < 12; r++) {
        u64 lo_sum = (s[r] & 0xFFFFFFFFull) * diag[r];
        u64 hi_sum = (s[r] >> 32) * diag[r];
#pragma unroll
        for (int i = 0; i < 12; i++) {
            u64 x = s[(i + r) % 12];
            lo_sum += (x & 0xFFFFFFFFull) * circ[i];
            hi_sum += (x >> 32) * circ[i];
        }
        // value = lo_sum + hi_sum * 2^32, both sums < 2^43.
        u64 lo = lo_sum + (hi_sum << 32);
        u64 hi = (hi_sum >> 32) + (lo < lo_sum);
        out[r] = gl_reduce128(lo, hi);
    }
#pragma unroll
    for (int r = 0; r < 12; r++) {
        s[r] = out[r];
    }
}

__device__ __forceinline__ void poseidon_full_round(u64 s[12], int round) {
#pragma unroll
    for (int i = 0; i < 12; i++) {
        s[i] = poseidon_sbox(gl_add(s[i], POSEIDON_RC[12 * round + i]));
    }
    poseidon_mds(s);
}

__device__ __forceinline__ void poseidon_partial_round(u64 s[12], int round) {
#pragma unroll
    for (int i = 0; i < 12; i++) {
        s[i] = gl_add(s[i], POSEIDON_RC[12 * round + i]);
    }
    s[0] = poseidon_sbox(s[0]);
    poseidon_mds(s);
}

__device__ void poseidon_permute(u64 s[12]) {
    int round = 0;
#pragma unroll 1
    for (int k = 0; k < POSEIDON_HALF_FULL_ROUNDS; k++, round++) {
        poseidon_full_round(s, round);
    }
#pragma unroll 1
    for (int k = 0; k < POSEIDON_PARTIAL_ROUNDS; k++, round++) {
        poseidon_partial_round(s, round);
    }
#pragma unroll 1
    for (int k = 0; k < POSEIDON_HALF_FULL_ROUNDS; k++, round++) {
        poseidon_full_round(s, round);
    }
}

// Permutes count states of 12 words in place.
extern "C" __global__ void poseidon_permute_states(u64 *states, u64 count) {
    u64 k = global_thread_id();
    if (k >= count) {
        return;
    }
    u64 *p = states + 12 * k;
    u64 s[12];
#pragma unroll
    for (int i = 0; i < 12; i++) {
        s[i] = p[i];
    }
    poseidon_permute(s);
#pragma unroll
    for (int i = 0; i < 12; i++) {
        p[i] = s[i];
    }
}

// plonky2's two_to_one: permute [left, right, 0^4] and keep the first four lanes.
__device__ __forceinline__ void poseidon_two_to_one(const u64 *left, const u64 *right, u64 *out) {
    u64 s[12];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        s[i] = left[i];
        s[4 + i] = right[i];
        s[8 + i] = 0;
    }
    poseidon_permute(s);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        out[i] = s[i];
    }
}
