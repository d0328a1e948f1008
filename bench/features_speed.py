"""Time the behaviour features on the demo data (6,000 conversations) and print per-source means.

Run: PYTHONPATH=. python bench/features_speed.py
"""

import glob
import time

import pandas as pd

from simgap_core.io.loaders import load_file
from simgap_core.model import Corpus

started = time.perf_counter()
from simgap_core.behaviour.features import FEATURE_NAMES, compute_features  # noqa: E402

corpus = Corpus.concat([load_file(path) for path in sorted(glob.glob("data/demo/*.jsonl"))])
loaded = time.perf_counter()
features = compute_features(corpus)
done = time.perf_counter()
print(f"machine: {__import__('os').cpu_count()} cores; conversations: {len(corpus)}")
print(f"import + load: {loaded - started:.1f} s; features: {done - loaded:.1f} s")
pd.set_option("display.width", 200)
print(features.groupby("source")[list(FEATURE_NAMES)].mean().T.round(3))
