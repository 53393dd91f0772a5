"""Compare two results tables (`na-flows results --format csv`): the same candidates, the same text columns
(states, stability verdicts, models) and the largest relative difference of each numeric column. Used to check
that a change that should not alter the science (a reorganisation) gives the same table as before it.

    .venv/bin/python scripts/compare_results.py before.csv after.csv
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

IGNORED = {"campaign_id"}  # new at every submission


def main(before_csv: str, after_csv: str) -> int:
    before = pd.read_csv(before_csv).set_index("candidate_id").sort_index()
    after = pd.read_csv(after_csv).set_index("candidate_id").sort_index()
    same = list(before.index) == list(after.index) and set(before.columns) == set(after.columns)
    print(f"candidates: {list(after.index)}; same candidates and columns: {same}")
    worst = []
    for column in sorted(set(before.columns) & set(after.columns) - IGNORED):
        a, b = before[column], after[column]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(float), b.to_numpy(float)
            relative = np.where(np.isnan(x) & np.isnan(y), 0.0, np.abs(x - y) / np.maximum(np.abs(x), 1e-12))
            worst.append((float(np.nanmax(relative)) if len(relative) else 0.0, column))
        elif not (a.fillna("NA").astype(str) == b.fillna("NA").astype(str)).all():
            same = False
            print(f"differs: {column}: {dict(a)} -> {dict(b)}")
    worst.sort(reverse=True)
    print("largest relative differences:", ", ".join(f"{column} {value:.2g}" for value, column in worst[:6]))
    return 0 if same and (not worst or worst[0][0] <= 1e-6) else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
