"""How answers and sync reports look on a terminal.

Rich is imported on first use, not with this module: a command whose output is JSON for a program
(`ragfood ingest --json`) never loads it (~20 ms of CPU of every such run).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


class LazyConsole:
    """A rich Console made on first use; every attribute is the real console's."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


# soft_wrap: long lines stay whole, so they can be grepped and copied.
console = LazyConsole(soft_wrap=True)
errors = LazyConsole(stderr=True, soft_wrap=True)

StageProgress = Callable[[str, int, int], None]

# Set by every --json option (its callback runs on each invocation, default included).
_json_output = False


def _remember_json(value: bool) -> bool:
    global _json_output
    _json_output = value
    return value


JsonFlag = Annotated[
    bool,
    typer.Option(
        "--json",
        help='Print machine-readable JSON (a failure too: {"error": ...}).',
        callback=_remember_json,
    ),
]


def describe(problem: str | Exception) -> str:
    """A problem as the CLI prints it: a URL in it keeps no credentials, and an index that cannot
    be reached at all comes with what to do."""
    from ragfood.errors import VectorUnreachable
    from ragfood.redact import redact_text

    message = redact_text(str(problem))
    if isinstance(problem, VectorUnreachable):
        message += (
            "; start the local one with `ragfood vector serve`, or check UPSTASH_VECTOR_REST_URL"
        )
    return message


def print_error(problem: str | Exception) -> None:
    """A failure of the command, as `describe` words it: one line on stderr and, with --json,
    `{"error": ...}` on stdout, so a script reading the command's JSON gets JSON whatever
    happened."""
    message = describe(problem)
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    if _json_output:
        print(json.dumps({"error": message}))


def escape(text: str) -> str:
    """rich.markup.escape, imported when first needed."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@contextmanager
def stage_progress(*, quiet: bool) -> Iterator[StageProgress]:
    """A progress bar per stage on stderr (`progress(stage, done, total)`), as ingest and migrate
    report; silent with --json or when stderr is not a terminal."""
    if quiet or not errors.is_terminal:
        yield _no_progress  # nothing to draw: rich.progress is not even imported
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=errors.real,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield progress


def sources_table(sources: list[dict[str, Any]]) -> Table:
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("score", justify="right")
    table.add_column("id", style="cyan")
    table.add_column("region / type", style="magenta")
    table.add_column("text", overflow="fold")
    for n, source in enumerate(sources, start=1):
        tags = " / ".join(p for p in (source.get("region"), source.get("type")) if p)
        text = source["text"] if len(source["text"]) < 140 else source["text"][:137] + "..."
        table.add_row(str(n), f"{source['score']:.3f}", source["id"], tags, text)
    return table


def print_answer(answer: dict[str, Any], *, show_answer: bool = True) -> None:
    if show_answer:
        console.print(answer["answer"], markup=False, highlight=False)
    generator = answer["generator"]
    label = generator["kind"] + (f" ({generator['model']})" if generator.get("model") else "")
    note = " [yellow]degraded[/]: " + answer["reason"] if answer.get("degraded") else ""
    cached = " [dim](cached)[/]" if answer.get("cached") else ""
    console.print(f"[dim]generator:[/] {label}{note}{cached}")
    if answer["sources"]:
        console.print(sources_table(answer["sources"]))


def print_report(report: dict[str, Any]) -> None:
    colour = {"ok": "green", "partial": "yellow", "skipped": "yellow"}.get(report["status"], "red")
    console.print(
        f"[bold {colour}]{report['status']}[/] {escape(report['source'])}", highlight=False
    )
    if report.get("error"):
        errors.print(f"[red]error:[/] {escape(report['error'])}", highlight=False)
        return
    namespace = report["namespace"] or "(default)"
    console.print(
        f"namespace {namespace}: {report['items']} items, {report['upserted']} upserted, "
        f"{report['unchanged']} unchanged, {report['deleted']} deleted, "
        f"{len(report['rejected'])} rejected in {report['timings_ms'].get('total', 0):.0f} ms",
        highlight=False,
    )
    for reject in report["rejected"][:20]:
        from ragfood.foods import Reject  # the food validator: not for `--help` or `ask`

        console.print(f"  [red]rejected[/] {escape(str(Reject(**reject)))}", highlight=False)
    if len(report["rejected"]) > 20:
        console.print(f"  ... and {len(report['rejected']) - 20} more (see --json)")
    for warning in report.get("warnings", [])[:10]:
        console.print(f"  [yellow]warning[/] {escape(warning)}", highlight=False)
    for conflict in report.get("conflicts", [])[:20]:
        console.print(
            f"  [yellow]conflict[/] id {escape(repr(conflict['id']))} is owned by "
            f"{escape(conflict['owner'])}; not overwritten",
            highlight=False,
        )
    if len(report.get("conflicts", [])) > 20:
        console.print(f"  ... and {len(report['conflicts']) - 20} more conflicts (see --json)")
    if report.get("deletions_skipped"):
        console.print(f"  [yellow]deletions skipped:[/] {escape(report['deletions_skipped'])}")
