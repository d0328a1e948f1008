"""Stages 4-7, measurement: every number a run stores.

- `quantize`: the paper's PCA + k-means bins; `divergence`: JS and forward/backward KL;
- `uncertainty`: bootstrap intervals, permutation tests, Benjamini-Hochberg;
- `classifier`: the linear-probe two-sample test; `mixture`: the best mixture of simulators;
- `interpret`: c-TF-IDF terms, captured / missed / hallucinated clusters, misalignment;
- `compare.measure`: all of the above for every simulator against the reference.
"""
