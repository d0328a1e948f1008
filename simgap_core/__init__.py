"""simgap: how far are simulated users from real ones?

Stages, one module each: `loaders` (files -> `model.Corpus`), `demo` (the embedded demo data),
`represent` (behaviour texts per facet), `embed`, `mapping` (UMAP + HDBSCAN), `quantize`
(the paper's PCA + k-means), `divergence` (JS / KL), `uncertainty`, `mixture`, `interpret`,
`run` (the run directory), `report`, `cli`.
"""

__version__ = "0.1.0"
