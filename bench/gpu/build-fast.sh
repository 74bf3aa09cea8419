#!/usr/bin/env bash
# GPU call 1, the short way (~6 min on an H100 host): node-llama-cpp's CUDA backend built alone on all cores,
# the dummy Llama-3.1-8B FP8 engine written meanwhile, then llama-batched-bench compiled from the same bundled
# source and linked against the llama.cpp libraries that build produced (libllama, libllama-common, libggml*):
# one file instead of a second CUDA build, and the reference runs the very llama.cpp binary the engine loads.
set -u
R=$(cd "$(dirname "$0")/../.." && pwd); G=$R/.gpu; W=/tmp/w
bash $G/setup.sh
source $G/env.sh
[ -d "$R/dist" ] && rm -rf $W/proj/dist && cp -a "$R/dist" $W/proj/dist
cd $W/proj
( export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true; setsid nohup bash -c "node node_modules/node-llama-cpp/dist/cli/cli.js source build --gpu cuda > $W/nlc-build.log 2>&1; echo rc=\$? >> $W/nlc-build.log" >/dev/null 2>&1 & )
mkdir -p $W/ws
if [ ! -f $W/ws/engine.done ]; then
  setsid nohup bash -c "node dist/src/cli/bin.cjs --model meta-llama/Llama-3.1-8B prepare-dataset --output $W/ws/d1024.jsonl token-norm-dist --num-requests 1024 --input-mean 128 --output-mean 128 --input-stdev 0 --output-stdev 0 && node dist/src/cli/bin.cjs --model meta-llama/Llama-3.1-8B --workspace $W/ws build --dataset $W/ws/d1024.jsonl --quantization FP8 --device_memory 80 > $W/ws/build.log 2>&1 && touch $W/ws/engine.done; echo rc=\$? >> $W/ws/build.log" > /dev/null 2>&1 &
fi
rm -rf dist/native; mkdir -p scripts native && cp $R/scripts/build-native.mjs scripts/ && cp $R/native/greedy.cc native/
LLAMA_CPP_SRC=$W/llsrc node scripts/build-native.mjs
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc
while ! grep -q '^rc=' $W/nlc-build.log 2>/dev/null; do sleep 3; [ $SECONDS -gt 540 ] && break; done
tail -2 $W/nlc-build.log; echo "node-llama-cpp CUDA build done at ${SECONDS}s"
L=$(dirname "$(find $W/proj/node_modules/node-llama-cpp/llama/localBuilds -name 'libllama-common.so' | head -1)")
ls $L
LLAMA=$(cd $L && ls libllama*.so | grep -v common | head -1); GGML=$(cd $L && ls libggml.so libggml.*.so 2>/dev/null | head -1)
mkdir -p $W/llbuild/bin
g++ -O2 -std=c++17 -I$W/llsrc/include -I$W/llsrc/common -I$W/llsrc/ggml/include -I$W/llsrc/vendor \
  $W/llsrc/tools/batched-bench/batched-bench.cpp $W/llsrc/tools/batched-bench/main.cpp -o $L/llama-batched-bench \
  -L$L -l:libllama-common.so -l:$LLAMA -l:$GGML -l:libggml-base.so -Wl,-rpath,$L -lpthread
echo "batched-bench rc=$? at ${SECONDS}s"
# beside the libraries: ggml loads its backends (libggml-cuda.so) from the executable's own folder
ln -sf $L/llama-batched-bench $W/llbuild/bin/llama-batched-bench
while ! grep -q '^rc=' $W/ws/build.log 2>/dev/null; do sleep 3; [ $SECONDS -gt 580 ] && break; done
tail -2 $W/ws/build.log; echo "engine at ${SECONDS}s"
