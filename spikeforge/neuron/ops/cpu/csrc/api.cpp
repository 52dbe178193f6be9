// Thread dispatch, the output buffer pool and the exported C functions.
#include "neuron.h"

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
