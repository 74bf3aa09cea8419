#!/usr/bin/env bash
# GPU call 3, after build.sh: (1) GPU telemetry and energy of an embedded run (--gpu_metrics is on by default
# on CUDA); (2) closed-loop parity: llm-bench and a plain aiohttp client (bench/peer-closed-loop-aiohttp.py),
# alternately, against the same server (llama-server, or llm-bench serve) at concurrency $CONC (default 64), 256 x 128/128, with
# --server_metrics and --gpu_metrics on llm-bench's runs. Results under $OUT.
set -u
R=$(cd "$(dirname "$0")/../.." && pwd); G=$R/.gpu; W=/tmp/w
bash $G/setup.sh >/dev/null; source $G/env.sh
[ -d "$R/dist" ] && rm -rf $W/proj/dist && cp -a "$R/dist" $W/proj/dist; cd $W/proj
[ -f dist/native/greedy.node ] || { mkdir -p scripts native; cp $R/scripts/build-native.mjs scripts/; cp $R/native/greedy.cc native/; LLAMA_CPP_SRC=$W/llsrc node scripts/build-native.mjs; }
E=$W/ws/meta-llama/Llama-3.1-8B/tp_1_pp_1; GGUF=$(ls $E/*.gguf | head -1); CONC=${CONC:-64}
CLI="node dist/src/cli/bin.cjs --model meta-llama/Llama-3.1-8B"
head -256 $W/ws/d1024.jsonl > $W/ws/d256.jsonl
export UV_THREADPOOL_SIZE=16
$CLI throughput --dataset $W/ws/d256.jsonl --engine_dir $E --max_batch_size 256 --warmup 2 --report_json $OUT/embedded-gpu.json > $OUT/embedded-gpu.txt 2>&1
echo "embedded rc=$? t=${SECONDS}s"; grep -iE "energy|power|joule|GPU|Total Output" $OUT/embedded-gpu.txt | head -20
# llama-server where build.sh built it, else llm-bench's own serve (build-fast.sh builds no server)
if [ -x $W/llbuild/bin/llama-server ]; then
  $W/llbuild/bin/llama-server -m $GGUF -ngl 999 -np $CONC -c $((CONC*512)) -ctk q8_0 -ctv q8_0 -fa on --metrics --host 127.0.0.1 --port 8080 > $OUT/server.log 2>&1 &
else
  $CLI serve --engine_dir $E --served_model_name bench --max_batch_size $CONC --port 8080 > $OUT/server.log 2>&1 &
fi
SP=$!
for i in $(seq 1 180); do curl -sf http://127.0.0.1:8080/health >/dev/null 2>&1 && break; sleep 1; done
echo "server up t=${SECONDS}s"
# warm the server once (CUDA graphs, allocations), then alternate the two clients
python3 $R/bench/peer-closed-loop-aiohttp.py http://127.0.0.1:8080 $W/ws/d256.jsonl $CONC > /dev/null
for rep in 1 2; do
  $CLI --model_path $E throughput --backend openai --base_url http://127.0.0.1:8080 --served_model_name bench --dataset $W/ws/d256.jsonl --streaming --concurrency $CONC --server_metrics --gpu_metrics --report_json $OUT/llm-$rep.json > $OUT/llm-$rep.txt 2>&1
  echo "llm-bench rep $rep rc=$? t=${SECONDS}s"
  python3 $R/bench/peer-closed-loop-aiohttp.py http://127.0.0.1:8080 $W/ws/d256.jsonl $CONC | tee $OUT/peer-$rep.json
done
kill $SP; wait $SP 2>/dev/null
for rep in 1 2; do grep -E "TTFT\] (MINIMUM|P50|P90|P99)|TPOT\] (P50)|Total Output|Energy|Average power|Slot Idle\] (P50|P99)" $OUT/llm-$rep.txt; done
