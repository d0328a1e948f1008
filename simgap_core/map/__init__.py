"""Stage 3, the map: one shared UMAP layout of all sources (2-d for display, ~5-d for
clustering) and HDBSCAN clusters on it. `layout` holds the algorithms; `parts` wraps them as
the registered `umap` reducer and `hdbscan` clusterer (and defines the `Reducer` and
`Clusterer` base classes other implementations subclass)."""
