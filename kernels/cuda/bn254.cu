// BN254: Montgomery arithmetic over the base field Fq and the scalar field Fr (4 x 64-bit limbs,
// little endian, the same Montgomery form as arkworks, so values move as plain copies), G1 in
// Jacobian coordinates (a = 0), Pippenger MSM and the radix-2 scalar-field NTT.
// Moduli, -p^-1 mod 2^64 and R mod p come from arkworks through the generated prelude.
// The point operations are __noinline__: inlined everywhere, they made this program take 24 s
// instead of 6 s to compile (NVRTC 12.9, sm_90); their effect on speed is not measured yet.

struct FqCfg {
    static __device__ __forceinline__ u64 p(int i) {
        return i == 0 ? FQ_P0 : i == 1 ? FQ_P1 : i == 2 ? FQ_P2 : FQ_P3;
    }
    static __device__ __forceinline__ u64 one(int i) {
        return i == 0 ? FQ_ONE0 : i == 1 ? FQ_ONE1 : i == 2 ? FQ_ONE2 : FQ_ONE3;
    }
    static __device__ __forceinline__ u64 inv() { return FQ_INV; }
};

struct FrCfg {
    static __device__ __forceinline__ u64 p(int i) {
        return i == 0 ? FR_P0 : i == 1 ? FR_P1 : i == 2 ? FR_P2 : FR_P3;
    }
    static __device__ __forceinline__ u64 one(int i) {
        return i == 0 ? FR_ONE0 : i == 1 ? FR_ONE1 : i == 2 ? FR_ONE2 : FR_ONE3;
    }
    static __device__ __forceinline__ u64 inv() { return FR_INV; }
};

struct f256 {
    u64 l[4];
};

__device__ __forceinline__ f256 f_load(const u64 *p) {
    f256 r;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        r.l[i] = p[i];
    }
    return r;
}

__device__ __forceinline__ void f_store(u64 *p, const f256 &a) {
#pragma unroll
    for (int i = 0; i < 4; i++) {
        p[i] = a.l[i];
    }
}

__device__ __forceinline__ bool f_is_zero(const f256 &a) {
    return (a.l[0] | a.l[1] | a.l[2] | a.l[3]) == 0;
}

__device__ __forceinline__ bool f_eq(const f256 &a, const f256 &b) {
    return ((a.l[0] ^ b.l[0]) | (a.l[1] ^ b.l[1]) | (a.l[2] ^ b.l[2]) | (a.l[3] ^ b.l[3])) == 0;
}

template <class C> __device__ __forceinline__ f256 f_one() {
    f256 r;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        r.l[i] = C::one(i);
    }
    return r;
}

// a >= p
template <class C> __device__ __forceinline__ bool f_geq_p(const u64 *a) {
#pragma unroll
    for (int i = 3; i >= 0; i--) {
        if (a[i] != C::p(i)) {
            return a[i] > C::p(i);
        }
    }
    return true;
}

// a -= p (mod 2^256)
template <class C> __device__ __forceinline__ void f_sub_p(u64 *a) {
    u64 borrow = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        u64 pi = C::p(i);
        u64 d = a[i] - pi;
        u64 b1 = a[i] < pi;
        u64 d2 = d - borrow;
        u64 b2 = d < borrow;
        a[i] = d2;
        borrow = b1 | b2;
    }
}

template <class C> __device__ __forceinline__ f256 f_add(const f256 &a, const f256 &b) {
    // Both moduli are below 2^254, so the sum of two reduced values fits in 256 bits.
    f256 r;
    u64 carry = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        u64 s = a.l[i] + b.l[i];
        u64 c1 = s < a.l[i];
        u64 s2 = s + carry;
        u64 c2 = s2 < s;
        r.l[i] = s2;
        carry = c1 | c2;
    }
    if (f_geq_p<C>(r.l)) {
        f_sub_p<C>(r.l);
    }
    return r;
}

template <class C> __device__ __forceinline__ f256 f_sub(const f256 &a, const f256 &b) {
    f256 r;
    u64 borrow = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        u64 d = a.l[i] - b.l[i];
        u64 b1 = a.l[i] < b.l[i];
        u64 d2 = d - borrow;
        u64 b2 = d < borrow;
        r.l[i] = d2;
        borrow = b1 | b2;
    }
    if (borrow) {
        u64 carry = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            u64 pi = C::p(i);
            u64 s = r.l[i] + pi;
            u64 c1 = s < pi;
            u64 s2 = s + carry;
            u64 c2 = s2 < s;
            r.l[i] = s2;
            carry = c1 | c2;
        }
    }
    return r;
}

template <class C> __device__ __forceinline__ f256 f_dbl(const f256 &a) { return f_add<C>(a, a); }

// Montgomery product a * b / 2^256 mod p (CIOS), fully reduced.
template <class C> __device__ __forceinline__ f256 f_mul(const f256 &a, const f256 &b) {
    u64 t[6];
#pragma unroll
    for (int i = 0; i < 6; i++) {
        t[i] = 0;
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        u64 carry = 0;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            t[j] = mac64(t[j], a.l[j], b.l[i], carry);
        }
        u64 s = t[4] + carry;
        t[5] = s < carry;
        t[4] = s;
        u64 m = t[0] * C::inv();
        carry = 0;
        mac64(t[0], m, C::p(0), carry);
#pragma unroll
        for (int j = 1; j < 4; j++) {
            t[j - 1] = mac64(t[j], m, C::p(j), carry);
        }
        s = t[4] + carry;
        t[3] = s;
        t[4] = t[5] + (s < carry);
    }
    f256 r;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        r.l[i] = t[i];
    }
    if (t[4] != 0 || f_geq_p<C>(r.l)) {
        f_sub_p<C>(r.l);
    }
    return r;
}

template <class C> __device__ __forceinline__ f256 f_sqr(const f256 &a) { return f_mul<C>(a, a); }

// base^e in Montgomery form.
template <class C> __device__ __forceinline__ f256 f_pow(f256 base, u64 e) {
    f256 acc = f_one<C>();
    while (e != 0) {
        if (e & 1) {
            acc = f_mul<C>(acc, base);
        }
        base = f_sqr<C>(base);
        e >>= 1;
    }
    return acc;
}

// ---------------------------------------------------------------------------------------------
// G1: y^2 = x^3 + 3 over Fq, Jacobian (X, Y, Z) with x = X/Z^2, y = Y/Z^3; Z = 0 is infinity.

struct jpt {
    f256 x, y, z;
};

__device__ __forceinline__ jpt j_infinity() {
    jpt r;
    r.x = f_one<FqCfg>();
    r.y = f_one<FqCfg>();
    r.z.l[0] = r.z.l[1] = r.z.l[2] = r.z.l[3] = 0;
    return r;
}

__device__ __forceinline__ jpt j_load(const u64 *p) {
    jpt r;
    r.x = f_load(p);
    r.y = f_load(p + 4);
    r.z = f_load(p + 8);
    return r;
}

__device__ __forceinline__ void j_store(u64 *p, const jpt &a) {
    f_store(p, a.x);
    f_store(p + 4, a.y);
    f_store(p + 8, a.z);
}

// Affine point (x, y), never infinity.
__device__ __forceinline__ jpt j_from_affine(const u64 *p) {
    jpt r;
    r.x = f_load(p);
    r.y = f_load(p + 4);
    r.z = f_one<FqCfg>();
    return r;
}

// dbl-2009-l
__device__ __noinline__ jpt j_dbl(const jpt &p) {
    typedef FqCfg F;
    f256 a = f_sqr<F>(p.x);
    f256 b = f_sqr<F>(p.y);
    f256 c = f_sqr<F>(b);
    f256 d = f_sub<F>(f_sub<F>(f_sqr<F>(f_add<F>(p.x, b)), a), c);
    d = f_dbl<F>(d);
    f256 e = f_add<F>(f_dbl<F>(a), a);
    f256 f = f_sqr<F>(e);
    jpt r;
    r.x = f_sub<F>(f, f_dbl<F>(d));
    f256 c8 = f_dbl<F>(f_dbl<F>(f_dbl<F>(c)));
    r.y = f_sub<F>(f_mul<F>(e, f_sub<F>(d, r.x)), c8);
    r.z = f_dbl<F>(f_mul<F>(p.y, p.z));
    return r;
}

// add-2007-bl with the special cases (infinity, equal points, opposite points).
__device__ __noinline__ jpt j_add(const jpt &p, const jpt &q) {
    typedef FqCfg F;
    if (f_is_zero(p.z)) {
        return q;
    }
    if (f_is_zero(q.z)) {
        return p;
    }
    f256 z1z1 = f_sqr<F>(p.z);
    f256 z2z2 = f_sqr<F>(q.z);
    f256 u1 = f_mul<F>(p.x, z2z2);
    f256 u2 = f_mul<F>(q.x, z1z1);
    f256 s1 = f_mul<F>(f_mul<F>(p.y, q.z), z2z2);
    f256 s2 = f_mul<F>(f_mul<F>(q.y, p.z), z1z1);
    if (f_eq(u1, u2)) {
        return f_eq(s1, s2) ? j_dbl(p) : j_infinity();
    }
    f256 h = f_sub<F>(u2, u1);
    f256 i = f_sqr<F>(f_dbl<F>(h));
    f256 j = f_mul<F>(h, i);
    f256 r = f_dbl<F>(f_sub<F>(s2, s1));
    f256 v = f_mul<F>(u1, i);
    jpt o;
    o.x = f_sub<F>(f_sub<F>(f_sqr<F>(r), j), f_dbl<F>(v));
    o.y = f_sub<F>(f_mul<F>(r, f_sub<F>(v, o.x)), f_dbl<F>(f_mul<F>(s1, j)));
    o.z = f_mul<F>(f_sub<F>(f_sub<F>(f_sqr<F>(f_add<F>(p.z, q.z)), z1z1), z2z2), h);
    return o;
}

// madd-2007-bl: p + (x2, y2) with the affine point not infinity.
__device__ __noinline__ jpt j_add_affine(const jpt &p, const f256 &x2, const f256 &y2) {
    typedef FqCfg F;
    if (f_is_zero(p.z)) {
        jpt o;
        o.x = x2;
        o.y = y2;
        o.z = f_one<F>();
        return o;
    }
    f256 z1z1 = f_sqr<F>(p.z);
    f256 u2 = f_mul<F>(x2, z1z1);
    f256 s2 = f_mul<F>(f_mul<F>(y2, p.z), z1z1);
    if (f_eq(u2, p.x)) {
        return f_eq(s2, p.y) ? j_dbl(p) : j_infinity();
    }
    f256 h = f_sub<F>(u2, p.x);
    f256 hh = f_sqr<F>(h);
    f256 i = f_dbl<F>(f_dbl<F>(hh));
    f256 j = f_mul<F>(h, i);
    f256 r = f_dbl<F>(f_sub<F>(s2, p.y));
    f256 v = f_mul<F>(p.x, i);
    jpt o;
    o.x = f_sub<F>(f_sub<F>(f_sqr<F>(r), j), f_dbl<F>(v));
    o.y = f_sub<F>(f_mul<F>(r, f_sub<F>(v, o.x)), f_dbl<F>(f_mul<F>(p.y, j)));
    o.z = f_sub<F>(f_sub<F>(f_sqr<F>(f_add<F>(p.z, h)), z1z1), hh);
    return o;
}

// k * p by double-and-add.
__device__ jpt j_mul_small(const jpt &p, u64 k) {
    jpt r = j_infinity();
    if (k == 0) {
        return r;
    }
    for (int bit = 63 - __clzll(k); bit >= 0; bit--) {
        r = j_dbl(r);
        if ((k >> bit) & 1) {
            r = j_add(r, p);
        }
    }
    return r;
}
