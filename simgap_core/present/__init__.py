"""Presentation, shared by the CLI, the dashboard and the report. Pure functions; no Streamlit
import.

Two layers, so a new view says the same things in the same words as the others:

- what to say: tables read off a run (`leaderboard`), selections on the map (`selection`), the
  run's verdict sentences (`verdicts`) and what each simulator misses or invents, with excerpts
  (`findings`);
- how to show it: numbers in words (`formatting`), plotly figures by view (`figures/`), the HTML
  report (`report` + `templates/`) and table exports (`export`).
"""
