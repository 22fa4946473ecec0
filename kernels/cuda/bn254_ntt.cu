// Scalar-field NTT, natural order in and out: bit-reversal, then one launch per DIT stage.
// Twiddles of stage s at tw[4 (2^s - 1 + j)] = roots[s]^j (Montgomery form).

extern "C" __global__ void fr_twiddles(u64 *tw, const u64 *roots, u32 log_n) {
    u64 total = (1ull << log_n) - 1;
    u64 k0 = global_thread_id() * 32;
    if (k0 >= total) {
        return;
    }
    u64 end = k0 + 32 < total ? k0 + 32 : total;
    u32 s = 63 - __clzll(k0 + 1);
    f256 root = f_load(roots + 4 * s);
    f256 cur = f_pow<FrCfg>(root, k0 + 1 - (1ull << s));
    for (u64 k = k0; k < end; k++) {
        if (k + 1 == (2ull << s)) {
            s++;
            root = f_load(roots + 4 * s);
            cur = f_one<FrCfg>();
        }
        f_store(tw + 4 * k, cur);
        cur = f_mul<FrCfg>(cur, root);
    }
}

extern "C" __global__ void fr_bitrev(const u64 *src, u64 *dst, u32 log_n) {
    u64 i = global_thread_id();
    if (i >= (1ull << log_n)) {
        return;
    }
    f_store(dst + 4 * brev64(i, log_n), f_load(src + 4 * i));
}

extern "C" __global__ void fr_ntt_stage(u64 *data, const u64 *tw, u32 log_n, u32 s) {
    u64 k = global_thread_id();
    if (k >= (1ull << (log_n - 1))) {
        return;
    }
    u64 j = k & ((1ull << s) - 1);
    u64 i = ((k >> s) << (s + 1)) | j;
    u64 *lo = data + 4 * i;
    u64 *hi = data + 4 * (i + (1ull << s));
    f256 x = f_load(lo);
    f256 y = f_mul<FrCfg>(f_load(hi), f_load(tw + 4 * ((1ull << s) - 1 + j)));
    f_store(lo, f_add<FrCfg>(x, y));
    f_store(hi, f_sub<FrCfg>(x, y));
}

// data[i] *= factor (Montgomery form, given as four limbs).
extern "C" __global__ void fr_scale(u64 *data, u64 n, u64 f0, u64 f1, u64 f2, u64 f3) {
    u64 i = global_thread_id();
    if (i >= n) {
        return;
    }
    f256 f;
    f.l[0] = f0;
    f.l[1] = f1;
    f.l[2] = f2;
    f.l[3] = f3;
    f_store(data + 4 * i, f_mul<FrCfg>(f_load(data + 4 * i), f));
}
