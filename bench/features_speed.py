"""Time the behaviour features on the demo data (6,000 conversations) and print per-source means.

Run: PYTHONPATH=. python bench/features_speed.py
"""

import glob
import os
import time

import pandas as pd

started, cpu_started = time.perf_counter(), time.process_time()
import lexicalrichness  # noqa: E402, F401  (imports matplotlib, nltk and textblob: seconds)

from simgap_core.behaviour.features import (  # noqa: E402
    FEATURE_NAMES,
    _language_detector,
    compute_features,
)
from simgap_core.io.loaders import load_file  # noqa: E402
from simgap_core.model import Corpus  # noqa: E402

imported = time.perf_counter()
corpus = Corpus.concat([load_file(path) for path in sorted(glob.glob("data/demo/*.jsonl"))])
loaded = time.perf_counter()
_language_detector().detect_language_of("warm up the language models")
warmed, cpu_warmed = time.perf_counter(), time.process_time()
features = compute_features(corpus)
done, cpu_done = time.perf_counter(), time.process_time()
print(f"machine: {os.cpu_count()} cores (shared); conversations: {len(corpus)}")
print(
    f"imports {imported - started:.1f} s; load {loaded - imported:.1f} s; "
    f"language models {warmed - loaded:.1f} s; features {done - warmed:.1f} s; "
    f"total {done - started:.1f} s (wall clock)"
)
# On a shared machine the wall clock says more about the neighbours than about this code.
print(
    f"CPU time: features {cpu_done - cpu_warmed:.1f} s, total {cpu_done - cpu_started:.1f} s; "
    f"load average {os.getloadavg()[0]:.1f}"
)
pd.set_option("display.width", 200)
print(features.groupby("source")[list(FEATURE_NAMES)].mean().T.round(3))
