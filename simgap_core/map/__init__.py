"""Stage 3, the map: one shared UMAP layout of all sources (2-d for display, ~5-d for
clustering) and HDBSCAN clusters on it (`layout`)."""
