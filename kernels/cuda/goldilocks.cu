// Goldilocks field arithmetic, p = 2^64 - 2^32 + 1. Every function takes and returns canonical
// values (in 0..p), so results equal the CPU backend's word for word.

#define GL_P 0xFFFFFFFF00000001ull
#define GL_EPS 0xFFFFFFFFull

__device__ __forceinline__ u64 gl_canon(u64 x) {
    return x >= GL_P ? x - GL_P : x;
}

__device__ __forceinline__ u64 gl_add(u64 a, u64 b) {
    u64 s = a + b;
    // On overflow the true sum is 2^64 + s = s + eps (mod p); it is then already below p.
    if (s < a) {
        s += GL_EPS;
    }
    return gl_canon(s);
}

__device__ __forceinline__ u64 gl_sub(u64 a, u64 b) {
    u64 d = a - b;
    // On borrow d = a - b + 2^64; a - b + p = d - eps.
    if (a < b) {
        d -= GL_EPS;
    }
    return d;
}

// Reduces hi * 2^64 + lo.
__device__ __forceinline__ u64 gl_reduce128(u64 lo, u64 hi) {
    u64 hi_hi = hi >> 32;
    u64 hi_lo = hi & GL_EPS;
    // 2^96 = -1 (mod p).
    u64 t0 = lo - hi_hi;
    if (lo < hi_hi) {
        t0 -= GL_EPS;
    }
    // 2^64 = eps (mod p).
    u64 t1 = hi_lo * GL_EPS;
    u64 r = t0 + t1;
    if (r < t1) {
        r += GL_EPS;
    }
    return gl_canon(r);
}

__device__ __forceinline__ u64 gl_mul(u64 a, u64 b) {
    return gl_reduce128(a * b, __umul64hi(a, b));
}

__device__ __forceinline__ u64 gl_pow(u64 base, u64 e) {
    u64 acc = 1;
    while (e != 0) {
        if (e & 1) {
            acc = gl_mul(acc, base);
        }
        base = gl_mul(base, base);
        e >>= 1;
    }
    return acc;
}
