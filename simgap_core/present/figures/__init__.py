"""Plotly figures of a run, shared by the dashboard and the HTML report (no Streamlit here).

One module per view, so a page's figures are found where the page is:

- `common`: the palettes, a colour per source (`source_colors`), escaping for plotly
  (`plotly_text`), interval bars: what every figure shares;
- `map`: the shared map as a scatter (`map_scatter`: by source or cluster, points at one spot
  drawn once, contours, cluster names; `highlight_trace`: search matches);
- `labels`: where the map's cluster names go, none overlapping (`place_labels`, pure numpy);
- `density`: the map as a grid of shares (`density_figure`, `difference_figure`);
- `clusters`: per-cluster shares and gaps of one simulator (`cluster_gap_figure`);
- `simulators`: the leaderboard, feature gaps, pairwise divergence and mixture figures.

Callers import from the module that draws the figure (`figures.map.map_scatter`); a new figure
goes into the module of its view, or a new module for a new view.
"""
