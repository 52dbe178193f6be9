"""C++ source of the fused CPU neuron kernels (compiled at first use by :mod:`.cpu_build`).

The source is kept in Python strings rather than ``.cpp`` files so that it ships with
every kind of install (wheel, sdist, editable) without package-data configuration.

It uses no PyTorch or Python headers and exposes a plain C ABI called through
:mod:`ctypes`:

* ``sf_forward(const Args*)`` / ``sf_backward(const Args*)``: one fused pass over all
  ``T`` steps for the neurons of a ``[T, M]`` problem (``M = B * prod(features)``),
  parallelised over neurons with OpenMP (the libgomp that PyTorch already loaded) and
  vectorised by the compiler over blocks of neurons.
* ``sf_pool_*``: a cache of large, already faulted-in buffers handed to PyTorch as
  DLPack tensors (see :mod:`.cpu_pool`).

The library is linked from :data:`UNITS`, compiled in parallel: six units hold the kernel
instantiations (input dtype x pair of neuron kinds, each x reset x surrogate), and
``api`` holds the thread dispatch, the pool and the exported functions.

Exactness: every forward arithmetic step is written in the order the reference
(:func:`spikeforge.neuron.reference.multistep`) evaluates it, in the state dtype, and the
library is compiled with ``-ffp-contract=off`` so no multiply-add is fused. The forward
values (spikes, ``H``, ``V``) are therefore bit-identical to the reference. The backward
recomputes ``H`` from the saved input instead of storing it (zero extra bytes saved per
neuron-step) with the same code; its gradient arithmetic follows autograd's chain rule
term by term except that divisions by ``tau`` become multiplications by ``1/tau``, so
gradients agree with the reference to rounding.

Parameter layout: a threshold or initial potential broadcast over ``[B, *features]`` is
passed as a contiguous vector ``p`` of length ``mid`` read as ``p[(m / inner) % mid]`` for
flat neuron index ``m`` (see :mod:`.params`).
"""

COMMON = r"""
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <vector>
#include <omp.h>
#include <sys/mman.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace sf {

// ----------------------------------------------------------------------------- arguments
// Mirrored field by field by the ctypes Structure in cpu_build.py.
struct Args {
  int64_t T, M;
  int32_t dtype;       // 0 float32, 1 float64, 2 bfloat16 (input / spike / grad_x dtype)
  int32_t kind;        // 0 IF, 1 LIF decay_input, 2 LIF no decay_input, 3 CUBA
  int32_t soft;        // soft reset (V -= theta * S) instead of hard reset
  int32_t detach;      // detach_reset
  int32_t surrogate;   // 0 atan, 1 sigmoid, 2 triangle, 3 rectangle, 4 exponential
  int32_t nthreads;
  int32_t stream;      // write [T, M] outputs with non-temporal stores
  int32_t block;       // neurons per block (0: automatic)
  double tau, alpha_i, alpha_v, v_rest, v_reset;
  double sur_c0, sur_c1;  // surrogate constants, computed in double by Python as surrogate.py does
  const void* x;       // [T, M] input dtype
  void* spikes;        // [T, M] input dtype (forward)
  void* v_seq;         // [T, M] state dtype or null
  void* v_out;         // [M] state dtype (forward)
  void* i_out;         // [M] state dtype (forward, CUBA)
  const void* v0; int64_t v0_mid, v0_inner;
  const void* theta; int64_t th_mid, th_inner;
  const void* i0;      // [M] state dtype or null (zeros)
  const void* g_spikes;  // [T, M] input dtype or null
  const void* g_vseq;    // [T, M] state dtype or null
  const void* g_v;       // [M] state dtype or null
  const void* g_i;       // [M] state dtype or null
  void* g_x;             // [T, M] input dtype or null
  void* g_i0;            // [M] state dtype or null
  void* g_v0;            // [v0_mid] state dtype or null
  void* g_theta;         // [th_mid] state dtype or null
  void* g_acc;           // state dtype scratch for shared parameters: [nthreads, th_mid] then [nthreads, v0_mid]
  int64_t own_period;    // set by run(): see plan_ownership()
};

enum Kind { IF = 0, LIF_DECAY = 1, LIF_NODECAY = 2, CUBA = 3 };
enum Sur { ATAN = 0, SIGMOID = 1, TRIANGLE = 2, RECTANGLE = 3, EXPONENTIAL = 4 };

// ----------------------------------------------------------------------------- dtypes
struct bf16 { uint16_t bits; };

inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

template <class ST> inline ST load(float v) { return (ST)v; }
template <class ST> inline ST load(double v) { return (ST)v; }
template <class ST> inline ST load(bf16 v) { return (ST)bits_to_float((uint32_t)v.bits << 16); }

template <class IT> inline IT store(float v);
template <class IT> inline IT store(double v);
template <> inline float store<float>(float v) { return v; }
template <> inline double store<double>(double v) { return v; }
template <> inline bf16 store<bf16>(float v) {
  // Round to nearest even, as c10::BFloat16; NaN stays a quiet NaN.
  const uint32_t u = float_to_bits(v);
  bf16 r;
  r.bits = (v != v) ? (uint16_t)0x7fc0u : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  return r;
}

// ----------------------------------------------------------------------------- exp
// Branch-free exp (Cephes polynomials) so that the surrogate loops vectorise; within a
// few ulp of libm. Arguments are clamped to the normal range.
inline float sf_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const int32_t e = (int32_t)n + 127;
  return p * bits_to_float((uint32_t)e << 23);
}

inline double sf_exp(double x) {
  x = x < -708.0 ? -708.0 : (x > 709.0 ? 709.0 : x);
  const double n = (x * 1.4426950408889634073599 + 6755399441055744.0) - 6755399441055744.0;
  double r = x - n * 6.93145751953125e-1;
  r = r - n * 1.42860682030941723212e-6;
  const double rr = r * r;
  const double px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 1.0);
  const double q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1) * rr;
  const double e = 1.0 + 2.0 * (px / ((q + 2.0) - px));
  const int64_t k = (int64_t)n + 1023;
  uint64_t b = (uint64_t)k << 52;
  double s;
  std::memcpy(&s, &b, 8);
  return e * s;
}

// ----------------------------------------------------------------------------- one step
template <int KIND, class ST>
inline ST charge(ST v, ST x, ST& i, ST tau, ST ai, ST av, ST vr) {
  if (KIND == IF) return v + x;
  if (KIND == LIF_DECAY) return v + (x - (v - vr)) / tau;
  if (KIND == LIF_NODECAY) return v - (v - vr) / tau + x;
  i = ai * i + x;
  return vr + av * (v - vr) + i;
}

template <bool SOFT, class ST>
inline ST reset(ST h, ST s, ST th, ST vreset) {
  if (SOFT) return h - th * s;
  return h * (ST(1) - s) + vreset * s;
}

// dS/du of the surrogate, with the constants of spec.surrogate_constants().
template <int SUR, class ST>
inline ST surrogate_grad(ST u, ST c0, ST c1) {
  const ST au = u < ST(0) ? -u : u;
  if (SUR == ATAN) {
    const ST ku = c0 * u;
    return c1 / (ST(1) + ku * ku);
  }
  if (SUR == SIGMOID) {
    const ST s = ST(1) / (ST(1) + sf_exp(-(c0 * u)));
    return c0 * s * (ST(1) - s);
  }
  if (SUR == TRIANGLE) {
    const ST d = c0 - au;
    return (d > ST(0) ? d : ST(0)) / c1;
  }
  if (SUR == RECTANGLE) return (au < c0 ? ST(1) : ST(0)) / c1;
  return c0 * sf_exp(-au / c1);
}

// p[(m / inner) % mid] for m in [m0, m0 + n), in runs: contiguous copies when inner == 1,
// constant fills of up to `inner` neurons otherwise (no division per element).
template <class ST>
void gather(ST* out, const ST* p, int64_t mid, int64_t inner, int64_t m0, int64_t n) {
  if (mid == 1) {
    std::fill(out, out + n, p[0]);
    return;
  }
  int64_t c = (m0 / inner) % mid, r = m0 % inner;
  for (int64_t j = 0; j < n;) {
    if (inner == 1) {
      const int64_t run = std::min(n - j, mid - c);
      std::memcpy(out + j, p + c, run * sizeof(ST));
      j += run;
      c = 0;
    } else {
      const int64_t run = std::min(n - j, inner - r);
      std::fill(out + j, out + j + run, p[c]);
      j += run;
      r = 0;
      if (++c == mid) c = 0;
    }
  }
}

// Where the gradients of the threshold and of the initial potential are accumulated:
// * one value per neuron (mid == M): written directly;
// * one value per feature element shared over the batch (inner == 1, mid == own_period):
//   each thread owns a slice of the values (see run()) and sums into the output itself;
// * otherwise: one state-dtype row per thread, summed in float64 after the threads join.
inline bool owned(const Args& a, int64_t mid, int64_t inner) { return inner == 1 && mid == a.own_period; }

template <class ST>
inline ST* acc_theta(const Args& a, int thread) {
  if (!a.g_theta || a.th_mid == a.M) return nullptr;
  if (owned(a, a.th_mid, a.th_inner)) return (ST*)a.g_theta;
  return (ST*)a.g_acc + (int64_t)thread * a.th_mid;
}

template <class ST>
inline ST* acc_v0(const Args& a, int thread) {
  if (!a.g_v0 || a.v0_mid == a.M) return nullptr;
  if (owned(a, a.v0_mid, a.v0_inner)) return (ST*)a.g_v0;
  const bool th_rows = a.g_theta && a.th_mid != a.M && !owned(a, a.th_mid, a.th_inner);
  return (ST*)a.g_acc + (th_rows ? (int64_t)a.nthreads * a.th_mid : 0) + (int64_t)thread * a.v0_mid;
}

// Add the per-neuron gradients g of neurons [m0, m0 + n) to a parameter's gradient, in the
// same runs as gather().
template <class ST>
void scatter(void* dst, ST* row, int64_t mid, int64_t inner, int64_t M, const ST* g, int64_t m0, int64_t n) {
  if (dst == nullptr) return;
  if (mid == M) {
    std::memcpy((ST*)dst + m0, g, n * sizeof(ST));
    return;
  }
  ST* __restrict acc = row;
  if (mid == 1) inner = M;  // one shared value: a single run
  int64_t c = (m0 / inner) % mid, r = m0 % inner;
  for (int64_t j = 0; j < n;) {
    if (inner == 1) {
      const int64_t run = std::min(n - j, mid - c);
#pragma omp simd
      for (int64_t k = 0; k < run; ++k) acc[c + k] += g[j + k];
      j += run;
      c = 0;
    } else {
      const int64_t run = std::min(n - j, inner - r);
      double sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t k = 0; k < run; ++k) sum += (double)g[j + k];
      acc[c] += (ST)sum;
      j += run;
      r = 0;
      if (++c == mid) c = 0;
    }
  }
}

// Write a finished row to its [T, M] output. Outputs much larger than the caches are
// written with non-temporal stores: they skip the read-for-ownership of every line
// (a quarter of a copy's traffic) and do not evict the block being worked on.
inline void put_row(void* dst, const void* src, size_t bytes, bool stream) {
#if defined(__AVX512F__) || defined(__AVX2__) || defined(__SSE2__)
  if (stream) {
    char* d = (char*)dst;
    const char* s = (const char*)src;
    const size_t head = std::min(bytes, (size_t)((64 - ((uintptr_t)d & 63)) & 63));
    std::memcpy(d, s, head);
    size_t k = head;
#if defined(__AVX512F__)
    for (; k + 64 <= bytes; k += 64) _mm512_stream_si512((__m512i*)(d + k), _mm512_loadu_si512(s + k));
#elif defined(__AVX2__)
    for (; k + 32 <= bytes; k += 32) {
      _mm256_stream_si256((__m256i*)(d + k), _mm256_loadu_si256((const __m256i*)(s + k)));
    }
#else
    for (; k + 16 <= bytes; k += 16) _mm_stream_si128((__m128i*)(d + k), _mm_loadu_si128((const __m128i*)(s + k)));
#endif
    std::memcpy(d + k, s + k, bytes - k);
    return;
  }
#endif
  std::memcpy(dst, src, bytes);
}

inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();  // non-temporal stores are weakly ordered: publish them before the threads join
#endif
}

// Rows are processed in sub-blocks of SUB neurons; while one sub-block is computed the
// same sub-block of the row needed next is prefetched, so each row's stream is already
// in flight when it starts (the hardware prefetcher restarts at every new row).
constexpr int64_t SUB = 4096;

inline void prefetch(const void* p, int64_t bytes, bool valid) {
  if (!valid) return;
  const char* c = (const char*)p;
  for (int64_t o = 0; o < bytes; o += 64) {
#if defined(__x86_64__)
    // GCC's vectoriser silently drops __builtin_prefetch from loops it vectorises; asm stays.
    asm volatile("prefetcht0 %0" : : "m"(*(c + o)));
#else
    __builtin_prefetch(c + o, 0, 3);
#endif
  }
}

template <class ST>
struct Consts {
  ST tau, inv_tau, ai, av, vr, vreset, c0, c1;
  explicit Consts(const Args& a)
      : tau((ST)a.tau),
        inv_tau(ST(1) / (ST)a.tau),
        ai((ST)a.alpha_i),
        av((ST)a.alpha_v),
        vr((ST)a.v_rest),
        vreset((ST)a.v_reset),
        c0((ST)a.sur_c0),
        c1((ST)a.sur_c1) {}
};

// Per-thread scratch that outlives calls (OpenMP threads are pooled), so block buffers
// never cost a fresh allocation.
inline char* scratch(size_t bytes) {
  static thread_local std::vector<char> buf;
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  return (char*)(((uintptr_t)buf.data() + 63) & ~(uintptr_t)63);
}

// Neurons per block (a multiple of 64). Forward: the block's state (3 vectors) and one
// output row stay in L2 while the T input rows stream through. Backward: the block's
// recomputed H (T rows) stays in L2.
constexpr int64_t FWD_BLOCK_BYTES = 64 * 1024;
constexpr int64_t BWD_BLOCK_BYTES = 512 * 1024;
constexpr int64_t MAX_BLOCK = 16384;

inline int64_t block_size(int64_t requested, int64_t bytes_per_neuron, int64_t budget) {
  int64_t ch = requested > 0 ? requested : budget / bytes_per_neuron;
  return std::max<int64_t>(64, std::min<int64_t>(MAX_BLOCK, ch)) / 64 * 64;
}

// ----------------------------------------------------------------------------- forward
template <class IT, class ST, int KIND, bool SOFT>
void forward_range(const Args& a, int64_t m0, int64_t m1, int64_t, int) {
  const Consts<ST> k(a);
  const int64_t T = a.T, M = a.M;
  const int64_t CH = block_size(a.block, sizeof(ST), FWD_BLOCK_BYTES);
  ST* v = (ST*)scratch(3 * CH * sizeof(ST) + SUB * sizeof(IT));
  ST* th = v + CH;
  ST* cur = th + CH;
  IT* row = (IT*)(cur + CH);
  const IT* x = (const IT*)a.x;
  IT* sp = (IT*)a.spikes;
  ST* vseq = (ST*)a.v_seq;
  for (int64_t b0 = m0; b0 < m1; b0 += CH) {
    const int64_t n = std::min(CH, m1 - b0);
    gather(v, (const ST*)a.v0, a.v0_mid, a.v0_inner, b0, n);
    gather(th, (const ST*)a.theta, a.th_mid, a.th_inner, b0, n);
    if (KIND == CUBA) {
      if (a.i0) std::memcpy(cur, (const ST*)a.i0 + b0, n * sizeof(ST));
      else std::fill(cur, cur + n, ST(0));
    }
    for (int64_t t = 0; t < T; ++t) {
      const IT* __restrict xt = x + t * M + b0;
      ST* __restrict vv = v;
      ST* __restrict cc = cur;
      const ST* __restrict tt = th;
      const IT* next = t + 1 < T ? xt + M : x + b0 + CH;  // the row read after this one
      for (int64_t j0 = 0; j0 < n; j0 += SUB) {
        const int64_t j1 = std::min(n, j0 + SUB);
        prefetch(next + j0, (j1 - j0) * (int64_t)sizeof(IT), b0 + CH < m1 || t + 1 < T);
        IT* __restrict rr = row - j0;
#pragma omp simd
        for (int64_t j = j0; j < j1; ++j) {
          const ST h = charge<KIND, ST>(vv[j], load<ST>(xt[j]), cc[j], k.tau, k.ai, k.av, k.vr);
          const ST s = (h - tt[j] >= ST(0)) ? ST(1) : ST(0);
          vv[j] = reset<SOFT, ST>(h, s, tt[j], k.vreset);
          rr[j] = store<IT>(s);
        }
        put_row(sp + t * M + b0 + j0, row, (j1 - j0) * sizeof(IT), a.stream);
      }
      if (vseq) put_row(vseq + t * M + b0, v, n * sizeof(ST), a.stream);
    }
    std::memcpy((ST*)a.v_out + b0, v, n * sizeof(ST));
    if (KIND == CUBA) std::memcpy((ST*)a.i_out + b0, cur, n * sizeof(ST));
  }
  stream_fence();
}

// ----------------------------------------------------------------------------- backward
template <class IT, class ST, int KIND, bool SOFT, int SUR>
void backward_range(const Args& a, int64_t m0, int64_t m1, int64_t after, int thread) {
  const Consts<ST> k(a);
  const int64_t T = a.T, M = a.M;
  const int64_t CH = block_size(a.block, T * sizeof(ST), BWD_BLOCK_BYTES);
  ST* hb = (ST*)scratch((size_t)(T + 6) * CH * sizeof(ST) + 2 * CH * sizeof(IT));
  ST* v = hb + T * CH;  // per-block vectors after the H block
  ST* th = v + CH;
  ST* cur = th + CH;
  ST* gv = cur + CH;
  ST* gi = gv + CH;
  ST* gth = gi + CH;
  IT* zero_i = (IT*)(gth + CH);  // stands in for an absent grad_spikes
  IT* row = zero_i + CH;         // grad_x of one sub-block before it is written out
  std::memset((void*)zero_i, 0, CH * sizeof(IT));
  const bool detach = a.detach != 0;
  for (int64_t b0 = m0; b0 < m1; b0 += CH) {
    const int64_t n = std::min(CH, m1 - b0);
    gather(v, (const ST*)a.v0, a.v0_mid, a.v0_inner, b0, n);
    gather(th, (const ST*)a.theta, a.th_mid, a.th_inner, b0, n);
    if (KIND == CUBA) {
      if (a.i0) std::memcpy(cur, (const ST*)a.i0 + b0, n * sizeof(ST));
      else std::fill(cur, cur + n, ST(0));
    }
    // Recompute H[t] exactly as the forward did (same code, same rounding).
    const IT* gs_last = a.g_spikes ? (const IT*)a.g_spikes + (T - 1) * M + b0 : nullptr;
    for (int64_t t = 0; t < T; ++t) {
      const IT* __restrict xt = (const IT*)a.x + t * M + b0;
      // next: the following input row, and after the last one the first grad row read
      const IT* next = t + 1 < T ? xt + M : gs_last;
      ST* __restrict ht = hb + t * n;
      ST* __restrict vv = v;
      ST* __restrict cc = cur;
      const ST* __restrict tt = th;
      for (int64_t j0 = 0; j0 < n; j0 += SUB) {
        const int64_t j1 = std::min(n, j0 + SUB);
        prefetch(next + j0, (j1 - j0) * (int64_t)sizeof(IT), next != nullptr);
#pragma omp simd
        for (int64_t j = j0; j < j1; ++j) {
          const ST h = charge<KIND, ST>(vv[j], load<ST>(xt[j]), cc[j], k.tau, k.ai, k.av, k.vr);
          const ST s = (h - tt[j] >= ST(0)) ? ST(1) : ST(0);
          vv[j] = reset<SOFT, ST>(h, s, tt[j], k.vreset);
          ht[j] = h;
        }
      }
    }
    if (a.g_v) std::memcpy(gv, (const ST*)a.g_v + b0, n * sizeof(ST));
    else std::fill(gv, gv + n, ST(0));
    if (a.g_i) std::memcpy(gi, (const ST*)a.g_i + b0, n * sizeof(ST));
    else std::fill(gi, gi + n, ST(0));
    std::fill(gth, gth + n, ST(0));
    for (int64_t t = T - 1; t >= 0; --t) {
      if (a.g_vseq) {  // the trace's gradient joins dL/dV[t]
        const ST* gvs = (const ST*)a.g_vseq + t * M + b0;
        for (int64_t j = 0; j < n; ++j) gv[j] += gvs[j];
      }
      const ST* __restrict ht = hb + t * n;
      const IT* __restrict gst = a.g_spikes ? (const IT*)a.g_spikes + t * M + b0 : zero_i;
      const ST* __restrict tt = th;
      ST* __restrict gvv = gv;
      ST* __restrict gii = gi;
      ST* __restrict gtt = gth;
      // next: the grad row of step t-1, and after step 0 the next block's first input row
      const int64_t b_next = b0 + CH < m1 ? b0 + CH : after;  // first neuron of the next block, or -1
      const IT* next = t > 0 ? (a.g_spikes ? gst - M : nullptr) : (b_next >= 0 ? (const IT*)a.x + b_next : nullptr);
      for (int64_t j0 = 0; j0 < n; j0 += SUB) {
        const int64_t j1 = std::min(n, j0 + SUB);
        prefetch(next + j0, (j1 - j0) * (int64_t)sizeof(IT), next != nullptr);
        IT* __restrict rr = row - j0;
#pragma omp simd
        for (int64_t j = j0; j < j1; ++j) {
          const ST h = ht[j];
          const ST u = h - tt[j];
          const ST s = (u >= ST(0)) ? ST(1) : ST(0);
          const ST gvt = gvv[j];  // dL/dV[t]
          // dL/dS = output grad + (unless detached) dL/dV[t] * dV/dS
          ST dvds, gvh;
          if (SOFT) {
            dvds = -(gvt * tt[j]);
            gvh = gvt;
          } else {
            dvds = gvt * k.vreset - gvt * h;
            gvh = gvt * (ST(1) - s);
          }
          const ST gs = load<ST>(gst[j]);
          const ST gu = (detach ? gs : gs + dvds) * surrogate_grad<SUR, ST>(u, k.c0, k.c1);
          const ST gh = gvh + gu;  // dL/dH[t]
          gtt[j] = SOFT ? gtt[j] - gu - gvt * s : gtt[j] - gu;
          ST gx;
          if (KIND == IF) {
            gx = gh;
            gvv[j] = gh;
          } else if (KIND == LIF_DECAY) {
            gx = gh * k.inv_tau;
            gvv[j] = gh - gx;
          } else if (KIND == LIF_NODECAY) {
            gx = gh;
            gvv[j] = gh - gh * k.inv_tau;
          } else {
            const ST gI = gh + gii[j];
            gx = gI;
            gii[j] = k.ai * gI;
            gvv[j] = k.av * gh;
          }
          rr[j] = store<IT>(gx);
        }
        if (a.g_x) put_row((IT*)a.g_x + t * M + b0 + j0, row, (j1 - j0) * sizeof(IT), a.stream);
      }
    }
    scatter<ST>(a.g_v0, acc_v0<ST>(a, thread), a.v0_mid, a.v0_inner, M, gv, b0, n);
    scatter<ST>(a.g_theta, acc_theta<ST>(a, thread), a.th_mid, a.th_inner, M, gth, b0, n);
    if (KIND == CUBA && a.g_i0) std::memcpy((ST*)a.g_i0 + b0, gi, n * sizeof(ST));
  }
  stream_fence();
}

// ----------------------------------------------------------------------------- dispatch
// fn(args, m0, m1, after, thread): neurons [m0, m1); `after` is where this thread goes on
// next (-1: nowhere), so the last block can prefetch the next range's first rows.
using RangeFn = void (*)(const Args&, int64_t, int64_t, int64_t, int);

template <class IT, class ST, int KIND, bool SOFT>
RangeFn pick_backward(int sur) {
  switch (sur) {
    case ATAN: return backward_range<IT, ST, KIND, SOFT, ATAN>;
    case SIGMOID: return backward_range<IT, ST, KIND, SOFT, SIGMOID>;
    case TRIANGLE: return backward_range<IT, ST, KIND, SOFT, TRIANGLE>;
    case RECTANGLE: return backward_range<IT, ST, KIND, SOFT, RECTANGLE>;
    case EXPONENTIAL: return backward_range<IT, ST, KIND, SOFT, EXPONENTIAL>;
    default: return nullptr;
  }
}

template <bool BWD, class IT, class ST, int KIND>
RangeFn pick_reset(const Args& a) {
  if (!BWD) return a.soft ? forward_range<IT, ST, KIND, true> : forward_range<IT, ST, KIND, false>;
  return a.soft ? pick_backward<IT, ST, KIND, true>(a.surrogate) : pick_backward<IT, ST, KIND, false>(a.surrogate);
}

// The kinds K0 and K1 for one input dtype: one separately compiled unit (see UNITS).
template <bool BWD, class IT, class ST, int K0, int K1>
RangeFn pick_kinds(const Args& a) {
  if (a.kind == K0) return pick_reset<BWD, IT, ST, K0>(a);
  if (a.kind == K1) return pick_reset<BWD, IT, ST, K1>(a);
  return nullptr;
}

// Defined in the units: <dtype>_if_lif (IF, LIF with decay_input) and <dtype>_lif_cuba
// (LIF without decay_input, CUBA), so that the compiler jobs are about the same size.
#define SF_DECLARE(name)                                   \
  RangeFn pick_##name##_if_lif(const Args& a, bool backward); \
  RangeFn pick_##name##_lif_cuba(const Args& a, bool backward);
SF_DECLARE(f32)
SF_DECLARE(f64)
SF_DECLARE(bf16)
#undef SF_DECLARE

inline RangeFn pick(const Args& a, bool backward) {
  const bool low = a.kind == IF || a.kind == LIF_DECAY;
  switch (a.dtype) {
    case 0: return low ? pick_f32_if_lif(a, backward) : pick_f32_lif_cuba(a, backward);
    case 1: return low ? pick_f64_if_lif(a, backward) : pick_f64_lif_cuba(a, backward);
    case 2: return low ? pick_bf16_if_lif(a, backward) : pick_bf16_lif_cuba(a, backward);
    default: return nullptr;
  }
}

}  // namespace sf
"""

API = r"""
namespace sf {
namespace {

// out[c] = sum over rows r of rows[r * mid + c], in float64, in chunks that stay in L1.
template <class ST>
void sum_rows(ST* out, const ST* rows, int nrows, int64_t mid) {
  constexpr int64_t CHUNK = 1024;
  double acc[CHUNK];
  for (int64_t c0 = 0; c0 < mid; c0 += CHUNK) {
    const int64_t n = std::min(CHUNK, mid - c0);
    std::fill(acc, acc + n, 0.0);
    for (int r = 0; r < nrows; ++r) {
      const ST* __restrict row = rows + (int64_t)r * mid + c0;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) acc[j] += (double)row[j];
    }
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) out[c0 + j] = (ST)acc[j];
  }
}

// Per-neuron parameters shared over the batch (imp / threshold "neuron" sharing: value
// m % mid) would need one mid-long row per thread, read and written for every neuron,
// next to the L2-resident H block. Instead the backward gives each thread a slice
// [c0, c1) of the values and runs it over every batch row q (neurons q*mid + [c0, c1)), so
// a thread sums straight into its slice of the output. Used when slices stay long.
constexpr int64_t MIN_OWNED_SLICE = 4096;

inline int64_t plan_ownership(const Args& a, int nt) {
  int64_t best = 0;
  const int64_t cand[2][3] = {{a.g_theta != nullptr, a.th_mid, a.th_inner},  //
                              {a.g_v0 != nullptr, a.v0_mid, a.v0_inner}};
  for (const auto& c : cand) {
    const int64_t mid = c[1];
    if (c[0] && c[2] == 1 && mid > 1 && mid < a.M && a.M % mid == 0 && mid / nt >= MIN_OWNED_SLICE) {
      best = std::max(best, mid);
    }
  }
  return best;
}

template <class ST>
void run_thread(const Args& a, RangeFn fn, bool backward, int nt, int k) {
  ST* th_acc = backward ? acc_theta<ST>(a, k) : nullptr;
  ST* v0_acc = backward ? acc_v0<ST>(a, k) : nullptr;
  if (a.own_period) {
    const int64_t P = a.own_period, units = (P + 63) / 64;
    const int64_t c0 = std::min(P, units * k / nt * 64), c1 = std::min(P, units * (k + 1) / nt * 64);
    // zero this thread's slice of an owned output, or its whole row
    if (th_acc) {
      const bool own = owned(a, a.th_mid, a.th_inner);
      std::fill(th_acc + (own ? c0 : 0), th_acc + (own ? c1 : a.th_mid), ST(0));
    }
    if (v0_acc) {
      const bool own = owned(a, a.v0_mid, a.v0_inner);
      std::fill(v0_acc + (own ? c0 : 0), v0_acc + (own ? c1 : a.v0_mid), ST(0));
    }
    const int64_t rows = a.M / P;
    for (int64_t q = 0; c0 < c1 && q < rows; ++q) {
      fn(a, q * P + c0, q * P + c1, q + 1 < rows ? (q + 1) * P + c0 : -1, k);
    }
    return;
  }
  if (th_acc) std::fill(th_acc, th_acc + a.th_mid, ST(0));
  if (v0_acc) std::fill(v0_acc, v0_acc + a.v0_mid, ST(0));
  const int64_t units = (a.M + 63) / 64;
  const int64_t lo = std::min(a.M, units * k / nt * 64), hi = std::min(a.M, units * (k + 1) / nt * 64);
  if (lo < hi) fn(a, lo, hi, -1, k);
}

template <class ST>
void sum_shared_gradients(const Args& a, int used) {
  if (a.g_theta && a.th_mid != a.M && !owned(a, a.th_mid, a.th_inner)) {
    sum_rows((ST*)a.g_theta, acc_theta<ST>(a, 0), used, a.th_mid);
  }
  if (a.g_v0 && a.v0_mid != a.M && !owned(a, a.v0_mid, a.v0_inner)) {
    sum_rows((ST*)a.g_v0, acc_v0<ST>(a, 0), used, a.v0_mid);
  }
}

// Neuron ranges start on 64-element boundaries so that threads never share a cache line.
// Row sums run on the calling thread after the parallel region: a barrier inside the
// region costs more than the sum when the machine is oversubscribed (spinning threads
// then hold the cores the late ones need).
int run(const Args& args, RangeFn fn, bool backward) {
  if (fn == nullptr) return -1;
  Args a = args;
  const int requested = std::max(1, a.nthreads);
  a.own_period = backward ? plan_ownership(a, requested) : 0;
  const bool f64 = a.dtype == 1;
  int used = 1;
#pragma omp parallel num_threads(requested)
  {
    const int nt = omp_get_num_threads(), k = omp_get_thread_num();
    if (k == 0) used = nt;
    if (f64) run_thread<double>(a, fn, backward, nt, k);
    else run_thread<float>(a, fn, backward, nt, k);
  }
  if (backward && f64) sum_shared_gradients<double>(a, used);
  if (backward && !f64) sum_shared_gradients<float>(a, used);
  return 0;
}

// ----------------------------------------------------------------------------- buffer pool
// DLPack structures (unversioned ABI, dlpack.h v0.8), declared here to keep the build header-free.
struct DLDevice { int32_t device_type; int32_t device_id; };
struct DLDataType { uint8_t code; uint8_t bits; uint16_t lanes; };
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor*);
};

struct Block { void* ptr; size_t bytes; };
struct Managed {
  DLManagedTensor dl;
  int64_t shape[8];
  Block block;
};

constexpr size_t HUGE_PAGE = size_t(2) << 20;

std::mutex pool_mutex;
std::deque<Block> pool_free;  // most recently released at the back
size_t pool_cached = 0, pool_limit = size_t(1) << 30;
int64_t pool_hits = 0, pool_misses = 0;

void pool_trim_locked() {
  while (pool_cached > pool_limit && !pool_free.empty()) {
    pool_cached -= pool_free.front().bytes;
    std::free(pool_free.front().ptr);
    pool_free.pop_front();
  }
}

void pool_release(DLManagedTensor* self) {
  Managed* m = (Managed*)self;
  {
    std::lock_guard<std::mutex> lock(pool_mutex);
    pool_free.push_back(m->block);
    pool_cached += m->block.bytes;
    pool_trim_locked();
  }
  delete m;
}

Block pool_take(size_t bytes) {
  bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  {
    std::lock_guard<std::mutex> lock(pool_mutex);
    for (auto it = pool_free.rbegin(); it != pool_free.rend(); ++it) {
      if (it->bytes == bytes) {
        Block b = *it;
        pool_free.erase(std::next(it).base());
        pool_cached -= b.bytes;
        ++pool_hits;
        return b;
      }
    }
    ++pool_misses;
  }
  void* p = std::aligned_alloc(HUGE_PAGE, bytes);
  if (p != nullptr) madvise(p, bytes, MADV_HUGEPAGE);  // fewer, larger page faults on first touch
  return Block{p, bytes};
}

}  // namespace
}  // namespace sf

using namespace sf;

extern "C" {

int sf_abi_version() { return 9; }
int64_t sf_args_size() { return (int64_t)sizeof(Args); }

int sf_forward(const Args* a) { return run(*a, pick(*a, false), false); }
int sf_backward(const Args* a) { return run(*a, pick(*a, true), true); }

// A DLManagedTensor of `shape` over a pooled block of at least `bytes` bytes; null on failure.
void* sf_pool_tensor(int64_t bytes, int32_t ndim, const int64_t* shape, int32_t code, int32_t bits) {
  if (ndim < 0 || ndim > 8 || bytes < 0) return nullptr;
  Block b = pool_take((size_t)bytes);
  if (b.ptr == nullptr) return nullptr;
  Managed* m = new Managed();
  m->block = b;
  for (int d = 0; d < ndim; ++d) m->shape[d] = shape[d];
  DLTensor& t = m->dl.dl_tensor;
  t.data = b.ptr;
  t.device = DLDevice{1, 0};  // kDLCPU
  t.ndim = ndim;
  t.dtype = DLDataType{(uint8_t)code, (uint8_t)bits, 1};
  t.shape = m->shape;
  t.strides = nullptr;
  t.byte_offset = 0;
  m->dl.manager_ctx = nullptr;
  m->dl.deleter = pool_release;
  return &m->dl;
}

void sf_pool_set_limit(int64_t bytes) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  pool_limit = bytes < 0 ? 0 : (size_t)bytes;
  pool_trim_locked();
}

// out: cached bytes, limit, hits, misses
void sf_pool_stats(int64_t* out) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  out[0] = (int64_t)pool_cached;
  out[1] = (int64_t)pool_limit;
  out[2] = pool_hits;
  out[3] = pool_misses;
}

}  // extern "C"
"""

_PICK = """
namespace sf {{
RangeFn pick_{name}_{group}(const Args& a, bool backward) {{
  return backward ? pick_kinds<true, {it}, {st}, {kinds}>(a) : pick_kinds<false, {it}, {st}, {kinds}>(a);
}}
}}  // namespace sf
"""

_DTYPES = {"f32": ("float", "float"), "f64": ("double", "double"), "bf16": ("bf16", "float")}
_GROUPS = {"if_lif": "IF, LIF_DECAY", "lif_cuba": "LIF_NODECAY, CUBA"}

# name -> source of one separately compiled unit (six kernel units of similar size, and the API)
UNITS: dict[str, str] = {
    f"{name}_{group}": COMMON + _PICK.format(name=name, group=group, it=it, st=st, kinds=kinds)
    for name, (it, st) in _DTYPES.items()
    for group, kinds in _GROUPS.items()
}
UNITS["api"] = COMMON + API
