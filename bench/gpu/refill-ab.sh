#!/usr/bin/env bash
# After build-fast.sh or build.sh: continuous batching with refills, greedy sampling on the host
# (LLM_BENCH_DEVICE_SAMPLING=0) against in llama.cpp's graph (=1, the GPU default), alternated $REPS times.
# $N requests of ISL 128 / OSL 64 ± 16 at max batch 256, so requests end at different steps and freed sequences
# take new ones: the case one-wave engine-efficiency runs never meet. Extra environment (GGML_CUDA_DISABLE_GRAPHS=1,
# LLM_BENCH_COMPACT_SLOTS=0, ...) applies to both sides. Iteration logs and reports under $OUT; a summary per run
# of the median decode time of mixed, same-size decode and shrinking decode steps.
set -u
R=$(cd "$(dirname "$0")/../.." && pwd); G=$R/.gpu; W=/tmp/w
bash $G/setup.sh >/dev/null; source $G/env.sh
[ -d "$R/dist" ] && rm -rf $W/proj/dist && cp -a "$R/dist" $W/proj/dist; cd $W/proj
[ -f dist/native/greedy.node ] || { mkdir -p scripts native; cp $R/scripts/build-native.mjs scripts/; cp $R/native/greedy.cc native/; LLAMA_CPP_SRC=$W/llsrc node scripts/build-native.mjs; }
E=$W/ws/meta-llama/Llama-3.1-8B/tp_1_pp_1; N=${N:-512}; REPS=${REPS:-2}; OUT=${OUT:-/tmp/w/out}; mkdir -p $OUT
CLI="node dist/src/cli/bin.cjs --model meta-llama/Llama-3.1-8B"
D=$W/ws/refill$N.jsonl
[ -f $D ] || $CLI prepare-dataset --output $D token-norm-dist --num-requests $N --input-mean 128 --output-mean 64 \
  --input-stdev 0 --output-stdev 16 > /dev/null
export UV_THREADPOOL_SIZE=16
for rep in $(seq 1 $REPS); do for ds in 0 1; do
  LLM_BENCH_DEVICE_SAMPLING=$ds $CLI throughput --engine_dir $E --dataset $D --max_batch_size 256 --threads 15 \
    --no-gpu_metrics --iteration_log $OUT/it-$ds-$rep.jsonl --report_json $OUT/r-$ds-$rep.json > $OUT/tp-$ds-$rep.txt 2>&1
  rc=$?
  python3 - "$OUT/it-$ds-$rep.jsonl" "$ds" "$rep" "$rc" "$(grep -E 'Total Output Throughput' $OUT/tp-$ds-$rep.txt | tr -s ' ' | cut -d: -f2)" <<'PY'
import json, statistics as st, sys
path, ds, rep, rc, tput = sys.argv[1:6]
rows = [json.loads(l) for l in open(path)] if rc == "0" else []
mixed, same, shrinking, prev = [], [], [], None
for r in rows:
    if r["num_context_requests"] > 0: mixed.append(r["decode_ms"])
    elif r["batch_size"] == prev: same.append(r["decode_ms"])
    else: shrinking.append(r["decode_ms"])
    prev = r["batch_size"]
med = lambda v: f"{st.median(v):.1f} ms (n={len(v)})" if v else "-"
print(f"{'graph' if ds == '1' else 'host '} rep {rep} rc={rc} output tok/s{tput} | decode_ms median: mixed {med(mixed)}, "
      f"same size {med(same)}, size changed {med(shrinking)}")
PY
done; done
