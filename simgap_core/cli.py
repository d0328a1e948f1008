"""The `simgap` command line: load, demo, analyze, compare, report, export.

One error boundary (`_Boundary.main`) turns every failure into one line on stderr,
`error: ...`, and exit status 2: our own errors (`SimgapError`, naming file, record and field),
bad options (click's usage errors, with the allowed range) and, for a bug, any other exception
(with "rerun with --debug"). `simgap --debug COMMAND` prints the traceback as well.

Names in the output come from data (source names, file names, ids): both consoles print with
rich markup and highlighting off, so `[/bold]` is printed as typed, and lines are never wrapped,
so a message stays on one line whatever the terminal width or the temporary path's length.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer._click import exceptions as click_errors
from typer.core import TyperGroup

from simgap_core.errors import SimgapError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Set by the `--debug` global option for the command being run.
_debug = False
PRECISIONS = ("auto", "fp32", "bf16")
ANNOTATORS = ("heuristic", "llm")
# Skipped records listed after `analyze`; the rest are in skipped.json.
SKIPPED_SHOWN = 3


def _error_line(message: str) -> None:
    """One line on stderr: newlines inside a message (e.g. from a library) become spaces."""
    errors.print(
        "error: " + " ".join(str(message).split()), markup=False, highlight=False, soft_wrap=True
    )


class _Boundary(TyperGroup):
    """The CLI's single error boundary: one line on stderr and status 2 for every failure."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        global _debug
        _debug = False
        try:
            status = super().main(*args, standalone_mode=False, **kwargs)
        except typer.Abort:
            _error_line("aborted")
            status = 1
        except click_errors.NoArgsIsHelpError as error:
            typer.echo(error.ctx.get_help() if error.ctx else "")
            status = 2
        except click_errors.ClickException as error:
            message = error.format_message()
            if isinstance(error, click_errors.UsageError) and error.ctx is not None:
                message += f" (see `{error.ctx.command_path} --help`)"
            _error_line(message)
            status = 2
        except SimgapError as error:
            if _debug:
                errors.print(traceback.format_exc(), markup=False, highlight=False)
            _error_line(str(error))
            status = 2
        except Exception as error:  # noqa: BLE001 - the boundary: a bug still gets one line
            if _debug:
                errors.print(traceback.format_exc(), markup=False, highlight=False)
            _error_line(
                f"{type(error).__name__}: {error} (an unexpected error, probably a bug in "
                "simgap; rerun with --debug for the traceback)"
            )
            status = 2
        status = status if isinstance(status, int) else 0
        if standalone_mode:
            sys.exit(status)
        return status


app = typer.Typer(
    cls=_Boundary,
    help="How far are simulated users from real ones? Load transcripts, map user behaviour, "
    "measure the gap.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(markup=False, highlight=False, soft_wrap=True)
errors = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)

DEMO_DATA = Path(__file__).resolve().parent.parent / "data" / "demo"


@app.callback()
def _global_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, print the traceback too.")
    ] = False,
) -> None:
    global _debug
    _debug = debug


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    """An option's value if it is one of `allowed`, else a usage error listing them."""
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(repr(a) for a in allowed)}")
    return value


def _fail(message: str) -> typer.Exit:
    """Print a one-line error and return the exit to raise (status 2)."""
    _error_line(message)
    return typer.Exit(2)


def _run_directory(path: Path) -> Path:
    """`path` if it is a directory, else a clear error (a file is not a run directory)."""
    if path.is_file():
        raise _fail(f"{path} is a file, not a run directory (give the folder `analyze` wrote)")
    if not path.is_dir():
        raise _fail(f"{path} does not exist (give the folder `analyze --out` wrote)")
    return path


@app.command()
def load(
    paths: Annotated[list[Path], typer.Argument(help="Transcript files to load.")],
    format: Annotated[
        str | None, typer.Option("--format", "-f", help="Format name; sniffed when omitted.")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", "-s", help="Source name for every conversation.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    column: Annotated[
        list[str] | None,
        typer.Option(help="Table column mapping THEIRS=OURS, e.g. --column speaker=role."),
    ] = None,
) -> None:
    """Load transcripts and print a per-source summary, with every skipped record and why."""
    from simgap_core.io.loaders import load_file
    from simgap_core.model import Corpus

    column_map = dict(_parse_pair(value, "--column", "THEIRS=OURS") for value in column or [])
    corpora = []
    failures = []
    for path in paths:
        try:
            corpora.append(load_file(path, format=format, source=source, column_map=column_map))
        except (SimgapError, ValueError) as error:
            failures.append(str(error))
    try:
        corpus = Corpus.concat(corpora)
    except ValueError as error:
        raise _fail(str(error)) from None
    if len(corpus) == 0:
        raise _fail("; ".join(failures) or "no conversations loaded")
    summary = corpus.summary()
    if as_json:
        document = {
            "sources": {
                name: {
                    "conversations": int(row.conversations),
                    "user_turns": int(row.user_turns),
                    "mean_words_per_user_turn": round(float(row.mean_words_per_user_turn), 2),
                }
                for name, row in summary.iterrows()
            },
            "skipped": [s.to_dict() for s in corpus.skipped],
            "errors": failures,
        }
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    table = Table(title="Loaded conversations")
    for column in ("source", "conversations", "user turns", "mean words / user turn"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, row in summary.iterrows():
        table.add_row(
            str(name),
            f"{int(row.conversations):,}",
            f"{int(row.user_turns):,}",
            f"{row.mean_words_per_user_turn:.1f}",
        )
    console.print(table)
    if corpus.skipped:
        console.print(f"{len(corpus.skipped)} records skipped:", style="yellow")
        for skipped in corpus.skipped:
            console.print(f"  {skipped}", markup=False, highlight=False, soft_wrap=True)
    for failure in failures:
        _error_line(failure)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder to write the demo dataset to.")] = DEMO_DATA,
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 0,
) -> None:
    """Write the demo dataset (one real population, three simulators, with ground truth)."""
    from simgap_core.demo import write_demo

    written = write_demo(out, seed=seed)
    console.print(f"demo dataset written to {written}")


def _parse_pair(value: str, option: str, shape: str) -> tuple[str, str]:
    left, sep, right = value.partition("=")
    if not sep or not left.strip() or not right.strip():
        raise _fail(f"{option} takes {shape}, got {value!r}")
    return left, right


def _parse_sim(value: str) -> tuple[str, Path]:
    name, path = _parse_pair(value, "--sim", "NAME=PATH")
    return name, Path(path)


@app.command()
def analyze(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", file_okay=False, help="Run directory to write (a folder)."),
    ],
    real: Annotated[
        list[Path] | None, typer.Option(help="Real-user transcript file (repeatable).")
    ] = None,
    sim: Annotated[
        list[str] | None, typer.Option(help="Simulator as NAME=PATH (repeatable).")
    ] = None,
    use_demo: Annotated[
        bool, typer.Option("--demo", help="Analyze the embedded demo dataset.")
    ] = False,
    format: Annotated[str | None, typer.Option("--format", help="Input format.")] = None,
    facet: Annotated[str, typer.Option(help="Representation of user behaviour.")] = "combined",
    annotator: Annotated[
        str, typer.Option(callback=lambda v: _choice(v, ANNOTATORS), help="heuristic or llm.")
    ] = "heuristic",
    llm_base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint for --annotator llm.")
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Chat model for --annotator llm.")] = None,
    model: Annotated[
        str, typer.Option(help="Sentence-transformers model name or path.")
    ] = "all-MiniLM-L6-v2",
    precision: Annotated[
        str, typer.Option(callback=lambda v: _choice(v, PRECISIONS), help="auto, fp32 or bf16.")
    ] = "auto",
    seed: Annotated[
        int, typer.Option(min=0, max=2**32 - 1, help="Seed for UMAP, k-means and resampling.")
    ] = 42,
    n_neighbors: Annotated[int, typer.Option(min=2, help="UMAP neighbours.")] = 15,
    min_cluster_size: Annotated[
        int | None,
        typer.Option(min=2, help="HDBSCAN min_cluster_size (default: from data size)."),
    ] = None,
    min_samples: Annotated[int | None, typer.Option(min=1, help="HDBSCAN min_samples.")] = None,
    balance: Annotated[
        bool, typer.Option(help="Fit the map on a per-source balanced sample.")
    ] = False,
    k: Annotated[
        int | None,
        typer.Option(min=1, help="k-means clusters, at most n_real (default n_real/10)."),
    ] = None,
    bootstrap: Annotated[int, typer.Option(min=1, help="Bootstrap resamples.")] = 200,
    measure: Annotated[bool, typer.Option(help="Compute the metrics stage.")] = True,
) -> None:
    """Represent, embed, map, cluster and measure: write a run directory."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from simgap_core.run import AnalysisParams
    from simgap_core.run import analyze as run_analysis

    inputs = _analysis_inputs(real or [], sim or [], use_demo, format)
    params = AnalysisParams(
        facet=facet,
        annotator=annotator,
        llm_base_url=llm_base_url,
        llm_model=llm_model,
        embedding_model=model,
        precision=precision,
        seed=seed,
        n_neighbors=n_neighbors,
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        balance_sources=balance,
        k=k,
        bootstrap=bootstrap,
        measure=measure,
    )
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        # Its own console: the column format is markup (stage names, never data).
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        run = run_analysis(inputs, out, params, progress=progress)
    document = run.params
    console.print(
        f"run written to {run.path}  (recomputed: {', '.join(document['recomputed']) or 'nothing'})"
    )
    _print_skipped_summary(run)
    if (run.path / "metrics.json").is_file():
        _print_leaderboard(run.metrics())


def _print_skipped_summary(run: Any) -> None:
    """One line on how many input records were skipped, and the first reasons (defect 14)."""
    skipped = run.skipped()
    if not skipped:
        return
    loaded = sum(int(n) for n in run.params.get("sources", {}).values())
    console.print(
        f"{len(skipped)} of {len(skipped) + loaded} records skipped "
        f"(see {run.path / 'skipped.json'} or `simgap load`)",
        style="yellow",
    )
    for entry in skipped[:SKIPPED_SHOWN]:
        console.print(f"  {entry['file']}, {entry['record']}: {entry['reason']}")
    if len(skipped) > SKIPPED_SHOWN:
        console.print(f"  … and {len(skipped) - SKIPPED_SHOWN} more")


def _analysis_inputs(real: list[Path], sim: list[str], use_demo: bool, format: str | None):
    from simgap_core.run import InputSpec

    inputs = [InputSpec(path, "real", format) for path in real]
    inputs += [InputSpec(path, name, format) for name, path in map(_parse_sim, sim)]
    if use_demo:
        from simgap_core.demo import DEMO_SOURCES

        # Recorded relative to the working directory when inside it, so a run made from the
        # project root (like the committed demo run) names its inputs portably.
        folder = DEMO_DATA
        if folder.is_relative_to(Path.cwd()):
            folder = folder.relative_to(Path.cwd())
        inputs += [InputSpec(folder / f"{name}.jsonl", name, "openai") for name in DEMO_SOURCES]
    if not inputs:
        raise _fail("nothing to analyze: give --real and --sim NAME=PATH, or --demo")
    return inputs


def _print_leaderboard(metrics: dict) -> None:
    from simgap_core.present.leaderboard import leaderboard

    board = leaderboard(metrics)
    table = Table(
        title=f"Simulators vs {metrics['reference']} (paper quantization; JS and KL in nats)",
        caption="JS: plug-in, as in the paper. corrected [95% CI]: bias-corrected JS and its "
        "bootstrap interval. floor: real vs real (random halves).",
    )
    for column in (
        "simulator",
        "JS",
        "corrected [95% CI]",
        "floor",
        "KL fwd",
        "KL bwd",
        "map JS",
        "AUC",
        "p",
    ):
        table.add_column(column, justify="left" if column == "simulator" else "right")
    for row in board.itertuples(index=False):
        table.add_row(
            row.simulator,
            f"{row.js:.4f}",
            f"{row.js_corrected:.4f} [{row.js_lo:.4f}, {row.js_hi:.4f}]",
            f"{row.floor_js:.4f}",
            f"{row.kl_forward:.4f}",
            f"{row.kl_backward:.4f}",
            f"{row.map_js:.4f}",
            f"{row.classifier_auc:.3f}",
            f"{row.p_value:.3g}",
        )
    console.print(table)


@app.command()
def compare(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Print the simulator leaderboard of a run."""
    from simgap_core.run import Run

    _print_leaderboard(Run(_run_directory(run_dir)).metrics())


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="HTML file to write (default: RUN_DIR/report.html); an existing folder gets "
            "FOLDER/report.html.",
        ),
    ] = None,
) -> None:
    """Write the stakeholder report: one self-contained HTML file that opens offline."""
    import time

    from simgap_core.present.report import write_report

    started = time.perf_counter()
    _run_directory(run_dir)
    target = out or run_dir / "report.html"
    if target.is_dir():
        target = target / "report.html"
    written = write_report(run_dir, target)
    size_mb = written.stat().st_size / 1e6
    console.print(
        f"report written to {written}  ({size_mb:.1f} MB, {time.perf_counter() - started:.1f} s)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    to: Annotated[
        Path, typer.Option("--to", file_okay=False, help="Folder to write the tables to.")
    ],
) -> None:
    """Write the leaderboard, per-cluster table and per-conversation assignments (CSV, Parquet)."""
    from simgap_core.present.export import export_tables

    for path in export_tables(_run_directory(run_dir), to):
        console.print(str(path))


def main() -> None:
    """The console script: `app` carries the error boundary (see `_Boundary`)."""
    app()


if __name__ == "__main__":
    main()
