// Definitions shared by every zkNode CUDA program. NVRTC compiles these sources at run time
// (see kernels/src/cuda/source.rs, which prepends generated constants and concatenates the
// files); they include no headers, so they build with a bare NVRTC.

typedef unsigned long long u64;
typedef unsigned int u32;

// Reverses the lowest `bits` bits of `x` (0 when `bits` is 0).
__device__ __forceinline__ u32 brev32(u32 x, u32 bits) {
    return bits == 0 ? 0u : (__brev(x) >> (32 - bits));
}

__device__ __forceinline__ u64 brev64(u64 x, u32 bits) {
    return bits == 0 ? 0ull : (__brevll(x) >> (64 - bits));
}

// Global thread index, 64-bit.
__device__ __forceinline__ u64 global_thread_id() {
    return (u64)blockIdx.x * (u64)blockDim.x + (u64)threadIdx.x;
}

// 64 x 64 -> 128-bit multiply-accumulate: returns the low word of a + b * c + carry and puts
// the high word into carry. Cannot overflow 128 bits.
__device__ __forceinline__ u64 mac64(u64 a, u64 b, u64 c, u64 &carry) {
    u64 lo = b * c;
    u64 hi = __umul64hi(b, c);
    lo += a;
    hi += (lo < a);
    lo += carry;
    hi += (lo < carry);
    carry = hi;
    return lo;
}
