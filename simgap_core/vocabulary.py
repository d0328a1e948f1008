"""The method's small closed vocabularies, defined once: every module, the CLI and the pages
read them from here. Plain tuples, no imports: the CLI reads them before any heavy library.
"""

from __future__ import annotations

# How a cluster's shares compare (measure/interpret.py): real users' and a simulator's alike,
# real users' far above (the simulator misses it), or the simulator's far above (it invents it).
CAPTURED, MISSED, HALLUCINATED = "captured", "missed", "hallucinated"
CATEGORIES = (CAPTURED, MISSED, HALLUCINATED)
GAP_CATEGORIES = (MISSED, HALLUCINATED)

# How k is chosen for the paper quantization: one k for every pair (from the smallest source),
# or MAUVE's rule per pair.
K_RULES = ("common", "pair")
# How the (reference, simulator) pairs are quantized when they share k: one fit of all sources
# pooled serves every pair ("shared", one yardstick for every simulator), or a fit per pair
# ("each", the paper's).
PAIR_BINS = ("shared", "each")

# Embedding precision: "auto" picks bf16 only where a check finds it faster and as exact.
PRECISIONS = ("auto", "fp32", "bf16")
