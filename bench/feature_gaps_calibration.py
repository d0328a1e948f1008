"""Calibration of the feature gaps on a simulator with no gap: a random half of real.

Splits the demo's real conversations (1,500) into two random halves R times, calls one half
"real" and the other a simulator, and prints
- how often any of the 26 features is called significant (q <= 0.05 after Benjamini-Hochberg):
  under this global null it should be about 5% at most;
- the coverage of the 95% bootstrap interval of the true effect (0 sd, ratio 1), per feature
  kind.

Run: PYTHONPATH=. python bench/feature_gaps_calibration.py [R]
"""

import glob
import sys
import time

import numpy as np

from simgap_core.behaviour.features import compute_features
from simgap_core.behaviour.gaps import RATE_RATIO, feature_gaps
from simgap_core.io.loaders import load_file

repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 200
real = compute_features(load_file(sorted(glob.glob("data/demo/real.jsonl"))[0]))
started = time.perf_counter()
any_significant = 0
covered = {"smd": [], RATE_RATIO: []}
for split in range(repeats):
    rng = np.random.default_rng([2026, split])
    halves = real.copy()
    halves["source"] = np.where(rng.permutation(len(real)) < len(real) // 2, "real", "half")
    gaps = feature_gaps(halves, seed=split, bootstrap=200, permutations=1000)
    gaps = gaps[gaps["p_value"].notna() & (gaps["ci_low"] < gaps["ci_high"])]
    any_significant += bool((gaps["q_value"] <= 0.05).any())
    for kind, truth in (("smd", 0.0), (RATE_RATIO, 1.0)):
        part = gaps[gaps["effect_kind"] == kind]
        covered[kind].extend(((part["ci_low"] <= truth) & (truth <= part["ci_high"])).tolist())
elapsed = time.perf_counter() - started
print(
    f"machine: 2 cores; real conversations: {len(real)} split {len(real) // 2} / "
    f"{len(real) - len(real) // 2}; splits: {repeats}; bootstrap 200, permutations 1000"
)
print(
    f"splits with any feature at q <= 0.05: {any_significant}/{repeats} "
    f"= {any_significant / repeats:.3f}"
)
for kind, hits in covered.items():
    print(f"95% interval coverage, {kind}: {np.mean(hits):.3f} over {len(hits)} intervals")
print(f"time: {elapsed:.0f} s ({elapsed / repeats:.2f} s per split)")
