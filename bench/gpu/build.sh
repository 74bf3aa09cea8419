#!/usr/bin/env bash
# GPU call 1: unpack, start both CUDA builds, write the dummy Llama-3.1-8B FP8 engine meanwhile, wait for all.
set -u
R=$(cd "$(dirname "$0")/../.." && pwd); G=$R/.gpu; W=/tmp/w
bash $G/setup.sh && bash $G/builds.sh
source $G/env.sh
# the freshest build travels as ./dist (carry), newer than the packed one
[ -d "$R/dist" ] && rm -rf $W/proj/dist && cp -a "$R/dist" $W/proj/dist
cd $W/proj
# the native greedy sampler, built on this host against the packed node-llama-cpp (docs/architecture.md)
rm -rf dist/native; mkdir -p scripts native && cp $R/scripts/build-native.mjs scripts/ && cp $R/native/greedy.cc native/
LLAMA_CPP_SRC=$W/llsrc node scripts/build-native.mjs
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc; free -g | head -2
mkdir -p $W/ws
if [ ! -f $W/ws/engine.done ]; then
  setsid nohup bash -c "node dist/src/cli/bin.cjs --model meta-llama/Llama-3.1-8B prepare-dataset --output $W/ws/d1024.jsonl token-norm-dist --num-requests 1024 --input-mean 128 --output-mean 128 --input-stdev 0 --output-stdev 0 && node dist/src/cli/bin.cjs --model meta-llama/Llama-3.1-8B --workspace $W/ws build --dataset $W/ws/d1024.jsonl --quantization FP8 --device_memory 80 > $W/ws/build.log 2>&1 && touch $W/ws/engine.done; echo rc=\$? >> $W/ws/build.log" > /dev/null 2>&1 &
fi
bash $G/wait-builds.sh 560; echo "builds rc=$?"
for i in $(seq 1 20); do [ -f $W/ws/engine.done ] && break; sleep 3; done
tail -5 $W/ws/build.log; ls -la $W/ws/meta-llama/Llama-3.1-8B/tp_1_pp_1/ 2>/dev/null
