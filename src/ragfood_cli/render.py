"""How answers and sync reports look on a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# soft_wrap: long lines stay whole, so they can be grepped and copied.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

StageProgress = Callable[[str, int, int], None]


@contextmanager
def stage_progress(*, quiet: bool) -> Iterator[StageProgress]:
    """A progress bar per stage on stderr (`progress(stage, done, total)`), as ingest and migrate
    report; silent with --json or when stderr is not a terminal."""
    # Imported here: rich.progress is only needed by the commands that write.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=errors,
        transient=True,
        disable=quiet or not errors.is_terminal,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield progress


def sources_table(sources: list[dict[str, Any]]) -> Table:
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
