"""The leaderboard and its verdicts on a terminal: one wide table, or one block per simulator.

Rendering only (what to say comes from `present.leaderboard` and `present.verdicts`); every
name and line from the data is made terminal-safe, and printed as text, never as markup.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from simgap_core.schema import Metrics
from simgap_core.untrusted import terminal_safe


def print_leaderboard(console: Console, metrics: Metrics) -> None:
    """The leaderboard (columns from the metric registry), then every verdict sentence.

    One wide table when the terminal holds it; otherwise one two-column block per simulator
    (metric, value), which stays readable at 80 columns and in a log file.
    """
    from simgap_core.present.leaderboard import leaderboard_cells
    from simgap_core.present.verdicts import verdicts

    # Simulator names come from the data: every cell and line is terminal-safe.
    cells = leaderboard_cells(metrics).map(terminal_safe)
    cells.columns = [terminal_safe(column) for column in cells.columns]
    title = Text(
        terminal_safe(
            f"Simulators vs {metrics.reference}, closest first (paper quantization; JS and KL "
            f"in nats; [low, high]: {metrics.settings.ci_level:.0%} interval)"
        )
    )
    caption = Text("\n".join(terminal_safe(line) for line in verdicts(metrics).lines()))
    # Each column as wide as its longest cell (headers fold onto several lines), plus rich's
    # borders and padding.
    needed = sum(max(8, *(len(v) for v in cells[column])) + 3 for column in cells.columns)
    # Text, not markup: names come from the data and intervals look like markup tags.
    if console.width >= needed:
        table = Table(title=title, caption=caption, caption_justify="left")
        for column in cells.columns:
            table.add_column(
                Text(column),
                justify="left" if column in ("simulator", "reliability") else "right",
                overflow="fold",
            )
        for row in cells.itertuples(index=False):
            table.add_row(*(Text(value) for value in row))
        console.print(table)
        return
    console.print(title, soft_wrap=False)
    for row in cells.to_dict("records"):
        block = Table(
            title=Text(f"{row['#']}. {row['simulator']}"), show_header=False, title_justify="left"
        )
        block.add_column(overflow="fold")
        block.add_column(overflow="fold")
        for column, value in row.items():
            if column not in ("#", "simulator"):
                block.add_row(Text(column), Text(value))
        console.print(block)
    console.print(caption, soft_wrap=False)
