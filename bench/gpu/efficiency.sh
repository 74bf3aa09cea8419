#!/usr/bin/env bash
# GPU call 2: engine-efficiency on the H100 (8B FP8), then offline 1024 x 128/128, then pool-size A/B at B=256.
set -u
R=$(cd "$(dirname "$0")/../.." && pwd); G=$R/.gpu; W=/tmp/w
bash $G/setup.sh >/dev/null; source $G/env.sh
# the freshest build travels as ./dist (carry), newer than the packed one
[ -d "$R/dist" ] && rm -rf $W/proj/dist && cp -a "$R/dist" $W/proj/dist; cd $W/proj
E=$W/ws/meta-llama/Llama-3.1-8B/tp_1_pp_1; BB=$W/llbuild/bin/llama-batched-bench
export UV_THREADPOOL_SIZE=${POOL:-16}
node dist/bench/engine-efficiency.js --engine_dir $E --batched_bench $BB --batch ${BATCH:-1,16,64,256} --reps ${REPS:-1} --threads ${THREADS:-15} --offline ${OFFLINE:-1024} 2>&1 | tee $OUT/eff.txt
