// Greedy sampling of every sampled position of a decode in one native call, and the other pieces the embedded
// engine needs inside node-llama-cpp's context: decode runs, a persistent CPU pool, sequence moves, the bound on
// outputs per decode, and greedy sampling in llama.cpp's graph.
//
// node-llama-cpp 3.21.1 samples one position per call: each call copies the whole vocabulary into a candidate
// array (12 bytes a token) and scans it, on libuv's pool. At 256 sequences of a 128k vocabulary that is ~1 GB of
// memory traffic per step; measured on an H200 host it cost 11 ms a step with 16 pool threads (25.8 ms with 4),
// a quarter of the step. Here the argmax runs directly on llama.cpp's logits rows, shared out over parked threads.
//
// The llama_context comes from node-llama-cpp's own AddonContext object (its header, compiled in, gives the
// layout); init() checks the context's parameters against the values the caller passed before trusting it,
// and the caller cross-checks the first result against node-llama-cpp's sampler. llama.cpp's functions are
// looked up in the libllama node-llama-cpp already loaded (dlopen RTLD_NOLOAD), never linked.
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "AddonContext.h"

namespace {

using get_logits_ith_t = float* (*)(llama_context*, int32_t);
using get_logits_t = float* (*)(llama_context*);
using get_model_t = const llama_model* (*)(const llama_context*);
using model_get_vocab_t = const llama_vocab* (*)(const llama_model*);
using vocab_n_tokens_t = int32_t (*)(const llama_vocab*);
using attach_threadpool_t = void (*)(llama_context*, ggml_threadpool_t, ggml_threadpool_t);
using detach_threadpool_t = void (*)(llama_context*);
using reg_by_name_t = ggml_backend_reg_t (*)(const char*);
using reg_proc_t = void* (*)(ggml_backend_reg_t, const char*);
using tp_params_default_t = ggml_threadpool_params (*)(int);
using tp_new_t = ggml_threadpool_t (*)(ggml_threadpool_params*);
using tp_free_t = void (*)(ggml_threadpool_t);
using tp_pause_t = void (*)(ggml_threadpool_t);
using decode_t = int32_t (*)(llama_context*, llama_batch);
using synchronize_t = void (*)(llama_context*);
using batch_init_t = llama_batch (*)(int32_t, int32_t, int32_t);
using batch_free_t = void (*)(llama_batch);
using get_memory_t = llama_memory_t (*)(const llama_context*);
using seq_cp_t = void (*)(llama_memory_t, llama_seq_id, llama_seq_id, llama_pos, llama_pos);
using seq_rm_t = bool (*)(llama_memory_t, llama_seq_id, llama_pos, llama_pos);
using chain_params_t = llama_sampler_chain_params (*)(void);
using chain_init_t = llama_sampler* (*)(llama_sampler_chain_params);
using chain_add_t = void (*)(llama_sampler*, llama_sampler*);
using greedy_init_t = llama_sampler* (*)(void);
using set_sampler_t = bool (*)(llama_context*, llama_seq_id, llama_sampler*);
using sampled_ith_t = llama_token (*)(llama_context*, int32_t);
using sampler_free_t = void (*)(llama_sampler*);
using sampler_init_t = llama_sampler* (*)(llama_sampler_i*, llama_sampler_context_t);
using g_argmax_t = ggml_tensor* (*)(ggml_context*, ggml_tensor*);
using g_view_1d_t = ggml_tensor* (*)(ggml_context*, ggml_tensor*, int64_t, size_t);
using g_reshape_1d_t = ggml_tensor* (*)(ggml_context*, ggml_tensor*, int64_t);
using g_nelements_t = int64_t (*)(const ggml_tensor*);

struct Api {
  get_logits_ith_t get_logits_ith = nullptr;
  get_logits_t get_logits = nullptr;
  get_model_t get_model = nullptr;
  model_get_vocab_t model_get_vocab = nullptr;
  vocab_n_tokens_t vocab_n_tokens = nullptr;
  decode_t decode = nullptr;
  synchronize_t synchronize = nullptr;
  batch_init_t batch_init = nullptr;
  batch_free_t batch_free = nullptr;
  // Optional: moving a sequence to another id (moveSequence).
  get_memory_t get_memory = nullptr;
  seq_cp_t seq_cp = nullptr;
  seq_rm_t seq_rm = nullptr;
  chain_params_t chain_params = nullptr;
  chain_init_t chain_init = nullptr;
  chain_add_t chain_add = nullptr;
  greedy_init_t greedy_init = nullptr;
  set_sampler_t set_sampler = nullptr;
  sampled_ith_t sampled_ith = nullptr;
  sampler_free_t sampler_free = nullptr;
  sampler_init_t sampler_init = nullptr;
  g_argmax_t g_argmax = nullptr;
  g_view_1d_t g_view_1d = nullptr;
  g_reshape_1d_t g_reshape_1d = nullptr;
  g_nelements_t g_nelements = nullptr;
  // Optional: a persistent CPU thread pool (attachThreadpool).
  attach_threadpool_t attach_threadpool = nullptr;
  detach_threadpool_t detach_threadpool = nullptr;
  tp_params_default_t tp_params_default = nullptr;
  tp_new_t tp_new = nullptr;
  tp_free_t tp_free = nullptr;
  tp_pause_t tp_pause = nullptr;
} api;

napi_value Throw(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

uint32_t Uint(napi_env env, napi_value v) {
  uint32_t out = 0;
  napi_get_value_uint32(env, v, &out);
  return out;
}

// A typed array of `want`'s data and length; false when the value is something else.
bool Typed(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length) {
  napi_typedarray_type type;
  return napi_get_typedarray_info(env, v, &type, length, data, nullptr, nullptr) == napi_ok && type == want;
}

// tokens as a new Uint32Array.
napi_value TokenArray(napi_env env, const std::vector<int32_t>& tokens) {
  napi_value buf, arr;
  void* raw = nullptr;
  napi_create_arraybuffer(env, tokens.size() * sizeof(int32_t), &raw, &buf);
  std::copy(tokens.begin(), tokens.end(), static_cast<int32_t*>(raw));
  napi_create_typedarray(env, napi_uint32_array, tokens.size(), buf, 0, &arr);
  return arr;
}

// node-llama-cpp's AddonContext behind a JS context object, or nullptr after throwing why.
AddonContext* UnwrapContext(napi_env env, napi_value v) {
  void* wrapped = nullptr;
  if (napi_unwrap(env, v, &wrapped) != napi_ok || wrapped == nullptr) {
    Throw(env, "not a node-llama-cpp native context");
    return nullptr;
  }
  return static_cast<AddonContext*>(wrapped);
}

// The same, initialized and not disposed.
AddonContext* LiveContext(napi_env env, napi_value v) {
  AddonContext* ac = UnwrapContext(env, v);
  if (ac == nullptr) return nullptr;
  if (ac->ctx == nullptr || ac->disposed) {
    Throw(env, "the context is not initialized");
    return nullptr;
  }
  return ac;
}

// The same, with a batch ready to decode (initBatch / addToBatch done).
AddonContext* DecodableContext(napi_env env, napi_value v) {
  AddonContext* ac = LiveContext(env, v);
  if (ac == nullptr) return nullptr;
  if (!ac->has_batch) {
    Throw(env, "no batch to decode (initBatch first)");
    return nullptr;
  }
  return ac;
}

// init(libllamaPath): resolves llama.cpp's functions in the already loaded library.
napi_value Init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char path[4096];
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &len) != napi_ok) {
    return Throw(env, "init(libllamaPath) needs a path");
  }
  void* lib = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
  if (!lib) return Throw(env, std::string("libllama is not loaded: ") + path);
  api.get_logits_ith = reinterpret_cast<get_logits_ith_t>(dlsym(lib, "llama_get_logits_ith"));
  api.get_logits = reinterpret_cast<get_logits_t>(dlsym(lib, "llama_get_logits"));
  api.get_model = reinterpret_cast<get_model_t>(dlsym(lib, "llama_get_model"));
  api.model_get_vocab = reinterpret_cast<model_get_vocab_t>(dlsym(lib, "llama_model_get_vocab"));
  api.vocab_n_tokens = reinterpret_cast<vocab_n_tokens_t>(dlsym(lib, "llama_vocab_n_tokens"));
  api.decode = reinterpret_cast<decode_t>(dlsym(lib, "llama_decode"));
  api.synchronize = reinterpret_cast<synchronize_t>(dlsym(lib, "llama_synchronize"));
  api.get_memory = reinterpret_cast<get_memory_t>(dlsym(lib, "llama_get_memory"));
  api.seq_cp = reinterpret_cast<seq_cp_t>(dlsym(lib, "llama_memory_seq_cp"));
  api.seq_rm = reinterpret_cast<seq_rm_t>(dlsym(lib, "llama_memory_seq_rm"));
  api.batch_init = reinterpret_cast<batch_init_t>(dlsym(lib, "llama_batch_init"));
  api.chain_params = reinterpret_cast<chain_params_t>(dlsym(lib, "llama_sampler_chain_default_params"));
  api.chain_init = reinterpret_cast<chain_init_t>(dlsym(lib, "llama_sampler_chain_init"));
  api.chain_add = reinterpret_cast<chain_add_t>(dlsym(lib, "llama_sampler_chain_add"));
  api.greedy_init = reinterpret_cast<greedy_init_t>(dlsym(lib, "llama_sampler_init_greedy"));
  api.set_sampler = reinterpret_cast<set_sampler_t>(dlsym(lib, "llama_set_sampler"));
  api.sampled_ith = reinterpret_cast<sampled_ith_t>(dlsym(lib, "llama_get_sampled_token_ith"));
  api.sampler_free = reinterpret_cast<sampler_free_t>(dlsym(lib, "llama_sampler_free"));
  api.sampler_init = reinterpret_cast<sampler_init_t>(dlsym(lib, "llama_sampler_init"));
  api.g_argmax = reinterpret_cast<g_argmax_t>(dlsym(lib, "ggml_argmax"));
  api.g_view_1d = reinterpret_cast<g_view_1d_t>(dlsym(lib, "ggml_view_1d"));
  api.g_reshape_1d = reinterpret_cast<g_reshape_1d_t>(dlsym(lib, "ggml_reshape_1d"));
  api.g_nelements = reinterpret_cast<g_nelements_t>(dlsym(lib, "ggml_nelements"));
  api.batch_free = reinterpret_cast<batch_free_t>(dlsym(lib, "llama_batch_free"));
  if (!api.batch_init || !api.batch_free ||!api.get_logits_ith || !api.get_logits || !api.get_model || !api.model_get_vocab || !api.vocab_n_tokens ||
      !api.decode || !api.synchronize) {
    return Throw(env, "libllama lacks llama_decode / llama_get_logits_ith / llama_get_model / llama_vocab_n_tokens");
  }
  // dlsym on libllama's handle also searches the libraries it loaded (libggml, libggml-base). The CPU backend
  // may itself be a dynamically loaded variant, so its thread pool functions come through its registry.
  api.attach_threadpool = reinterpret_cast<attach_threadpool_t>(dlsym(lib, "llama_attach_threadpool"));
  api.detach_threadpool = reinterpret_cast<detach_threadpool_t>(dlsym(lib, "llama_detach_threadpool"));
  api.tp_params_default = reinterpret_cast<tp_params_default_t>(dlsym(lib, "ggml_threadpool_params_default"));
  auto reg_by_name = reinterpret_cast<reg_by_name_t>(dlsym(lib, "ggml_backend_reg_by_name"));
  auto reg_proc = reinterpret_cast<reg_proc_t>(dlsym(lib, "ggml_backend_reg_get_proc_address"));
  ggml_backend_reg_t cpu = reg_by_name ? reg_by_name("CPU") : nullptr;
  if (cpu && reg_proc) {
    api.tp_new = reinterpret_cast<tp_new_t>(reg_proc(cpu, "ggml_threadpool_new"));
    api.tp_free = reinterpret_cast<tp_free_t>(reg_proc(cpu, "ggml_threadpool_free"));
  }
  // ggml_threadpool_pause is exported by the CPU backend's library but not offered through its registry: look it
  // up in whichever library ggml_threadpool_new came from (a backend variant loaded at run time, or libggml-cpu).
  Dl_info where;
  if (api.tp_new && dladdr(reinterpret_cast<void*>(api.tp_new), &where) != 0 && where.dli_fname != nullptr) {
    if (void* cpu_lib = dlopen(where.dli_fname, RTLD_NOW | RTLD_NOLOAD)) {
      api.tp_pause = reinterpret_cast<tp_pause_t>(dlsym(cpu_lib, "ggml_threadpool_pause"));
    }
  }
  return nullptr;
}

// The CPU thread pools attached to contexts, so that a step's argmax can pause them (ArgmaxRows).
struct AttachedPool {
  llama_context* ctx;
  ggml_threadpool_t tp;
  uint32_t threads;
};
std::mutex pools_mu;
std::vector<AttachedPool> pools;

bool AttachedPoolOf(llama_context* ctx, AttachedPool& out) {
  std::lock_guard<std::mutex> lk(pools_mu);
  for (const auto& p : pools) {
    if (p.ctx == ctx) {
      out = p;
      return true;
    }
  }
  return false;
}

// attachThreadpool(handle, nThreads) -> external thread pool. Without one, ggml's CPU backend (built without
// OpenMP, as node-llama-cpp's binaries are) starts n - 1 threads for every graph it computes and joins them at
// the end: measured on a 2-core VM, 2 threads made a batch-1 decode step 3.6x slower than llama-batched-bench
// (whose OpenMP build keeps its threads). A pool attached to the context keeps its threads between steps, as
// llama.cpp's own CLI does; ggml's default polling (50) lets them spin briefly, then sleep.
napi_value AttachThreadpool(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 2) return Throw(env, "attachThreadpool(handle, nThreads)");
  void* ctx = nullptr;
  if (napi_get_value_external(env, argv[0], &ctx) != napi_ok || ctx == nullptr) return Throw(env, "bad handle");
  if (!api.attach_threadpool || !api.detach_threadpool || !api.tp_params_default || !api.tp_new || !api.tp_free) {
    return Throw(env, "this llama.cpp build exposes no CPU thread pool functions");
  }
  ggml_threadpool_params params = api.tp_params_default(static_cast<int>(Uint(env, argv[1])));
  ggml_threadpool_t tp = api.tp_new(&params);
  if (tp == nullptr) return Throw(env, "ggml_threadpool_new failed");
  api.attach_threadpool(static_cast<llama_context*>(ctx), tp, tp);
  {
    std::lock_guard<std::mutex> lk(pools_mu);
    pools.push_back({static_cast<llama_context*>(ctx), tp, params.n_threads > 0 ? static_cast<uint32_t>(params.n_threads) : 1});
  }
  napi_value out;
  napi_create_external(env, tp, nullptr, nullptr, &out);
  return out;
}

// detachThreadpool(handle, pool): before the context is freed.
napi_value DetachThreadpool(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void* ctx = nullptr;
  void* tp = nullptr;
  if (argc < 2 || napi_get_value_external(env, argv[0], &ctx) != napi_ok ||
      napi_get_value_external(env, argv[1], &tp) != napi_ok || ctx == nullptr || tp == nullptr) {
    return Throw(env, "detachThreadpool(handle, pool)");
  }
  api.detach_threadpool(static_cast<llama_context*>(ctx));
  {
    std::lock_guard<std::mutex> lk(pools_mu);
    pools.erase(std::remove_if(pools.begin(), pools.end(), [&](const AttachedPool& p) { return p.tp == tp; }),
                pools.end());
  }
  api.tp_free(static_cast<ggml_threadpool_t>(tp));
  return nullptr;
}

// contextHandle(addonContext, nCtxMin, nCtxMax, nBatch, nSeqMax) -> external: node-llama-cpp's llama_context,
// after checking that the fields before it hold what the caller created the context with (node-llama-cpp pads
// the context size and may add one batch slot).
napi_value ContextHandle(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 5) return Throw(env, "contextHandle(context, nCtxMin, nCtxMax, nBatch, nSeqMax)");
  AddonContext* ac = UnwrapContext(env, argv[0]);
  if (ac == nullptr) return nullptr;
  const llama_context_params& p = ac->context_params;
  const uint32_t n_batch = Uint(env, argv[3]);
  if (p.n_ctx < Uint(env, argv[1]) || p.n_ctx > Uint(env, argv[2]) || (p.n_batch != n_batch && p.n_batch != n_batch + 1) ||
      p.n_ubatch != p.n_batch || p.n_seq_max != Uint(env, argv[4])) {
    return Throw(env, "node-llama-cpp's context layout differs from the header this was built with");
  }
  if (ac->ctx == nullptr || ac->disposed) return Throw(env, "the context is not initialized");
  napi_value out;
  napi_create_external(env, ac->ctx, nullptr, nullptr, &out);
  return out;
}

struct Work {
  llama_context* ctx;
  // Set for decodeArgmax: the batch node-llama-cpp's addToBatch filled, decoded here before the argmax.
  AddonContext* decode_from = nullptr;
  std::vector<int32_t> positions;
  uint32_t threads;
  std::vector<int32_t> tokens;
  std::string error;
  bool decode_failed = false;
  uint64_t decode_ns = 0;
  uint64_t sample_ns = 0;
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref keep = nullptr;
  napi_ref timings = nullptr;
};

uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// Exactly llama.cpp's greedy sampler, which keeps the first element greater than all before it: the first
// maximum wins, NaNs never win, and a NaN first logit wins (nothing compares greater than it). One pass on 8-wide
// vectors (GCC/Clang vector extensions): each lane keeps its largest value and the index where it first saw it
// (a strict comparison, so later equal values never replace it); then the smallest index among the lanes that
// hold the maximum. Measured on this project's EPYC (AVX-512) against the earlier two passes (the maximum, then
// the first block holding it): 64 rows of 128k just copied, as llama.cpp leaves them, 0.77 vs 1.35 ms on one
// thread; one row 0.009 vs 0.016 ms. Cloned per instruction set: the binary is built where it runs, but may be
// copied to an older CPU.
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

__attribute__((target_clones("avx512f", "avx2", "default"))) int32_t Argmax(const float* row, int32_t n) {
  if (std::isnan(row[0])) return 0;
  const float f = row[0];
  v8f m0 = {f, f, f, f, f, f, f, f}, m1 = m0;
  v8i i0 = {0, 0, 0, 0, 0, 0, 0, 0}, i1 = i0;
  v8i ca = {0, 1, 2, 3, 4, 5, 6, 7}, cb = {8, 9, 10, 11, 12, 13, 14, 15};
  const v8i sixteen = {16, 16, 16, 16, 16, 16, 16, 16};
  int32_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v8f a, b;
    std::memcpy(&a, row + i, sizeof a);
    std::memcpy(&b, row + i + 8, sizeof b);
    const v8i ga = a > m0, gb = b > m1;
    m0 = ga ? a : m0;
    i0 = ga ? ca : i0;
    m1 = gb ? b : m1;
    i1 = gb ? cb : i1;
    ca += sixteen;
    cb += sixteen;
  }
  float max = f;
  int32_t idx = 0;
  for (int32_t j = 0; j < 8; j++) {
    if (m0[j] > max || (m0[j] == max && i0[j] < idx)) max = m0[j], idx = i0[j];
    if (m1[j] > max || (m1[j] == max && i1[j] < idx)) max = m1[j], idx = i1[j];
  }
  for (int32_t k = i; k < n; k++) {
    if (row[k] > max) max = row[k], idx = k;
  }
  return idx;
}

// Rows are shared out over threads that live as long as the process. Starting a thread per row group at every
// step cost tens of microseconds a thread, which at 16-64 sequences on a GPU host is a visible share of a
// ~10-20 ms step; parked threads wake in a few. Rows are taken one at a time from a shared counter, so a thread
// that wakes late finds the work done instead of delaying the step. One job at a time; the pool is never
// destroyed (its threads are detached and parked at exit, so no destructor may run under them).
class RowPool {
 public:
  static RowPool& Get() {
    static RowPool* pool = new RowPool();
    return *pool;
  }

  // fn(i) for every i in [0, n), on the calling thread and up to `threads` - 1 pool threads.
  void Run(size_t n, size_t threads, const std::function<void(size_t)>& fn) {
    // at least two rows a thread: every participant must wake before the step goes on
    const size_t use = std::min(threads, (n + 1) / 2);
    const size_t workers = use > 0 ? use - 1 : 0;
    if (workers == 0) {
      for (size_t i = 0; i < n; i++) fn(i);
      return;
    }
    std::lock_guard<std::mutex> job(job_mu_);
    {
      std::lock_guard<std::mutex> lk(mu_);
      while (started_ < workers) std::thread(&RowPool::Loop, this, started_++, gen_).detach();
      fn_ = &fn;
      n_ = n;
      next_.store(0, std::memory_order_relaxed);
      participants_ = workers;
      running_ = workers;
      gen_++;
    }
    wake_.notify_all();
    Drain();
    std::unique_lock<std::mutex> lk(mu_);
    done_.wait(lk, [&] { return running_ == 0; });
  }

 private:
  void Drain() {
    for (size_t i = next_.fetch_add(1); i < n_; i = next_.fetch_add(1)) (*fn_)(i);
  }

  void Loop(size_t id, uint64_t seen) {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      wake_.wait(lk, [&] { return gen_ != seen; });
      seen = gen_;
      if (id >= participants_) continue;
      lk.unlock();
      Drain();
      lk.lock();
      if (--running_ == 0) done_.notify_one();
    }
  }

  std::mutex job_mu_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  uint64_t gen_ = 0;
  size_t started_ = 0;
  size_t participants_ = 0;
  size_t running_ = 0;
  size_t n_ = 0;
  const std::function<void(size_t)>* fn_ = nullptr;
  std::atomic<size_t> next_{0};
};

// Rows x vocabulary from which a step's argmax pauses llama.cpp's CPU pool and takes its cores (4 MB of logits).
constexpr uint64_t kPauseFloats = uint64_t{1} << 20;
// Steps whose argmax paused the pool, process-wide (pausedArgmaxSteps(), for the tests).
std::atomic<uint64_t> paused_steps{0};

// Greedy sampling in llama.cpp's compute graph (backendGreedy), so that the device argmaxes the output rows and
// only token ids come back, instead of every row of logits (0.5 MB per sequence for a 128k vocabulary: 32 MB a
// step at batch 64, copied to pinned host memory and scanned there). llama.cpp gives every sequence its own
// sampler and hands each one a view of its row of the step's (padded) logits; its own greedy sampler then adds
// one argmax per row, a single-block kernel each, run one after another: measured on an H100 at batch 256 that
// made the step 58.5 ms against 44.3 for llama-batched-bench (host argmax: 46.5). This sampler, attached to
// every sequence, adds one argmax over all the rows the views share, once per graph, and returns for each row a
// one-element view of it: 45.8 ms. Its state (the argmax of the graph being built) is shared by the context's
// samplers and cleared by backend_reset, which llama.cpp calls on every sampler before it builds a graph. A view
// of another layout (not a whole row of an F32 matrix) gets an argmax of its own, as llama.cpp's greedy does.
struct RowArgmax {
  ggml_tensor* src = nullptr;
  ggml_tensor* all = nullptr;
  // Every backend_init so far found ARGMAX on the sampling device (probed with llama.cpp's own greedy sampler).
  bool supported = true;
};
const char* RaName(const llama_sampler*) { return "llm-bench greedy (one argmax for all rows)"; }
// On the host (llama.cpp samples there only where the sampler could not be offloaded): llama.cpp's greedy rule.
void RaApply(llama_sampler*, llama_token_data_array* cur_p) {
  cur_p->selected = 0;
  for (size_t i = 1; i < cur_p->size; ++i) {
    if (cur_p->data[i].logit > cur_p->data[cur_p->selected].logit) cur_p->selected = static_cast<int64_t>(i);
  }
}
void RaFree(llama_sampler*) {}
bool RaInit(llama_sampler* smpl, ggml_backend_buffer_type_t buft, uint32_t n_outputs_max_per_seq) {
  llama_sampler* probe = api.greedy_init();
  const bool ok =
      probe->iface->backend_init != nullptr && probe->iface->backend_init(probe, buft, n_outputs_max_per_seq);
  api.sampler_free(probe);
  auto* m = static_cast<RowArgmax*>(smpl->ctx);
  m->supported = m->supported && ok;
  return ok;
}
void RaReset(llama_sampler* smpl) {
  auto* m = static_cast<RowArgmax*>(smpl->ctx);
  m->src = nullptr;
  m->all = nullptr;
}
void RaBackendApply(llama_sampler* smpl, ggml_context* ctx, ggml_cgraph*, llama_sampler_data* data) {
  auto* m = static_cast<RowArgmax*>(smpl->ctx);
  ggml_tensor* lg = data->logits;
  ggml_tensor* src = lg->view_src;
  if (src == nullptr || src->type != GGML_TYPE_F32 || src->ne[0] != lg->ne[0] || src->nb[1] == 0 ||
      lg->view_offs % src->nb[1] != 0 || src->ne[2] != 1 || src->ne[3] != 1) {
    data->sampled = api.g_argmax(ctx, api.g_reshape_1d(ctx, lg, api.g_nelements(lg)));
    return;
  }
  if (m->src != src) {
    m->src = src;
    m->all = api.g_argmax(ctx, src);
  }
  const size_t row = lg->view_offs / src->nb[1];
  data->sampled = api.g_view_1d(ctx, m->all, 1, row * sizeof(int32_t));
}
llama_sampler_i kRowArgmax = {RaName, nullptr, RaApply, nullptr, nullptr, RaFree, RaInit, nullptr, RaBackendApply,
                              nullptr, RaReset, nullptr};

// The contexts sampling in their graph: the chains llama.cpp borrows (one per sequence id, each holding a
// RowArgmax over the shared state) are freed here, after being detached.
struct BackendGreedy {
  AddonContext* owner;
  llama_context* ctx;
  std::vector<llama_sampler*> chains;
  std::unique_ptr<RowArgmax> memo;
};
std::mutex backend_mu;
std::vector<BackendGreedy> backends;

bool OnBackend(llama_context* ctx) {
  std::lock_guard<std::mutex> lk(backend_mu);
  for (const auto& b : backends) {
    if (b.ctx == ctx) return true;
  }
  return false;
}

// The argmax of every position (batch index) of the last decode, into tokens; an error text, or empty.
std::string ArgmaxRows(llama_context* ctx, const std::vector<int32_t>& positions, uint32_t threads,
                       std::vector<int32_t>& tokens) {
  if (OnBackend(ctx)) {
    // Each read synchronizes llama.cpp's backends; after the first (which also reorders the outputs) the streams
    // are idle and a synchronize is a status check.
    const int32_t n_vocab = api.vocab_n_tokens(api.model_get_vocab(api.get_model(ctx)));
    tokens.resize(positions.size());
    for (size_t i = 0; i < positions.size(); i++) {
      tokens[i] = api.sampled_ith(ctx, positions[i]);
      if (tokens[i] < 0 || tokens[i] >= n_vocab) {
        return "llama.cpp's backend sampler left no token at batch index " + std::to_string(positions[i]);
      }
    }
    return {};
  }
  const int32_t n_vocab = api.vocab_n_tokens(api.model_get_vocab(api.get_model(ctx)));
  const size_t n = positions.size();
  std::vector<const float*> rows(n);
  // Every llama_get_logits_ith call synchronizes all of llama.cpp's backends (a CUDA stream sync each), which
  // cost more than the argmax itself on a GPU host; node-llama-cpp's path pays two per position. One
  // llama_get_logits call synchronizes once and puts the rows in batch order (it also does llama.cpp's lazy
  // reorder, which must not run concurrently: so on this thread, before the others start). The caller asks for
  // logits exactly at the positions it samples, so the row of a position is its rank among them; the first and
  // last are checked against llama_get_logits_ith.
  const float* base = api.get_logits(ctx);
  if (base == nullptr) return "llama.cpp has no logits for this batch";
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; i++) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return positions[a] < positions[b]; });
  for (size_t r = 0; r < n; r++) rows[order[r]] = base + r * static_cast<size_t>(n_vocab);
  for (size_t k : {order.front(), order.back()}) {
    if (api.get_logits_ith(ctx, positions[k]) != rows[k]) {
      return "llama.cpp's logits rows are not in batch order for index " + std::to_string(positions[k]);
    }
  }
  tokens.resize(n);
  // On the CPU llama.cpp's pool threads spin for a while after each graph, on the cores the argmax could use, so
  // the caller passes only the cores they leave free (one, on a machine with as many threads as cores). When the
  // rows are many, the pool is paused instead (its threads sleep until the next decode starts them again, at the
  // cost of a wake-up) and the argmax takes its cores too. Measured on 2 EPYC vCPUs, tiny-llama (32k vocabulary),
  // 2 threads: batch 64, 0.94 -> 0.64 ms a step; batch 16 (0.5M floats) gained nothing, hence the threshold.
  AttachedPool pool;
  if (api.tp_pause != nullptr && static_cast<uint64_t>(n) * static_cast<uint64_t>(n_vocab) >= kPauseFloats &&
      AttachedPoolOf(ctx, pool) && pool.threads > 1) {
    api.tp_pause(pool.tp);
    paused_steps.fetch_add(1, std::memory_order_relaxed);
    const uint32_t cores = std::max(1u, std::thread::hardware_concurrency());
    threads = std::min(cores, threads + pool.threads);
  }
  RowPool::Get().Run(n, threads, [&](size_t i) { tokens[i] = Argmax(rows[i], n_vocab); });
  return {};
}

// llama_decode then llama_synchronize, as node-llama-cpp's decodeBatch does them, with its error texts; empty
// on success.
std::string Decode(llama_context* ctx, const llama_batch& batch) {
  const int32_t r = api.decode(ctx, batch);
  if (r == 1) return "could not find a KV slot for the batch (try reducing the size of the batch or increase the context)";
  if (r != 0) return "Eval has failed";
  api.synchronize(ctx);
  return {};
}

// node-llama-cpp's decodeBatch (Decode on the batch addToBatch filled), followed on the same pool thread by the
// argmax: one hop to the pool and back per step instead
// of two (the decode's, then the sampler's), and no event-loop turn between them.
void Execute(napi_env, void* data) {
  auto* w = static_cast<Work*>(data);
  const uint64_t t0 = NowNs();
  if (w->decode_from != nullptr) {
    w->error = Decode(w->ctx, w->decode_from->batch);
    if (!w->error.empty()) {
      w->decode_failed = true;
      return;
    }
  }
  const uint64_t t1 = NowNs();
  if (!w->positions.empty()) {
    w->error = ArgmaxRows(w->ctx, w->positions, w->threads, w->tokens);
    // Sampled on the device: no logits came back for another sampler to read, so the step is lost.
    w->decode_failed = !w->error.empty() && OnBackend(w->ctx);
  }
  w->decode_ns = t1 - t0;
  w->sample_ns = NowNs() - t1;
}

void Complete(napi_env env, napi_status status, void* data) {
  auto* w = static_cast<Work*>(data);
  if (status != napi_ok || !w->error.empty()) {
    napi_value msg, err, code = nullptr;
    napi_create_string_utf8(env, w->error.empty() ? "greedy sampling was cancelled" : w->error.c_str(),
                            NAPI_AUTO_LENGTH, &msg);
    // The caller falls back to node-llama-cpp's sampler on a sampling failure, never on a failed decode.
    if (w->decode_failed) napi_create_string_utf8(env, "LLM_BENCH_DECODE_FAILED", NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &err);
    napi_reject_deferred(env, w->deferred, err);
  } else {
    napi_value arr = TokenArray(env, w->tokens);
    if (w->timings != nullptr) {
      napi_value t;
      void* td = nullptr;
      size_t tl = 0;
      if (napi_get_reference_value(env, w->timings, &t) == napi_ok && Typed(env, t, napi_float64_array, &td, &tl) &&
          tl >= 2) {
        static_cast<double*>(td)[0] = static_cast<double>(w->decode_ns);
        static_cast<double*>(td)[1] = static_cast<double>(w->sample_ns);
      }
    }
    napi_resolve_deferred(env, w->deferred, arr);
  }
  if (w->timings != nullptr) napi_delete_reference(env, w->timings);
  napi_delete_reference(env, w->keep);
  if (w->work != nullptr) napi_delete_async_work(env, w->work);
  delete w;
}

// argmax(handle, positions: Uint32Array, threads, syncFloats = 0) -> Promise<Uint32Array>. When the rows hold
// at most syncFloats logits, the argmax runs right here and the promise is already settled: on a CPU at batch 1
// the hop to a pool thread and back cost ~0.1 ms, several times the argmax of a 128k row (~0.02 ms). The caller
// allows it only where the logits are ready when the decode returns (the CPU backend), so nothing waits here.
napi_value ArgmaxAsync(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 3) return Throw(env, "argmax(handle, positions, threads[, syncFloats])");
  void* ctx = nullptr;
  if (napi_get_value_external(env, argv[0], &ctx) != napi_ok || ctx == nullptr) return Throw(env, "bad handle");
  size_t length = 0;
  void* data = nullptr;
  if (!Typed(env, argv[1], napi_uint32_array, &data, &length)) return Throw(env, "positions must be a Uint32Array");
  auto* w = new Work();
  w->ctx = static_cast<llama_context*>(ctx);
  w->threads = Uint(env, argv[2]);
  const auto* pos = static_cast<const uint32_t*>(data);
  w->positions.assign(pos, pos + length);
  napi_create_reference(env, argv[0], 1, &w->keep);
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  const uint64_t sync_floats = argc >= 4 ? Uint(env, argv[3]) : 0;
  const uint64_t n_vocab = static_cast<uint64_t>(api.vocab_n_tokens(api.model_get_vocab(api.get_model(w->ctx))));
  if (sync_floats > 0 && n_vocab * w->positions.size() <= sync_floats) {
    w->error = ArgmaxRows(w->ctx, w->positions, w->threads, w->tokens);
    Complete(env, napi_ok, w);
    return promise;
  }
  napi_create_string_utf8(env, "llm-bench greedy argmax", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, Execute, Complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}

// decodeArgmax(addonContext, positions: Uint32Array, threads, timings: Float64Array(2)) -> Promise<Uint32Array>:
// decodes the batch node-llama-cpp's initBatch/addToBatch built on that context, then argmaxes the given batch
// indexes (none: a decode only). timings gets [decode ns, argmax ns] as measured on the pool thread.
napi_value DecodeArgmax(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 4) return Throw(env, "decodeArgmax(context, positions, threads, timings)");
  AddonContext* ac = DecodableContext(env, argv[0]);
  if (ac == nullptr) return nullptr;
  size_t length = 0, tlen = 0;
  void* data = nullptr;
  void* tdata = nullptr;
  if (!Typed(env, argv[1], napi_uint32_array, &data, &length)) return Throw(env, "positions must be a Uint32Array");
  if (!Typed(env, argv[3], napi_float64_array, &tdata, &tlen) || tlen < 2) {
    return Throw(env, "timings must be a Float64Array of 2");
  }
  auto* w = new Work();
  w->ctx = ac->ctx;
  w->decode_from = ac;
  w->threads = Uint(env, argv[2]);
  const auto* pos = static_cast<const uint32_t*>(data);
  w->positions.assign(pos, pos + length);
  napi_create_reference(env, argv[0], 1, &w->keep);
  napi_create_reference(env, argv[3], 1, &w->timings);
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "llm-bench decode + greedy argmax", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, Execute, Complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}

// A decode run: the same sequences decode step after step with no event-loop turn in between. The step loop
// starts one when its plan will repeat unchanged for several steps (every running request decoding one token,
// nobody admissible, nobody finishing before the last; scheduler.ts decodeRunLength). Step 0 decodes the batch
// node-llama-cpp's addToBatch built; each later step feeds every sequence the token it just sampled, at the
// next position. Each step's tokens go to the event loop as they are sampled (a thread-safe function), so
// streaming, bookkeeping and the hops to and from the pool overlap the next decode instead of adding to it:
// on a 2-core CPU at batch 1 those cost ~0.15 ms of a ~1.9 ms step. The run is never more than one step ahead
// of the event loop: step s + 1 starts once the event loop has applied step s - 1 (ctl[1] counts the steps it
// applied), so a stop takes effect as it would between planned steps. The run ends after max_steps, at a step
// that samples a sequence's EOS, at a failed decode, or before the next step once ctl[0] is non-zero (the
// event loop sets it when a request arrives, is cancelled, or the engine stops): only the step in flight runs on.
struct StepMsg {
  std::vector<int32_t> tokens;
  uint64_t decode_ns = 0;
  uint64_t sample_ns = 0;
  uint64_t end_ns = 0;
  std::string error;
  bool decode_failed = false;
};

struct RunWork {
  llama_context* ctx;
  AddonContext* ac;
  std::vector<int32_t> positions;
  std::vector<int32_t> seq, pos, eos;
  uint32_t threads = 1;
  uint32_t max_steps = 1;
  int32_t* ctl = nullptr;  // [stop, steps applied by the event loop]
  uint32_t posted = 0;
  napi_threadsafe_function tsfn = nullptr;
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref keep = nullptr;
  napi_ref keep_ctl = nullptr;
};

void Post(RunWork* w, StepMsg* m) {
  w->posted++;
  if (napi_call_threadsafe_function(w->tsfn, m, napi_tsfn_blocking) != napi_ok) {
    w->posted--;
    delete m;
  }
}

void ExecuteRun(napi_env, void* data) {
  auto* w = static_cast<RunWork*>(data);
  const size_t n = w->seq.size();
  llama_batch own = api.batch_init(static_cast<int32_t>(n), 0, 1);
  std::vector<int32_t> rows(n);
  for (size_t i = 0; i < n; i++) rows[i] = static_cast<int32_t>(i);
  std::vector<int32_t> last;
  for (uint32_t s = 0; s < w->max_steps; s++) {
    if (s > 1) {
      // Wait for the event loop to have applied step s - 2; it normally has (its work is far shorter than a
      // decode), so this rarely spins, and sleeps in short naps when it does (a tiny model on a fast device).
      for (uint32_t i = 0; __atomic_load_n(&w->ctl[1], __ATOMIC_ACQUIRE) < static_cast<int32_t>(s) - 1 &&
                           __atomic_load_n(&w->ctl[0], __ATOMIC_ACQUIRE) == 0;
           i++) {
        if (i < 256) std::this_thread::yield();
        else std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    }
    if (s > 0 && __atomic_load_n(&w->ctl[0], __ATOMIC_ACQUIRE) != 0) break;
    auto* m = new StepMsg();
    const uint64_t t0 = NowNs();
    if (s == 0) {
      m->error = Decode(w->ctx, w->ac->batch);
    } else {
      own.n_tokens = static_cast<int32_t>(n);
      for (size_t i = 0; i < n; i++) {
        own.token[i] = last[i];
        own.pos[i] = w->pos[i] + static_cast<int32_t>(s) - 1;
        own.n_seq_id[i] = 1;
        own.seq_id[i][0] = w->seq[i];
        own.logits[i] = 1;
      }
      m->error = Decode(w->ctx, own);
    }
    if (!m->error.empty()) {
      m->decode_failed = true;
      Post(w, m);
      break;
    }
    const uint64_t t1 = NowNs();
    m->error = ArgmaxRows(w->ctx, s == 0 ? w->positions : rows, w->threads, m->tokens);
    m->end_ns = NowNs();
    m->decode_ns = t1 - t0;
    m->sample_ns = m->end_ns - t1;
    const bool failed = !m->error.empty();
    m->decode_failed = failed && OnBackend(w->ctx);
    last = m->tokens;
    Post(w, m);
    if (failed) break;
    bool eos = false;
    for (size_t i = 0; i < n; i++) eos = eos || (w->eos[i] >= 0 && last[i] == w->eos[i]);
    if (eos) break;
  }
  api.batch_free(own);
  napi_release_threadsafe_function(w->tsfn, napi_tsfn_release);
}

// On the event loop: one step's result to onStep(tokens | null, decodeNs, sampleNs, endNs: bigint, error,
// decodeFailed).
void CallStep(napi_env env, napi_value js_cb, void*, void* data) {
  auto* m = static_cast<StepMsg*>(data);
  if (env != nullptr && js_cb != nullptr) {
    napi_value args[6], undefined;
    napi_get_undefined(env, &undefined);
    if (m->error.empty()) {
      args[0] = TokenArray(env, m->tokens);
      args[4] = undefined;
    } else {
      napi_get_null(env, &args[0]);
      napi_create_string_utf8(env, m->error.c_str(), NAPI_AUTO_LENGTH, &args[4]);
    }
    napi_create_double(env, static_cast<double>(m->decode_ns), &args[1]);
    napi_create_double(env, static_cast<double>(m->sample_ns), &args[2]);
    napi_create_bigint_uint64(env, m->end_ns, &args[3]);
    napi_get_boolean(env, m->decode_failed, &args[5]);
    napi_call_function(env, undefined, js_cb, 6, args, nullptr);
  }
  delete m;
}

void CompleteRun(napi_env env, napi_status status, void* data) {
  auto* w = static_cast<RunWork*>(data);
  napi_value out;
  napi_create_uint32(env, w->posted, &out);
  if (status == napi_ok) {
    napi_resolve_deferred(env, w->deferred, out);
  } else {
    napi_value msg, err;
    napi_create_string_utf8(env, "the decode run was cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, nullptr, msg, &err);
    napi_reject_deferred(env, w->deferred, err);
  }
  napi_delete_reference(env, w->keep);
  napi_delete_reference(env, w->keep_ctl);
  napi_delete_async_work(env, w->work);
  delete w;
}

// decodeRun(addonContext, positions: Uint32Array, threads, spec: Int32Array [seq x n, pos x n, eos x n],
// maxSteps, control: Int32Array [stop, steps applied] (on a SharedArrayBuffer), onStep) -> Promise<steps
// posted>. pos is where each sequence's step-1 token goes; eos -1 for none. Every posted step reaches onStep before or after the promise settles: the caller counts.
napi_value DecodeRun(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 7) return Throw(env, "decodeRun(context, positions, threads, spec, maxSteps, control, onStep)");
  AddonContext* ac = DecodableContext(env, argv[0]);
  if (ac == nullptr) return nullptr;
  size_t n = 0, spec_len = 0, ctl_len = 0;
  void* pos_data = nullptr;
  void* spec_data = nullptr;
  void* ctl_data = nullptr;
  if (!Typed(env, argv[1], napi_uint32_array, &pos_data, &n) || n == 0) {
    return Throw(env, "positions must be a non-empty Uint32Array");
  }
  if (!Typed(env, argv[3], napi_int32_array, &spec_data, &spec_len) || spec_len != 3 * n) {
    return Throw(env, "spec must be an Int32Array of 3 x positions.length");
  }
  if (!Typed(env, argv[5], napi_int32_array, &ctl_data, &ctl_len) || ctl_len < 2) {
    return Throw(env, "control must be an Int32Array of 2");
  }
  auto* w = new RunWork();
  w->ctx = ac->ctx;
  w->ac = ac;
  const auto* p = static_cast<const uint32_t*>(pos_data);
  w->positions.assign(p, p + n);
  const auto* sp = static_cast<const int32_t*>(spec_data);
  w->seq.assign(sp, sp + n);
  w->pos.assign(sp + n, sp + 2 * n);
  w->eos.assign(sp + 2 * n, sp + 3 * n);
  w->threads = Uint(env, argv[2]);
  w->max_steps = std::max<uint32_t>(1, Uint(env, argv[4]));
  w->ctl = static_cast<int32_t*>(ctl_data);
  napi_create_reference(env, argv[0], 1, &w->keep);
  napi_create_reference(env, argv[5], 1, &w->keep_ctl);
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "llm-bench decode run", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[6], nullptr, name, 0, 1, nullptr, nullptr, nullptr, CallStep,
                                      &w->tsfn) != napi_ok) {
    napi_delete_reference(env, w->keep);
    napi_delete_reference(env, w->keep_ctl);
    delete w;
    return Throw(env, "cannot create the step callback");
  }
  napi_create_async_work(env, nullptr, name, ExecuteRun, CompleteRun, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}

// moveSequence(addonContext, from, to): the KV cells of sequence `from` become sequence `to`'s (empty before),
// and `from` is left empty. With llama.cpp's per-sequence KV streams the stream's buffer is copied on the device
// at the next decode (llama_memory_seq_cp across streams); the scheduler uses it to keep the running sequences'
// ids contiguous, since a micro-batch takes only sequences whose ids follow each other.
napi_value MoveSequence(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 3) return Throw(env, "moveSequence(context, from, to)");
  AddonContext* ac = LiveContext(env, argv[0]);
  if (ac == nullptr) return nullptr;
  if (!api.get_memory || !api.seq_cp || !api.seq_rm) return Throw(env, "this llama.cpp has no llama_memory_seq_cp");
  const uint32_t from = Uint(env, argv[1]);
  const uint32_t to = Uint(env, argv[2]);
  if (from == to || from >= ac->context_params.n_seq_max || to >= ac->context_params.n_seq_max) {
    return Throw(env, "moveSequence: bad sequence ids " + std::to_string(from) + " -> " + std::to_string(to));
  }
  llama_memory_t mem = api.get_memory(ac->ctx);
  api.seq_rm(mem, static_cast<llama_seq_id>(to), -1, -1);
  api.seq_cp(mem, static_cast<llama_seq_id>(from), static_cast<llama_seq_id>(to), -1, -1);
  api.seq_rm(mem, static_cast<llama_seq_id>(from), -1, -1);
  return nullptr;
}

// The entry of a context sampling in its graph, or backends.end(); under backend_mu.
std::vector<BackendGreedy>::iterator FindBackend(const AddonContext* ac) {
  return std::find_if(backends.begin(), backends.end(), [&](const BackendGreedy& b) { return b.owner == ac; });
}

// Detaches b's chains from its context (unless the context is gone), then frees them.
void Release(BackendGreedy& b, bool live) {
  for (size_t j = 0; live && j < b.chains.size(); j++) api.set_sampler(b.ctx, static_cast<llama_seq_id>(j), nullptr);
  for (auto* c : b.chains) api.sampler_free(c);
  b.chains.clear();
}

// backendGreedy(addonContext, on) -> sequences sampled in the graph. on: a RowArgmax chain is attached to every
// sequence id of the context (see BackendGreedy), and the argmax calls read the tokens it chose; off: they are
// detached and freed (just freed if the context is already gone). Throws where this llama.cpp has no backend
// sampling, or the device holding the output layer cannot argmax; nothing stays attached then.
napi_value BackendGreedyFn(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 2) return Throw(env, "backendGreedy(context, on)");
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  AddonContext* ac = on ? LiveContext(env, argv[0]) : UnwrapContext(env, argv[0]);
  if (ac == nullptr) return nullptr;
  napi_value out;
  if (!on) {
    std::lock_guard<std::mutex> lk(backend_mu);
    auto it = FindBackend(ac);
    if (it != backends.end()) {
      Release(*it, ac->ctx == it->ctx && !ac->disposed);
      backends.erase(it);
    }
    napi_create_uint32(env, 0, &out);
    return out;
  }
  if (!api.set_sampler || !api.chain_init || !api.chain_params || !api.chain_add || !api.sampler_init ||
      !api.greedy_init || !api.sampled_ith || !api.sampler_free || !api.g_argmax || !api.g_view_1d ||
      !api.g_reshape_1d || !api.g_nelements) {
    return Throw(env, "this llama.cpp has no backend sampling (llama_set_sampler)");
  }
  llama_context* ctx = ac->ctx;
  std::lock_guard<std::mutex> lk(backend_mu);
  auto it = FindBackend(ac);
  if (it == backends.end()) {
    BackendGreedy b{ac, ctx, {}, std::make_unique<RowArgmax>()};
    const uint32_t n = ac->context_params.n_seq_max;
    for (uint32_t j = 0; j < n; j++) {
      llama_sampler* chain = api.chain_init(api.chain_params());
      api.chain_add(chain, api.sampler_init(&kRowArgmax, b.memo.get()));
      b.chains.push_back(chain);
      // llama.cpp ignores a sampler's refusal here (RaInit records it): only the chain's shape is checked.
      if (!api.set_sampler(ctx, static_cast<llama_seq_id>(j), chain) || !b.memo->supported) {
        Release(b, true);
        return Throw(env, b.memo->supported
                              ? "llama.cpp refused a sampler in the graph for sequence " + std::to_string(j)
                              : std::string("the device holding the output layer cannot run ARGMAX"));
      }
    }
    backends.push_back(std::move(b));
    it = backends.end() - 1;
  }
  napi_create_uint32(env, static_cast<uint32_t>(it->chains.size()), &out);
  return out;
}

// limitOutputs(addonContext, n, perSequence): before init(), the most outputs (sampled positions) one
// llama_decode may ask for, and for one sequence (a limit only samplers in the graph check; llama.cpp's default
// is 1). node-llama-cpp leaves llama.cpp's default total, n_batch, and llama.cpp reserves its compute buffer for
// that many rows of logits: 4 GiB at 8192 tokens of a 128k vocabulary, twice that once a sampler runs in the
// graph (it pads a copy). llama.cpp aborts on a decode that asks for more, so the caller checks every batch.
napi_value LimitOutputs(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 3) return Throw(env, "limitOutputs(context, n, perSequence)");
  AddonContext* ac = UnwrapContext(env, argv[0]);
  if (ac == nullptr) return nullptr;
  if (ac->ctx != nullptr || ac->disposed) return Throw(env, "limitOutputs: the context is already initialized");
  const uint32_t n = Uint(env, argv[1]);
  if (n < ac->context_params.n_seq_max) {
    return Throw(env, "limitOutputs: " + std::to_string(n) + " outputs are fewer than the context's sequences");
  }
  const uint32_t per_seq = Uint(env, argv[2]);
  if (per_seq < 1 || per_seq > n) return Throw(env, "limitOutputs: bad outputs per sequence");
  ac->context_params.n_outputs_max = n;
  ac->context_params.n_outputs_max_per_seq = per_seq;
  return nullptr;
}

// argmaxRow(Float32Array) -> index: the kernel alone, so its tie and NaN rules are tested against llama.cpp's.
napi_value ArgmaxRow(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  size_t length = 0;
  void* data = nullptr;
  if (argc < 1 || !Typed(env, argv[0], napi_float32_array, &data, &length) || length == 0 || length > INT32_MAX) {
    return Throw(env, "argmaxRow(Float32Array of at least one value)");
  }
  napi_value out;
  napi_create_int32(env, Argmax(static_cast<const float*>(data), static_cast<int32_t>(length)), &out);
  return out;
}

// pausedArgmaxSteps() -> how many steps' argmax paused llama.cpp's CPU pool and took its cores.
napi_value PausedArgmaxSteps(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_double(env, static_cast<double>(paused_steps.load(std::memory_order_relaxed)), &out);
  return out;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"init", nullptr, Init, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"contextHandle", nullptr, ContextHandle, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"argmax", nullptr, ArgmaxAsync, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"decodeArgmax", nullptr, DecodeArgmax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"decodeRun", nullptr, DecodeRun, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"argmaxRow", nullptr, ArgmaxRow, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"moveSequence", nullptr, MoveSequence, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pausedArgmaxSteps", nullptr, PausedArgmaxSteps, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attachThreadpool", nullptr, AttachThreadpool, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"limitOutputs", nullptr, LimitOutputs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"backendGreedy", nullptr, BackendGreedyFn, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"detachThreadpool", nullptr, DetachThreadpool, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
