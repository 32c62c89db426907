"""Compare two prediction CSVs of the same input (`hbilstm predict ... -o A.csv`, then another
path or device into B.csv): same rows in the same order, how many labels agree, and the largest
difference between their probabilities. Exits 1 when the rows differ or a label does.

    python benchmarks/compare_outputs.py A.csv B.csv
"""

from __future__ import annotations

import csv
import sys


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], newline="", encoding="utf-8") as a, open(sys.argv[2], newline="", encoding="utf-8") as b:
        left, right = list(csv.DictReader(a)), list(csv.DictReader(b))
    if [r["text"] for r in left] != [r["text"] for r in right]:
        sys.exit(f"the rows differ: {len(left)} against {len(right)}")
    probs = [c for c in left[0] if c.startswith("prob_")] if left else []
    same = sum(x["label"] == y["label"] for x, y in zip(left, right))
    gap = max((abs(float(x[c] or 0) - float(y[c] or 0)) for x, y in zip(left, right) for c in probs), default=0.0)
    identical = open(sys.argv[1], "rb").read() == open(sys.argv[2], "rb").read()
    print(f"{len(left):,} rows; same label on {same:,} ({100 * same / max(1, len(left)):.2f}%); "
          f"largest probability difference {gap:.6f}; byte-identical files: {identical}")
    sys.exit(0 if same == len(left) else 1)


if __name__ == "__main__":
    main()
