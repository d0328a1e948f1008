"""The `simgap` command line: load, demo, analyze, compare, report, export."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from simgap_core.errors import SimgapError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(
    help="How far are simulated users from real ones? Load transcripts, map user behaviour, "
    "measure the gap.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

DEMO_DATA = Path(__file__).resolve().parent.parent / "data" / "demo"


def _fail(message: str) -> typer.Exit:
    """Print a one-line error and return the exit to raise (status 2)."""
    errors.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


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
            f"{row.conversations:,}",
            f"{row.user_turns:,}",
            f"{row.mean_words_per_user_turn:.1f}",
        )
    console.print(table)
    if corpus.skipped:
        console.print(f"[yellow]{len(corpus.skipped)} records skipped:[/yellow]")
        for skipped in corpus.skipped:
            console.print(f"  {skipped}", markup=False, highlight=False, soft_wrap=True)
    for failure in failures:
        errors.print(f"error: {failure}", markup=False, highlight=False, soft_wrap=True)


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
    if not sep or not left or not right:
        raise _fail(f"{option} takes {shape}, got {value!r}")
    return left, right


def _parse_sim(value: str) -> tuple[str, Path]:
    name, path = _parse_pair(value, "--sim", "NAME=PATH")
    return name, Path(path)


def _registered(kind: str) -> str:
    """The registered names of `kind`, for help texts and errors."""
    from simgap_core import parts

    return ", ".join(parts.available(kind))


@app.command()
def analyze(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
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
        str, typer.Option(help=f"Annotator part: {_registered('annotator')}.")
    ] = "heuristic",
    llm_base_url: Annotated[
        list[str] | None,
        typer.Option(help="OpenAI-compatible API root for --annotator llm (repeatable)."),
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Chat model for --annotator llm.")] = None,
    model: Annotated[
        str, typer.Option(help="Sentence-transformers model name or path.")
    ] = "all-MiniLM-L6-v2",
    precision: Annotated[str, typer.Option(help="auto, fp32 or bf16.")] = "auto",
    embedder: Annotated[
        str, typer.Option(help=f"Embedder part: {_registered('embedder')}.")
    ] = "sentence-transformers",
    embed_base_url: Annotated[
        list[str] | None,
        typer.Option(
            help="OpenAI-compatible API root for --embedder openai (repeatable).",
            show_default=False,
        ),
    ] = None,
    embed_model: Annotated[
        str | None, typer.Option(help="Embedding model served at --embed-base-url.")
    ] = None,
    embed_dim: Annotated[
        int | None, typer.Option(help="Keep the first D dimensions (Matryoshka) and re-normalize.")
    ] = None,
    reducer: Annotated[str, typer.Option(help=f"Reducer part: {_registered('reducer')}.")] = "umap",
    clusterer: Annotated[
        str, typer.Option(help=f"Clusterer part: {_registered('clusterer')}.")
    ] = "hdbscan",
    part_option: Annotated[
        list[str] | None,
        typer.Option(
            help="Option of a part as KIND.KEY=VALUE (JSON value), e.g. clusterer.n_clusters=8."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for UMAP, k-means and resampling.")] = 42,
    n_neighbors: Annotated[int, typer.Option(help="UMAP neighbours.")] = 15,
    min_cluster_size: Annotated[
        int | None, typer.Option(help="HDBSCAN min_cluster_size (default: from data size).")
    ] = None,
    min_samples: Annotated[int | None, typer.Option(help="HDBSCAN min_samples.")] = None,
    balance: Annotated[
        bool, typer.Option(help="Fit the map on a per-source balanced sample.")
    ] = False,
    k: Annotated[int | None, typer.Option(help="k-means clusters (default n_real/10).")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 200,
    measure: Annotated[bool, typer.Option(help="Compute the metrics stage.")] = True,
) -> None:
    """Represent, embed, map, cluster and measure: write a run directory."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from simgap_core import parts
    from simgap_core.run import AnalysisParams
    from simgap_core.run import analyze as run_analysis

    inputs = _analysis_inputs(real or [], sim or [], use_demo, format)
    for kind, name in (
        ("annotator", annotator),
        ("embedder", embedder),
        ("reducer", reducer),
        ("clusterer", clusterer),
    ):
        if name not in parts.available(kind):
            raise _fail(f"--{kind} {name!r} is not registered; choose one of {_registered(kind)}")
    params = AnalysisParams(
        facet=facet,
        annotator=annotator,
        llm_base_url=(llm_base_url[0] if len(llm_base_url) == 1 else llm_base_url)
        if llm_base_url
        else None,
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
        embedder=embedder,
        embed_base_url=embed_base_url or [],
        embed_model=embed_model,
        embed_dim=embed_dim,
        reducer=reducer,
        clusterer=clusterer,
        part_options=_part_options(part_option or []),
    )
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=False,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        try:
            run = run_analysis(
                inputs,
                out,
                params,
                progress=progress,
                notice=lambda message: errors.print(
                    f"notice: {message}", markup=False, highlight=False, soft_wrap=True
                ),
            )
        except SimgapError as error:
            raise _fail(str(error)) from None
    document = run.params
    console.print(
        f"run written to {run.path}  (recomputed: {', '.join(document['recomputed']) or 'nothing'})"
    )
    if (run.path / "metrics.json").is_file():
        _print_leaderboard(run.metrics())


def _part_options(values: list[str]) -> dict[str, dict]:
    """`--part-option KIND.KEY=VALUE` values as {kind: {key: value}}; VALUE is JSON or text."""
    options: dict[str, dict] = {}
    for value in values:
        target, raw = _parse_pair(value, "--part-option", "KIND.KEY=VALUE")
        kind, dot, key = target.partition(".")
        if not dot or not key:
            raise _fail(f"--part-option takes KIND.KEY=VALUE, got {value!r}")
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        options.setdefault(kind, {})[key] = parsed
    return options


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

    try:
        metrics = Run(run_dir).metrics()
    except SimgapError as error:
        raise _fail(str(error)) from None
    _print_leaderboard(metrics)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HTML file to write (default: RUN_DIR/report.html)."),
    ] = None,
) -> None:
    """Write the stakeholder report: one self-contained HTML file that opens offline."""
    import time

    from simgap_core.present.report import write_report

    started = time.perf_counter()
    try:
        written = write_report(run_dir, out or run_dir / "report.html")
    except SimgapError as error:
        raise _fail(str(error)) from None
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
    to: Annotated[Path, typer.Option("--to", help="Folder to write the tables to.")],
) -> None:
    """Write the leaderboard, per-cluster table and per-conversation assignments (CSV, Parquet)."""
    from simgap_core.present.export import export_tables

    try:
        written = export_tables(run_dir, to)
    except SimgapError as error:
        raise _fail(str(error)) from None
    for path in written:
        console.print(str(path), markup=False, highlight=False, soft_wrap=True)


def main() -> None:
    try:
        app()
    except SimgapError as error:
        errors.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
