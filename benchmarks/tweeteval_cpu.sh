#!/usr/bin/env bash
# Benchmark: train on TweetEval sentiment with the default config, then with --layers 10, and
# print the best model's test macro-recall (TweetEval's official metric) and the run time.
# Run by hand from the repository root; results go in docs/journal/benchmarks.md.
#
#   HBILSTM_DATA_DIR=../shared/data bash benchmarks/tweeteval_cpu.sh
set -euo pipefail
out=${OUT:-runs/bench}
mkdir -p "$out"
for layers in default 10; do
  run="$out/tweeteval-$layers"
  args=(--output "$run" --overwrite --device cpu)
  [ "$layers" = default ] || args+=(--layers "$layers")
  /usr/bin/time -f "%e s wall, %M KiB peak RSS" hbilstm train "${args[@]}" 2>&1 | tail -6
  python - "$run" <<'PY'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
r = json.loads((run / "results.json").read_text())
m = json.loads((run / "manifest.json").read_text())
print(f"{run}: {r['parameters']:,} parameters; best epoch {r['best_epoch']}/{r['epochs_run']} "
      f"({r['stopped']}); test macro-recall {100*r['test']['macro_recall']:.2f}, accuracy {100*r['test']['accuracy']:.2f}, "
      f"macro-F1 {100*r['test']['macro_f1']:.2f}; train time {r['train_seconds']:.0f} s; torch threads {m['device']['torch_threads']}")
PY
done
