#!/usr/bin/env bash
# Benchmark 2: one training epoch on TweetEval sentiment at --layers 10 with the default widths.
# Prints the epoch's training time (metrics.jsonl "seconds": the batches only, without the
# validation pass) and tokens per second. DEVICE=cuda for the GPU.
#
#   HBILSTM_DATA_DIR=../shared/data bash benchmarks/epoch_time.sh
set -euo pipefail
device=${DEVICE:-cpu}
run=${OUT:-runs/bench}/epoch-L10-$device
hbilstm train --layers 10 --epochs 1 --device "$device" --output "$run" --overwrite --quiet
python - "$run" <<'PY'
import json, sys
from pathlib import Path
record = json.loads((Path(sys.argv[1]) / "metrics.jsonl").read_text().splitlines()[0])
manifest = json.loads((Path(sys.argv[1]) / "manifest.json").read_text())
print(f"device {manifest['device']['type']} {manifest['device']['name']}: one epoch at --layers 10: "
      f"{record['seconds']:.1f} s training + {record['val_seconds']:.1f} s validation, {record['tokens_per_s']:,.0f} tokens/s")
PY
