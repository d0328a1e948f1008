"""The `simgap` command line: load, demo, analyze, compare, report, export.

One error boundary (`_Boundary.main`) turns every failure into one line on stderr,
`error: ...`, and exit status 2: our own errors (`SimgapError`, naming file, record and field),
bad options (click's usage errors, with the allowed range) and, for a bug, any other exception
(with "rerun with --debug"). `simgap --debug COMMAND` prints the traceback as well. Ctrl-C
prints `error: interrupted` and exits 130 (every artifact is written atomically, so none is
left half-written looking whole).

Names in the output come from data (source names, file names, ids): both consoles print with
rich markup and highlighting off, so `[/bold]` is printed as typed, and lines are never wrapped,
so a message stays on one line whatever the terminal width or the temporary path's length.
Every such name, id, file name, text or error message goes through `terminal_safe` on its way
out, so control and bidi characters in it are shown as escapes (`\u001b`), never obeyed.
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
from rich.text import Text
from typer._click import exceptions as click_errors
from typer.core import TyperGroup

from simgap_core.environment import apply_defaults
from simgap_core.errors import SimgapError
from simgap_core.untrusted import terminal_safe
from simgap_core.vocabulary import K_RULES, PAIR_BINS, PRECISIONS

apply_defaults()

# Set by the `--debug` global option for the command being run.
_debug = False
# Skipped records listed after `analyze`; the rest are in skipped.json.
SKIPPED_SHOWN = 3


def _error_line(message: object) -> None:
    """One line on stderr: newlines inside a message (e.g. from a library) become spaces,
    credentials in any URL it quotes (e.g. an httpx error's) are masked, and control or bidi
    characters from data are shown escaped."""
    from simgap_core.http import redact_urls

    text = redact_urls(" ".join(str(message).split()))
    errors.print("error: " + terminal_safe(text), markup=False, highlight=False, soft_wrap=True)


def _say(message: object, **style: Any) -> None:
    """One line on stdout, with anything from data in it shown terminal-safe."""
    console.print(terminal_safe(message), markup=False, highlight=False, soft_wrap=True, **style)


class _Interrupted(Exception):
    """Ctrl-C during a command, carried past typer (which would exit 130 without a word)."""


class _Boundary(TyperGroup):
    """The CLI's single error boundary: one line on stderr and status 2 for every failure."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted() from None

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        global _debug
        _debug = False
        try:
            status = super().main(*args, standalone_mode=False, **kwargs)
        except (_Interrupted, KeyboardInterrupt):
            _error_line("interrupted")
            status = 130
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
    """`path` if it is a run (a folder with simgap's manifest), else a clear error."""
    from simgap_core.run.directory import MANIFEST, is_run_directory

    if path.is_file():
        raise _fail(f"{path} is a file, not a run directory (give the folder `analyze` wrote)")
    if not path.is_dir():
        raise _fail(f"{path} does not exist (give the folder `analyze --out` wrote)")
    if not is_run_directory(path):
        raise _fail(
            f"{path} is not a run directory (it has no valid {MANIFEST}); create one with "
            f"`simgap analyze --out {path}`"
        )
    return path


@app.command()
def load(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Transcript files, folders (every transcript file inside) or quoted "
            "glob patterns such as 'shards/*.parquet'."
        ),
    ],
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
    sample: Annotated[
        int | None,
        typer.Option(help="Keep a seeded random sample of N conversations per source."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of --sample.")] = 42,
) -> None:
    """Load transcripts and print a per-source summary, with every skipped record and repair."""
    from simgap_core.io.inputs import InputSpec, InputSpecError, load_inputs, source_name

    try:
        columns = tuple(_parse_pair(value, "--column", "THEIRS=OURS") for value in column or [])
        name = None if source is None else source_name(source, "--source")
        if sample is not None and sample < 1:
            raise InputSpecError(f"--sample takes a number of at least 1, got {sample}")
        specs = [InputSpec(path, name, format, sample, seed, columns) for path in paths]
        failures: list[SimgapError] = []
        corpus = load_inputs(specs, failures=failures)
    except SimgapError as error:
        raise _fail(str(error)) from None
    if len(corpus) == 0:
        raise _fail("; ".join(map(str, failures)) or "no conversations loaded")
    summary = corpus.summary()
    rows = [
        (str(name), int(row.conversations), int(row.user_turns), float(row.words))
        for name, row in zip(
            summary.index,
            summary.rename(columns={"mean_words_per_user_turn": "words"}).itertuples(index=False),
            strict=True,
        )
    ]
    if as_json:
        document = {
            "sources": {
                name: {
                    "conversations": conversations,
                    "user_turns": user_turns,
                    "mean_words_per_user_turn": round(words, 2),
                }
                for name, conversations, user_turns, words in rows
            },
            "skipped": [s.to_dict() for s in corpus.skipped],
            "repairs": [r.to_dict() for r in corpus.repairs],
            "sampling": corpus.sampling,
            "errors": [str(failure) for failure in failures],
        }
        # JSON strings hold no raw newline, so each line is escaped on its own: what
        # `terminal_safe` escapes inside a string is a valid JSON escape of the same character.
        text = json.dumps(document, indent=2, ensure_ascii=False)
        typer.echo("\n".join(terminal_safe(line) for line in text.split("\n")))
        return
    table = Table(title="Loaded conversations")
    for heading in ("source", "conversations", "user turns", "mean words / user turn"):
        table.add_column(heading, justify="left" if heading == "source" else "right")
    for name, conversations, user_turns, words in rows:
        table.add_row(
            Text(terminal_safe(name)), f"{conversations:,}", f"{user_turns:,}", f"{words:.1f}"
        )
    console.print(table)
    for name, drawn in corpus.sampling.items():
        _say(
            f"{name}: sampled {drawn['kept']:,} of {drawn['of']:,} conversations "
            f"(seed {drawn['seed']})"
        )
    if corpus.repairs:
        _say(f"{len(corpus.repairs)} records repaired:", style="yellow")
        for repair in corpus.repairs:
            _say(f"  {repair}")
    if corpus.skipped:
        _say(f"{len(corpus.skipped)} records skipped:", style="yellow")
        for skipped in corpus.skipped:
            _say(f"  {skipped}")
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
    _say(f"demo dataset written to {written}")


def _parse_pair(value: str, option: str, shape: str) -> tuple[str, str]:
    left, sep, right = value.partition("=")
    if not sep or not left.strip() or not right.strip():
        raise _fail(f"{option} takes {shape}, got {value!r}")
    return left, right


def _registered(kind: str) -> str:
    """The registered names of `kind`, for help texts and errors."""
    from simgap_core import parts

    return ", ".join(parts.available(kind))


@app.command()
def analyze(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", file_okay=False, help="Run directory to write (a folder)."),
    ],
    real: Annotated[
        list[Path] | None,
        typer.Option(help="Real-user transcripts: a file, folder or quoted glob (repeatable)."),
    ] = None,
    sim: Annotated[
        list[str] | None,
        typer.Option(help="Simulator as NAME=PATH; PATH a file, folder or glob (repeatable)."),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(help="Analyze a seeded random sample of N conversations per source."),
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
        typer.Option(
            help="OpenAI-compatible API root for --annotator llm and --namer llm (repeatable)."
        ),
    ] = None,
    llm_model: Annotated[
        str | None, typer.Option(help="Chat model for --annotator llm and --namer llm.")
    ] = None,
    namer: Annotated[
        str,
        typer.Option(
            help="Namer part: offline (feature profile and terms), llm (a chat model at "
            "--llm-base-url, contrasting each cluster with its neighbours), or another "
            "registered one."
        ),
    ] = "offline",
    model: Annotated[
        str,
        typer.Option(
            help="Sentence-transformers model name or path (for --embedder static: the model "
            "distilled)."
        ),
    ] = "all-MiniLM-L6-v2",
    precision: Annotated[
        str, typer.Option(callback=lambda v: _choice(v, PRECISIONS), help="auto, fp32 or bf16.")
    ] = "auto",
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
        int | None,
        typer.Option(min=1, help="Keep the first D dimensions (Matryoshka) and re-normalize."),
    ] = None,
    reducer: Annotated[str, typer.Option(help=f"Reducer part: {_registered('reducer')}.")] = "umap",
    clusterer: Annotated[
        str, typer.Option(help=f"Clusterer part: {_registered('clusterer')}.")
    ] = "hdbscan",
    quantizer: Annotated[
        str, typer.Option(help=f"Quantizer part (the measure's bins): {_registered('quantizer')}.")
    ] = "paper",
    part_option: Annotated[
        list[str] | None,
        typer.Option(
            help="Option of a part as KIND.KEY=VALUE (JSON value), e.g. clusterer.n_clusters=8."
        ),
    ] = None,
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
        typer.Option(
            min=1,
            help="k-means clusters of the paper quantization, at most n_real "
            "(default: round(smallest source / 10), see --k-rule).",
        ),
    ] = None,
    k_rule: Annotated[
        str,
        typer.Option(
            callback=lambda v: _choice(v, K_RULES),
            help="common: one k for every pair, from the smallest source (fair across sizes); "
            "pair: round(min(n_real, n_sim) / 10) per pair.",
        ),
    ] = "common",
    pair_bins: Annotated[
        str,
        typer.Option(
            callback=lambda v: _choice(v, PAIR_BINS),
            help="shared: pairs that share k are binned by one k-means of all sources pooled "
            "(one yardstick for every simulator; the measure stage does not grow with them); "
            "each: a k-means per (reference, simulator) pair, as in the paper.",
        ),
    ] = "shared",
    match_n: Annotated[
        bool,
        typer.Option(
            help="Also measure every simulator at one common size (the smallest source), "
            "averaged over repeated subsamples."
        ),
    ] = False,
    bootstrap: Annotated[int, typer.Option(min=1, help="Bootstrap resamples.")] = 200,
    measure: Annotated[bool, typer.Option(help="Compute the metrics stage.")] = True,
) -> None:
    """Represent, embed, map, cluster and measure: write a run directory."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from simgap_core import parts
    from simgap_core.run import AnalysisParams
    from simgap_core.run import analyze as run_analysis

    inputs = _analysis_inputs(real or [], sim or [], use_demo, format, sample, seed)
    named = {
        "annotator": annotator,
        "embedder": embedder,
        "reducer": reducer,
        "clusterer": clusterer,
        "quantizer": quantizer,
        "namer": namer,
    }
    for kind, name in named.items():
        if name not in parts.available(kind):
            raise _fail(f"--{kind} {name!r} is not registered; choose one of {_registered(kind)}")
    params = AnalysisParams(
        **named,
        facet=facet,
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
        k_rule=k_rule,
        pair_bins=pair_bins,
        match_n=match_n,
        bootstrap=bootstrap,
        measure=measure,
        embed_base_url=embed_base_url or [],
        embed_model=embed_model,
        embed_dim=embed_dim,
        part_options=_part_options(part_option or []),
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

        run = run_analysis(
            inputs,
            out,
            params,
            progress=progress,
            notice=lambda message: errors.print(
                f"notice: {terminal_safe(message)}", markup=False, highlight=False, soft_wrap=True
            ),
        )
    recomputed = ", ".join(run.params.recomputed) or "nothing"
    _say(f"run written to {run.path}  (recomputed: {recomputed})")
    _print_skipped_summary(run)
    if (run.path / "metrics.json").is_file():
        from simgap_core.schema import read_metrics

        try:
            metrics = read_metrics(run.path)
        except SimgapError as error:
            raise _fail(str(error)) from None
        from simgap_core.present.terminal import print_leaderboard

        print_leaderboard(console, metrics)


def _print_skipped_summary(run: Any) -> None:
    """One line on how many input records were skipped, and the first reasons (defect 14)."""
    skipped = run.skipped()
    if not skipped:
        return
    loaded = sum(run.params.sources.values())
    _say(
        f"{len(skipped)} of {len(skipped) + loaded} records skipped "
        f"(see {run.path / 'skipped.json'} or `simgap load`)",
        style="yellow",
    )
    for entry in skipped[:SKIPPED_SHOWN]:
        _say(f"  {entry['file']}, {entry['record']}: {entry['reason']}")
    if len(skipped) > SKIPPED_SHOWN:
        _say(f"  … and {len(skipped) - SKIPPED_SHOWN} more")


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


def _analysis_inputs(
    real: list[Path],
    sim: list[str],
    use_demo: bool,
    format: str | None,
    sample: int | None = None,
    seed: int = 42,
):
    """The `--real` / `--sim NAME=PATH` / `--demo` inputs, parsed by `simgap_core.io.inputs`."""
    from simgap_core.io.inputs import InputSpec, cli_inputs

    try:
        inputs = cli_inputs(real, sim, format=format, sample=sample, seed=seed)
    except SimgapError as error:
        raise _fail(str(error)) from None
    if use_demo:
        from simgap_core.demo import DEMO_SOURCES

        # Recorded relative to the working directory when inside it, so a run made from the
        # project root (like the committed demo run) names its inputs portably.
        folder = DEMO_DATA
        if folder.is_relative_to(Path.cwd()):
            folder = folder.relative_to(Path.cwd())
        inputs += [
            InputSpec(folder / f"{name}.jsonl", name, "openai", sample, seed)
            for name in DEMO_SOURCES
        ]
    if not inputs:
        raise _fail("nothing to analyze: give --real and --sim NAME=PATH, or --demo")
    return inputs


@app.command("parts")
def list_parts() -> None:
    """List every registered part by kind (built-in, and from installed plugins)."""
    from simgap_core import parts

    for kind in parts.KINDS:
        _say(f"{kind}: {', '.join(parts.available(kind)) or '(none)'}")


@app.command()
def compare(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Print the simulator leaderboard of a run and its verdicts."""
    from simgap_core.present.terminal import print_leaderboard
    from simgap_core.schema import read_metrics

    print_leaderboard(console, read_metrics(_run_directory(run_dir)))


FORCE_HELP = "Overwrite existing files (never a folder's other files)."


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="HTML file to write (default: RUN_DIR/report.html); an existing folder gets "
            "FOLDER/report.html. Its folder must exist.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """Write the stakeholder report: one self-contained HTML file that opens offline."""
    import time

    from simgap_core.present.report import write_report
    from simgap_core.run.directory import check_output_file, recording_into

    started = time.perf_counter()
    _run_directory(run_dir)
    target = out or run_dir / "report.html"
    if target.is_dir():
        target = target / "report.html"
    check_output_file(target, force=force)
    # Written into a run, the report is listed in its manifest: the next one may replace it.
    with recording_into(target.parent, force=force):
        written = write_report(run_dir, target)
    size_mb = written.stat().st_size / 1e6
    _say(f"report written to {written}  ({size_mb:.1f} MB, {time.perf_counter() - started:.1f} s)")


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    to: Annotated[
        Path,
        typer.Option(
            "--to",
            file_okay=False,
            help="Folder to write the tables to (created if its parent folder exists).",
        ),
    ],
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """Write the leaderboard, per-cluster table and per-conversation assignments (CSV, Parquet).

    Text cells a spreadsheet would run as a formula (starting with = + - @) get a leading '.
    """
    from simgap_core.present.export import export_tables

    for path in export_tables(_run_directory(run_dir), to, force=force):
        _say(path)


# The Streamlit app beside the package (a clone or an editable install has it).
DASHBOARD_APP = Path(__file__).resolve().parent.parent / "app.py"


def dashboard_command(
    app_file: Path, run_dir: Path, *, port: int, headless: bool
) -> tuple[list[str], dict[str, str]]:
    """The `streamlit run` command line and environment that open the dashboard on `run_dir`
    (an absolute path): the run goes in $SIMGAP_RUN, the run every new session opens on, and
    the app's folder first on PYTHONPATH, so it imports the simgap_core beside it."""
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_file),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true" if headless else "false",
        "--browser.gatherUsageStats",
        "false",
    ]
    paths = [str(app_file.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "SIMGAP_RUN": str(run_dir), "PYTHONPATH": os.pathsep.join(paths)}
    return command, env


@app.command()
def dashboard(
    run_dir: Annotated[Path, typer.Argument(help="A run directory, anywhere on this machine.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8501,
    headless: Annotated[
        bool, typer.Option("--headless", help="Do not open a browser (print the URL only).")
    ] = False,
) -> None:
    """Open the dashboard on RUN_DIR (`streamlit run app.py`), from any folder.

    Every new session opens on RUN_DIR; the URL keeps it (`?run=...`), so a reload or a copied
    link does too.
    """
    from urllib.parse import quote

    run = _run_directory(run_dir).resolve()
    if not DASHBOARD_APP.is_file():
        raise _fail(
            f"the dashboard app ({DASHBOARD_APP}) is not here: it ships with a clone of simgap "
            "(install it with `pip install -e .` from the clone)"
        )
    command, env = dashboard_command(DASHBOARD_APP, run, port=port, headless=headless)
    _say(f"dashboard on {run}: http://127.0.0.1:{port}/?run={quote(str(run))}")
    sys.stdout.flush()
    # Streamlit replaces this process (so a signal to it stops the server, no orphan is left),
    # from the app's folder, so its pages/ and ui.py are found whatever the caller's cwd.
    os.chdir(DASHBOARD_APP.parent)
    os.execve(sys.executable, command, env)


def main() -> None:
    """The console script: `app` carries the error boundary (see `_Boundary`)."""
    app()


if __name__ == "__main__":
    main()
