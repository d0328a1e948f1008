"""Presentation, shared by the CLI, the dashboard and the report: tables read off a run
(`leaderboard`), plotly figures (`figures`), selections on the map (`selection`), the HTML
report (`report`) and table exports (`export`). Pure functions; no Streamlit import."""
