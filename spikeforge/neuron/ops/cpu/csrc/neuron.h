// Fused multi-step neuron kernels for CPUs: arguments, dtypes, the kernel templates.
// Included by every unit (kernels.cpp, compiled once per dtype x kind group, and api.cpp).
// No PyTorch or Python headers: the library builds with one call of the C++ compiler and
// is called through ctypes (spikeforge/neuron/ops/cpu/op.py).
#pragma once
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
// Mirrored field by field by the ctypes Structure in build.py.
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
// LIF multiplies by inv_tau = ST(1) / ST(tau), as the reference does (reference.leak_factor).
template <int KIND, class ST>
inline ST charge(ST v, ST x, ST& i, ST inv_tau, ST ai, ST av, ST vr) {
  if (KIND == IF) return v + x;
  if (KIND == LIF_DECAY) return v + (x - (v - vr)) * inv_tau;
  if (KIND == LIF_NODECAY) return v - (v - vr) * inv_tau + x;
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
  ST inv_tau, ai, av, vr, vreset, c0, c1;
  explicit Consts(const Args& a)
      : inv_tau(ST(1) / (ST)a.tau),
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

// The state of neurons [b0, b0 + n) before step 0: V[-1], the thresholds and (CUBA) I[-1].
// The backward starts its recomputation of H from the same state as the forward.
template <int KIND, class ST>
inline void initial_state(const Args& a, ST* v, ST* th, ST* cur, int64_t b0, int64_t n) {
  gather(v, (const ST*)a.v0, a.v0_mid, a.v0_inner, b0, n);
  gather(th, (const ST*)a.theta, a.th_mid, a.th_inner, b0, n);
  if (KIND == CUBA) {
    if (a.i0) std::memcpy(cur, (const ST*)a.i0 + b0, n * sizeof(ST));
    else std::fill(cur, cur + n, ST(0));
  }
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
    initial_state<KIND>(a, v, th, cur, b0, n);
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
          const ST h = charge<KIND, ST>(vv[j], load<ST>(xt[j]), cc[j], k.inv_tau, k.ai, k.av, k.vr);
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
    initial_state<KIND>(a, v, th, cur, b0, n);
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
          const ST h = charge<KIND, ST>(vv[j], load<ST>(xt[j]), cc[j], k.inv_tau, k.ai, k.av, k.vr);
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
