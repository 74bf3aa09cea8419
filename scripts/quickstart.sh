#!/usr/bin/env bash
# The seed's workflow on a model small enough for a laptop CPU: dataset -> build -> throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
WS="${LLM_BENCH_WORKSPACE:-$(mktemp -d -t llm-bench-quickstart.XXXXXX)}"
MODEL=llm-bench/tiny-llama
DATA="$WS/synthetic_128_128.jsonl"
CLI="node dist/src/cli/bin.cjs"

echo "== 1/3 prepare-dataset: 64 requests, ISL 128 / OSL 128 -> $DATA" >&2
$CLI --model "$MODEL" prepare-dataset --output "$DATA" token-norm-dist \
  --num-requests 64 --input-mean 128 --output-mean 128 --input-stdev 0 --output-stdev 0

echo "== 2/3 build (FP8 -> Q8_0 weights, 8-bit KV cache) into $WS" >&2
$CLI --model "$MODEL" --workspace "$WS" build --dataset "$DATA" --quantization FP8

echo "== 3/3 throughput" >&2
$CLI --model "$MODEL" --workspace "$WS" throughput --dataset "$DATA" \
  --engine_dir "$WS/$MODEL/tp_1_pp_1" --streaming --report_json "$WS/report.json"
echo "Report JSON: $WS/report.json" >&2
