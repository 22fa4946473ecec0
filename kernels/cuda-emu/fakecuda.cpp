// A fake libcuda.so: the driver API subset cudarc uses, running the kernels (compiled from the
// exact program sources by g++ with shim.h) on the CPU.
#include "shim.h"
#include <ucontext.h>
#include <cstring>
#include <vector>
#include <string>
#include <map>
#include <random>
#include <algorithm>
#include <utility>
#include <type_traits>
#include <mutex>
static std::recursive_mutex M;

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace goldi {
#include "goldilocks.cu"
}
namespace bn {
#include "bn254.cu"
}

template <typename... A, size_t... I>
static void call_impl(void (*f)(A...), void **p, std::index_sequence<I...>) {
    f(*static_cast<std::remove_reference_t<A> *>(p[I])...);
}
template <typename... A> static void call(void (*f)(A...), void **p) {
    call_impl(f, p, std::index_sequence_for<A...>{});
}

struct Kernel { const char *name; void (*run)(void **); bool barrier; };
#define K(ns, n, b) {#n, [](void **p) { call(ns::n, p); }, b}
static Kernel KERNELS[] = {
    K(goldi, gl_twiddles, false), K(goldi, gl_powers, false), K(goldi, gl_ntt_first, true),
    K(goldi, gl_ntt_pass, true), K(goldi, poseidon_permute_states, false),
    K(goldi, merkle_hash_rows, false), K(goldi, merkle_level, false),
    K(bn, bn_scalars_canonical, false), K(bn, msm_histogram, false), K(bn, msm_scan, true),
    K(bn, msm_scatter, false), K(bn, msm_chunks, false), K(bn, msm_finish, false),
    K(bn, msm_segments, false), K(bn, bn_sum_groups, false), K(bn, fr_twiddles, false),
    K(bn, fr_bitrev, false), K(bn, fr_ntt_stage, false), K(bn, fr_scale, false),
};

// ---- fibers
static ucontext_t sched_ctx;
struct Fiber { ucontext_t ctx; bool done; unsigned tid; };
static std::vector<Fiber> fibers;
static std::vector<char> stacks;
static const size_t STACK = 256 * 1024;
static Fiber *cur_fiber = nullptr;
static Kernel *cur_kernel;
static void **cur_params;
static std::mt19937_64 rng(12345);
static long launches = 0, barrier_phases = 0;

void emu_syncthreads() {
    if (!cur_fiber) { fprintf(stderr, "fakecuda: __syncthreads outside a fiber (%s)\n", cur_kernel->name); abort(); }
    swapcontext(&cur_fiber->ctx, &sched_ctx);
}
static void fiber_main() {
    cur_kernel->run(cur_params);
    cur_fiber->done = true;
    swapcontext(&cur_fiber->ctx, &sched_ctx);
}
static void set_tid(unsigned t) {
    threadIdx.x = t % blockDim.x; threadIdx.y = 0; threadIdx.z = 0;
}
static void run_block_fibers(unsigned nthreads) {
    if (fibers.size() < nthreads) { fibers.resize(nthreads); stacks.resize(STACK * nthreads); }
    for (unsigned t = 0; t < nthreads; t++) {
        Fiber &f = fibers[t];
        f.done = false; f.tid = t;
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = &stacks[STACK * t];
        f.ctx.uc_stack.ss_size = STACK;
        f.ctx.uc_link = nullptr;
        makecontext(&f.ctx, fiber_main, 0);
    }
    std::vector<unsigned> order(nthreads);
    for (unsigned t = 0; t < nthreads; t++) order[t] = t;
    bool alive = true;
    while (alive) {
        alive = false;
        std::shuffle(order.begin(), order.end(), rng);
        barrier_phases++;
        for (unsigned t : order) {
            Fiber &f = fibers[t];
            if (f.done) continue;
            cur_fiber = &f;
            set_tid(t);
            swapcontext(&sched_ctx, &f.ctx);
            cur_fiber = nullptr;
            if (!f.done) alive = true;
        }
    }
}

extern "C" {
typedef int CUresult;
typedef unsigned long long CUdeviceptr;
static char fake_ctx_obj, fake_mod_obj;
static void *current_ctx = nullptr;
static size_t allocated = 0;
static std::map<unsigned long long, size_t> allocs;
static const size_t TOTAL = 16ull << 30;

CUresult cuInit(unsigned) { std::lock_guard<std::recursive_mutex> lock_(M); return 0; }
CUresult cuDriverGetVersion(int *v) { std::lock_guard<std::recursive_mutex> lock_(M); *v = 12040; return 0; }
CUresult cuDeviceGetCount(int *n) { std::lock_guard<std::recursive_mutex> lock_(M); *n = 1; return 0; }
CUresult cuDeviceGet(int *d, int ordinal) { std::lock_guard<std::recursive_mutex> lock_(M); if (ordinal != 0) return 101; *d = 0; return 0; }
CUresult cuDeviceGetAttribute(int *v, int attr, int) { std::lock_guard<std::recursive_mutex> lock_(M);
    switch (attr) {
    case 16: *v = 4; break;          // SMs
    case 75: *v = 9; break;          // compute major
    case 76: *v = 0; break;          // compute minor
    case 115: *v = 0; break;         // no memory pools: synchronous alloc/free
    default: *v = 0;
    }
    return 0;
}
CUresult cuDeviceGetName(char *buf, int len, int) { std::lock_guard<std::recursive_mutex> lock_(M); snprintf(buf, len, "zkNode CPU emulation of CUDA"); return 0; }
CUresult cuDeviceTotalMem_v2(size_t *b, int) { std::lock_guard<std::recursive_mutex> lock_(M); *b = TOTAL; return 0; }
CUresult cuDevicePrimaryCtxRetain(void **ctx, int) { std::lock_guard<std::recursive_mutex> lock_(M); *ctx = &fake_ctx_obj; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int) { std::lock_guard<std::recursive_mutex> lock_(M); return 0; }
CUresult cuCtxGetCurrent(void **c) { std::lock_guard<std::recursive_mutex> lock_(M); *c = current_ctx; return 0; }
CUresult cuCtxSetCurrent(void *c) { std::lock_guard<std::recursive_mutex> lock_(M); current_ctx = c; return 0; }
CUresult cuCtxSynchronize() { std::lock_guard<std::recursive_mutex> lock_(M); return 0; }
CUresult cuMemGetInfo_v2(size_t *f, size_t *t) { std::lock_guard<std::recursive_mutex> lock_(M);
    *f = TOTAL - allocated; *t = TOTAL;
    if (const char *e = getenv("FAKECUDA_FREE_BYTES")) *f = strtoull(e, nullptr, 10);
    return 0;
}
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) { std::lock_guard<std::recursive_mutex> lock_(M);
    void *m = aligned_alloc(256, (n + 255) / 256 * 256 + 256);
    if (!m) return 2;
    memset(m, 0xA5, n);   // garbage, like fresh device memory
    *p = (CUdeviceptr)m; allocs[*p] = n; allocated += n;
    return 0;
}
CUresult cuMemFree_v2(CUdeviceptr p) { std::lock_guard<std::recursive_mutex> lock_(M);
    auto it = allocs.find(p);
    if (it == allocs.end()) { fprintf(stderr, "fakecuda: bad free\n"); abort(); }
    allocated -= it->second; allocs.erase(it); free((void *)p);
    return 0;
}
CUresult cuMemsetD8Async(CUdeviceptr p, unsigned char v, size_t n, void *) { std::lock_guard<std::recursive_mutex> lock_(M); memset((void *)p, v, n); return 0; }
CUresult cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n) { std::lock_guard<std::recursive_mutex> lock_(M); memset((void *)p, v, n); return 0; }
static bool in_alloc(CUdeviceptr p, size_t n) {
    auto it = allocs.upper_bound(p);
    if (it == allocs.begin()) return false;
    --it;
    return p >= it->first && p + n <= it->first + it->second;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, void *) { std::lock_guard<std::recursive_mutex> lock_(M);
    if (!in_alloc(d, n)) { fprintf(stderr, "fakecuda: HtoD out of bounds\n"); abort(); }
    memcpy((void *)d, s, n); return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, void *) { std::lock_guard<std::recursive_mutex> lock_(M);
    if (!in_alloc(s, n)) { fprintf(stderr, "fakecuda: DtoH out of bounds\n"); abort(); }
    memcpy(d, (void *)s, n); return 0;
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void *) { std::lock_guard<std::recursive_mutex> lock_(M); memmove((void *)d, (void *)s, n); return 0; }
CUresult cuStreamSynchronize(void *) { std::lock_guard<std::recursive_mutex> lock_(M); return 0; }
CUresult cuModuleLoadData(void **m, const void *) { std::lock_guard<std::recursive_mutex> lock_(M); *m = &fake_mod_obj; return 0; }
CUresult cuModuleUnload(void *) { std::lock_guard<std::recursive_mutex> lock_(M); return 0; }
CUresult cuModuleGetFunction(void **f, void *, const char *name) { std::lock_guard<std::recursive_mutex> lock_(M);
    for (auto &k : KERNELS) if (!strcmp(k.name, name)) { *f = &k; return 0; }
    return 500;
}
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned smem, void *, void **params, void **) { std::lock_guard<std::recursive_mutex> lock_(M);
    Kernel *k = (Kernel *)f;
    if (gy != 1 || gz != 1 || by != 1 || bz != 1 || bx == 0 || bx > 1024 || gx == 0 || smem != 0) return 1;
    launches++;
    gridDim = {gx, 1, 1}; blockDim = {bx, 1, 1};
    cur_kernel = k; cur_params = params;
    std::vector<unsigned> blocks(gx);
    for (unsigned b = 0; b < gx; b++) blocks[b] = b;
    std::shuffle(blocks.begin(), blocks.end(), rng);
    for (unsigned b : blocks) {
        blockIdx = {b, 0, 0};
        if (k->barrier) {
            run_block_fibers(bx);
        } else {
            for (unsigned t = 0; t < bx; t++) { set_tid(t); k->run(params); }
        }
    }
    if (getenv("FAKECUDA_TRACE")) fprintf(stderr, "fakecuda: %s <<<%u, %u>>>\n", k->name, gx, bx);
    return 0;
}
CUresult cuGetExportTable(const void **t, const void *) { std::lock_guard<std::recursive_mutex> lock_(M); *t = nullptr; return 801; }
CUresult cuGetErrorString(int e, const char **s) { std::lock_guard<std::recursive_mutex> lock_(M); *s = e == 0 ? "no error" : "fake CUDA error"; return 0; }
CUresult cuGetErrorName(int e, const char **s) { std::lock_guard<std::recursive_mutex> lock_(M); *s = e == 0 ? "CUDA_SUCCESS" : "CUDA_ERROR_FAKE"; return 0; }
}
