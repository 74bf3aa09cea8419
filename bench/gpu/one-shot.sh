#!/usr/bin/env bash
# GPU call 3 (one shot): node-llama-cpp's CUDA build alone (all cores), the 8B engine meanwhile, the native
# greedy sampler built on the host, then decode steps at B = 1/16/64/256 and offline 1024 x 128/128.
set -u
R=$(cd "$(dirname "$0")/../.." && pwd); G=$R/.gpu; W=/tmp/w
bash $G/setup.sh >/dev/null
source $G/env.sh
rm -rf $W/proj/dist && cp -a $R/dist $W/proj/dist && rm -rf $W/proj/dist/native
mkdir -p $W/proj/scripts $W/proj/native && cp $R/scripts/build-native.mjs $W/proj/scripts/ && cp $R/native/greedy.cc $W/proj/native/
cd $W/proj
( export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true; setsid nohup bash -c "node node_modules/node-llama-cpp/dist/cli/cli.js source build --gpu cuda > $W/nlc-build.log 2>&1; echo rc=\$? >> $W/nlc-build.log" >/dev/null 2>&1 & )
mkdir -p $W/ws
setsid nohup bash -c "node dist/src/cli/bin.cjs --model meta-llama/Llama-3.1-8B prepare-dataset --output $W/ws/d1024.jsonl token-norm-dist --num-requests 1024 --input-mean 128 --output-mean 128 --input-stdev 0 --output-stdev 0 && node dist/src/cli/bin.cjs --model meta-llama/Llama-3.1-8B --workspace $W/ws build --dataset $W/ws/d1024.jsonl --quantization FP8 --device_memory 80 > $W/ws/build.log 2>&1; echo rc=\$? >> $W/ws/build.log" > /dev/null 2>&1 &
LLAMA_CPP_SRC=$W/llsrc node scripts/build-native.mjs; ls -la dist/native/ 2>&1 | head -3
while ! grep -q '^rc=' $W/nlc-build.log 2>/dev/null; do sleep 5; [ $SECONDS -gt 560 ] && break; done
tail -2 $W/nlc-build.log; echo "nlc build done at ${SECONDS}s"
while ! grep -q '^rc=' $W/ws/build.log 2>/dev/null; do sleep 3; [ $SECONDS -gt 580 ] && break; done
tail -1 $W/ws/build.log; echo "engine at ${SECONDS}s"
E=$W/ws/meta-llama/Llama-3.1-8B/tp_1_pp_1
head -256 $W/ws/d1024.jsonl > $W/ws/d256.jsonl
export UV_THREADPOOL_SIZE=16
for B in 256 1 64 16; do
  node dist/src/cli/bin.cjs --model meta-llama/Llama-3.1-8B --log_level error throughput --dataset $W/ws/d256.jsonl --engine_dir $E --num_requests $B --max_batch_size $B --warmup 2 --streaming --iteration_log $W/it$B.jsonl --report_json $W/r$B.json > /dev/null 2>&1
  node -e '
const fs=require("fs");const B=+process.argv[1];const s=fs.readFileSync(process.argv[2],"utf8").trim().split("\n").map(JSON.parse).filter(x=>x.prefill_tokens===0&&x.batch_size===B);
const m=k=>s.reduce((a,x)=>a+x[k],0)/s.length;const r=JSON.parse(fs.readFileSync(process.argv[3],"utf8"));
console.log(`B=${B} steps=${s.length} step=${m("step_ms").toFixed(3)} decode=${m("decode_ms").toFixed(3)} sample=${m("sample_ms").toFixed(3)} sampling=${r.machine.compute.sampling} device=${r.machine.name}`)' $B $W/it$B.jsonl $W/r$B.json
  echo "t=${SECONDS}s"
done
node dist/src/cli/bin.cjs --model meta-llama/Llama-3.1-8B --log_level error throughput --dataset $W/ws/d1024.jsonl --engine_dir $E --max_batch_size 256 --warmup 2 --report_json $W/off.json > $OUT/offline.txt 2>&1
grep -E "Total Output Throughput|MACHINE|Compute|GPUs" $OUT/offline.txt; echo "t=${SECONDS}s"
