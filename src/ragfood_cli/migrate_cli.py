"""`ragfood migrate chroma`: move a ChromaDB collection into the index and prove nothing was lost.

Exit codes follow `ragfood ingest`: 0 done; 1 nothing could be migrated (not a Chroma directory,
unknown or empty collection, documents missing, every document rejected, index errors); 2 some
documents were rejected or are owned by another source (the rest migrated); 3 items were lost
(accepted, written, but not read back from the index with the content written).

chromadb, numpy and the core are imported inside the command: `ragfood --help` stays instant.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ragfood_cli.render import (
    JsonFlag,
    console,
    errors,
    escape,
    print_error,
    print_report,
    stage_progress,
)

if TYPE_CHECKING:
    from ragfood.vector import VectorGateway
    from ragfood_cli.chroma_source import ChromaCollection
    from ragfood_cli.compare import Comparison, QueryEmbedder
    from ragfood_cli.migrate import Migration
    from ragfood_cli.question_file import Question

EXIT_FAILED, EXIT_PARTIAL, EXIT_LOST = 1, 2, 3


class IndexRanking(StrEnum):
    dense = "dense"
    ask = "ask"


app = typer.Typer(
    help="Move an existing knowledge base (ChromaDB) into the index.",
    no_args_is_help=True,
)


@app.command("chroma")
def chroma(
    path: Annotated[
        Path, typer.Argument(help="The ChromaDB directory (the path of PersistentClient).")
    ],
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection to migrate.")],
    namespace: Annotated[
        str | None, typer.Option(help="Namespace (tenant) to write to; default RAGFOOD_NAMESPACE.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be written; write nothing.")
    ] = False,
    as_json: JsonFlag = False,
    compare_file: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            exists=True,
            dir_okay=False,
            help="Labelled questions (the format of `ragfood eval`) to ask ChromaDB and the index.",
        ),
    ] = None,
    compare_sample: Annotated[
        int | None,
        typer.Option(
            "--compare-sample",
            min=1,
            help="Compare on N of the collection's own documents used as questions (seeded).",
        ),
    ] = None,
    embed: Annotated[
        str | None,
        typer.Option(
            help="How ChromaDB embeds the questions: the function its documents were embedded "
            "with. minilm, hash[:DIM] or ollama:URL#MODEL "
            "(e.g. ollama:http://localhost:11434#mxbai-embed-large).",
        ),
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=50, help="k of the comparison.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of --compare-sample.")] = 0,
    index_ranking: Annotated[
        IndexRanking,
        typer.Option(
            help="How the comparison ranks the index: dense (its vectors alone, like for like "
            "with ChromaDB) or ask (as the ask path ranks, with RAGFOOD_LEXICAL_WEIGHT).",
        ),
    ] = IndexRanking.dense,
    allow_mass_delete: Annotated[
        bool, typer.Option(help="Allow deleting more than RAGFOOD_MAX_DELETE_FRACTION.")
    ] = False,
    page_size: Annotated[
        int, typer.Option(min=1, max=5000, hidden=True, help="Documents per read.")
    ] = 500,
) -> None:
    """Migrate COLLECTION of the ChromaDB directory PATH into the index.

    The directory is read from a copy and is never modified.

    Documents become food items (same ids; region and type from metadata; other metadata kept).

    They are validated as uploads are and synced as `ragfood ingest` syncs, owned by the source
    `chroma:COLLECTION`: a second run writes nothing. Every migrated id is then read back.

    --compare FILE or --compare-sample N: the same questions asked of ChromaDB and the index.

    Exits 1 when nothing could be migrated, 2 when documents were rejected, 3 when items were lost.
    """

    from ragfood import services
    from ragfood.errors import RagfoodError
    from ragfood_cli.chroma_source import ChromaSourceError, open_snapshot, read_collection
    from ragfood_cli.compare import EmbedSpecError, make_query_embedder
    from ragfood_cli.main import _core_settings, _fail, _require_reachable
    from ragfood_cli.migrate import Migration

    if compare_file and compare_sample:
        raise _fail("use --compare FILE or --compare-sample N, not both")
    if compare_file and not embed:
        raise _fail(
            "--compare needs --embed: ChromaDB must embed the questions with the function its "
            "documents were embedded with (minilm, or ollama:URL#MODEL)"
        )
    try:
        embedder = make_query_embedder(embed) if embed else None
    except EmbedSpecError as exc:
        raise _fail(exc) from None
    questions = _load_questions(compare_file, _fail) if compare_file else None

    settings = _core_settings()
    namespace = settings.namespace if namespace is None else namespace
    outcome: dict[str, Any] = {"path": str(path), "collection": collection}
    with _interruptible(), stage_progress(quiet=as_json) as progress:
        try:
            with open_snapshot(path) as client:
                read = read_collection(
                    client,
                    collection,
                    page_size=page_size,
                    progress=lambda done, total: progress("read", done, total),
                )
                if not read.rows:
                    raise _fail(f"collection {collection!r} is empty; nothing to migrate")
                migration = Migration.of(read)
                gateway = services.vector_gateway(write=not dry_run)
                _require_reachable(gateway)
                outcome.update(
                    _migrate(
                        migration,
                        gateway,
                        namespace=namespace,
                        dry_run=dry_run,
                        max_delete_fraction=settings.max_delete_fraction,
                        allow_mass_delete=allow_mass_delete,
                        progress=progress,
                    )
                )
                if questions is not None or compare_sample:
                    if questions is None:
                        from ragfood_cli.compare import sample_questions

                        assert compare_sample is not None
                        questions = sample_questions(migration.parsed.records, compare_sample, seed)
                    comparison = _compare(
                        read, questions, embedder, namespace, top_k, index_ranking.value, progress
                    )
                    outcome["comparison"] = comparison.as_dict()
        except (ChromaSourceError, EmbedSpecError, RagfoodError) as exc:
            raise _fail(exc) from None

    if as_json:
        print(json.dumps(outcome, indent=2, ensure_ascii=False))
    else:
        _print(outcome)
    raise typer.Exit(_exit_code(outcome))


@app.command("rollback")
def rollback(
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="The collection that was migrated.")
    ],
    namespace: Annotated[
        str | None, typer.Option(help="Namespace it was migrated to; default RAGFOOD_NAMESPACE.")
    ] = None,
    as_json: JsonFlag = False,
    allow_mass_delete: Annotated[
        bool, typer.Option(help="Allow deleting more than RAGFOOD_MAX_DELETE_FRACTION.")
    ] = False,
) -> None:
    """Delete from the index the items `migrate chroma` wrote for COLLECTION, nothing else.

    Only items owned by the source `chroma:COLLECTION` go; the ChromaDB directory was never touched.

    Deleting more than RAGFOOD_MAX_DELETE_FRACTION of the namespace needs --allow-mass-delete.

    Exits 1 on failure, 2 when the mass-delete guard stopped it.
    """
    from ragfood import services
    from ragfood.errors import RagfoodError
    from ragfood.sync import remove_source
    from ragfood_cli.main import _core_settings, _fail, _require_reachable
    from ragfood_cli.migrate import source_name

    settings = _core_settings()
    try:
        gateway = services.vector_gateway(write=True)
        _require_reachable(gateway)
        report = remove_source(
            gateway,
            namespace=settings.namespace if namespace is None else namespace,
            source=source_name(collection),
            max_delete_fraction=settings.max_delete_fraction,
            allow_mass_delete=allow_mass_delete,
        )
    except RagfoodError as exc:
        raise _fail(exc) from None
    data = report.as_dict()
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print_report(data)
        if report.status == "ok" and not report.items:  # e.g. a misspelt collection
            console.print(
                f"[dim]nothing to roll back: no item of {escape(report.source)} in this "
                "namespace (check --collection and --namespace)[/]",
                highlight=False,
            )
    if report.status in ("rejected", "failed"):
        raise typer.Exit(EXIT_FAILED)
    if report.deletions_skipped:
        raise typer.Exit(EXIT_PARTIAL)


@contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C or SIGTERM stops the migration cleanly: the private copy of the directory is
    removed (SIGTERM's default would leave it in TMPDIR) and the message says how to resume."""
    import signal
    import threading

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Only the main thread may set a handler (the command run from a thread keeps the default).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main else None
    try:
        yield
    except KeyboardInterrupt:
        # Every write is whole and idempotent: what was written stays, a re-run skips it.
        print_error(
            "interrupted: items written so far stay indexed; run the same command again to "
            "finish (items already migrated are not written again)"
        )
        raise typer.Exit(130) from None
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def _migrate(
    migration: Migration,
    gateway: VectorGateway,
    *,
    namespace: str,
    dry_run: bool,
    max_delete_fraction: float,
    allow_mass_delete: bool,
    progress: Any,
) -> dict[str, Any]:
    """Plan (--dry-run) or sync, then read every accepted item back once the index settled."""
    from ragfood_cli.chroma_source import ChromaSourceError
    from ragfood_cli.migrate import verify, wait_until_indexed

    if other := migration.other_collection(gateway, namespace):
        name = migration.collection.name
        raise ChromaSourceError(
            f"namespace {namespace or '(default)'} already holds items migrated from another "
            f"ChromaDB collection named {name!r} (collection id {other}; this one is "
            f"{migration.collection.id}): migrating this one would overwrite and delete them. "
            "Migrate it into a namespace of its own (--namespace), or roll the other back first "
            f"(`ragfood migrate rollback --collection {name}`)"
        )
    guard = {
        "namespace": namespace,
        "max_delete_fraction": max_delete_fraction,
        "allow_mass_delete": allow_mass_delete,
    }
    if dry_run:
        return migration.plan(gateway, **guard)
    report = migration.run(gateway, progress=progress, **guard)
    if report["status"] == "failed" and report["upserted"]:
        report["error"] += (
            f"; {report['upserted']} items were written before it stopped and stay in the index: "
            "run the same command again once it accepts writes (they are not written again), or "
            "undo them with `ragfood migrate rollback`"
        )
    if report["status"] in ("rejected", "failed"):
        return report
    if conflicts := report["conflicts"]:
        owners = sorted({c["owner"] for c in conflicts})
        report["warnings"].append(
            f"{len(conflicts)} of {report['items']} ids are already indexed by "
            f"{', '.join(owners[:3])}{' and others' if len(owners) > 3 else ''} and were left "
            "alone: to migrate them too, migrate into a namespace of its own (--namespace)"
        )
    pending = wait_until_indexed(gateway, namespace)
    if pending:
        report["warnings"].append(
            f"{pending} vectors were still being indexed after 2 minutes; the check below and "
            "a comparison may miss them: run the same command again in a while"
        )
    accepted = _accepted(migration.parsed.records, report)
    report["verification"] = verify(
        accepted, gateway, namespace=namespace, source=migration.source
    ).as_dict()
    return report


def _accepted(records: list[Any], report: dict[str, Any]) -> list[Any]:
    """The records the sync took on: not those another source owns (reported as conflicts)."""
    conflicted = {c["id"] for c in report.get("conflicts", [])}
    return [r for r in records if r.id not in conflicted]


def _exit_code(outcome: dict[str, Any]) -> int:
    if outcome.get("status") in ("rejected", "failed"):
        return EXIT_FAILED
    verification = outcome.get("verification") or {}
    if verification.get("lost") or verification.get("changed"):
        return EXIT_LOST
    if outcome.get("rejected") or outcome.get("conflicts"):
        return EXIT_PARTIAL
    return 0


def _load_questions(path: Path, fail: Any) -> list[Question]:
    from ragfood_cli.question_file import read_questions

    try:
        return read_questions(path).questions
    except ValueError as exc:  # the file, the item and the problem (question_file)
        raise fail(exc) from None


def _compare(
    collection: ChromaCollection,
    questions: list[Question],
    embedder: QueryEmbedder | None,
    namespace: str,
    k: int,
    ranking: str,
    progress: Any,
) -> Comparison:
    from ragfood import services
    from ragfood_cli import chroma_source
    from ragfood_cli.compare import EmbedSpecError, compare

    def chroma_search(batch: list[Question]) -> list[list[str]]:
        if embedder is not None:
            vectors = embedder.embed([q.question for q in batch])
        else:  # sampled documents: their own stored vectors are the queries
            stored = chroma_source.stored_embeddings(collection, [q.expected_ids[0] for q in batch])
            vectors = [stored[q.expected_ids[0]] for q in batch]
        dimension = chroma_source.embedding_dimension(collection)
        if vectors and dimension is not None and len(vectors[0]) != dimension:
            raise EmbedSpecError(
                f"--embed {getattr(embedder, 'name', '')} gives {len(vectors[0])}-dimensional "
                f"vectors but collection {collection.name!r} holds {dimension}-dimensional ones: "
                "name the function its documents were embedded with"
            )
        found: list[list[str]] = []
        for start in range(0, len(vectors), 100):
            found.extend(chroma_source.query(collection, vectors[start : start + 100], k))
        return found

    retriever = services.pipeline().retriever

    # dense: plain dense ranking, the migrated vectors against ChromaDB's, like for like; ask: the
    # ask path's blend with lexical coverage, what users get. Never a refusal (min score 0).
    lexical_weight = 0.0 if ranking == "dense" else None

    def index_search(question: str) -> list[str]:
        hits = retriever.retrieve(
            question,
            namespace=namespace or "",
            top_k=k,
            min_score=0.0,
            lexical_weight=lexical_weight,
        )
        return [hit.id for hit in hits]

    return compare(
        questions,
        chroma_search,
        index_search,
        k=k,
        embedder=embedder.name if embedder else "the documents' stored embeddings",
        index_ranking=ranking,
        progress=lambda done, total: progress("compare", done, total),
    )


def _print(outcome: dict[str, Any]) -> None:
    if outcome.get("dry_run"):
        namespace = outcome["namespace"] or "(default)"
        console.print(
            f"[bold]dry run[/] {escape(outcome['source'])} -> namespace {escape(namespace)}: "
            f"{outcome['items']} documents; would upsert {outcome['would_upsert']}, "
            f"leave {outcome['unchanged']} unchanged, delete {outcome['would_delete']}, "
            f"reject {len(outcome['rejected'])}; nothing written",
            highlight=False,
        )
        _print_notes(outcome)
    else:
        print_report(outcome)
    verification = outcome.get("verification")
    if verification:
        lost, changed = verification["lost"], verification["changed"]
        if lost or changed:
            errors.print(
                f"[bold red]LOST:[/] {len(lost)} of {verification['checked']} migrated items are "
                f"not in the index, {len(changed)} differ: "
                + escape(", ".join((lost + changed)[:20])),
                highlight=False,
            )
        elif not verification["checked"]:
            console.print("[yellow]nothing migrated[/] (see above), so nothing to read back")
        else:
            console.print(
                f"[green]verified:[/] all {verification['checked']} migrated items read back "
                "from the index",
                highlight=False,
            )
    if "comparison" in outcome:
        _print_comparison(outcome["comparison"])


def _print_notes(outcome: dict[str, Any]) -> None:
    from ragfood.foods import Reject

    for reject in outcome["rejected"][:20]:
        console.print(f"  [red]rejected[/] {escape(str(Reject(**reject)))}", highlight=False)
    if len(outcome["rejected"]) > 20:
        console.print(f"  ... and {len(outcome['rejected']) - 20} more (see --json)")
    for warning in outcome["warnings"][:10]:
        console.print(f"  [yellow]warning[/] {escape(warning)}", highlight=False)
    for conflict in outcome.get("conflicts", [])[:20]:
        console.print(
            f"  [yellow]conflict[/] id {escape(repr(conflict['id']))} is owned by "
            f"{escape(conflict['owner'])}; would not be overwritten",
            highlight=False,
        )
    if outcome.get("deletions_skipped"):
        console.print(f"  [yellow]deletions skipped:[/] {escape(outcome['deletions_skipped'])}")


def _print_comparison(data: dict[str, Any]) -> None:
    from rich.table import Table

    k = data["k"]
    table = Table(
        title=f"ChromaDB vs the index on {data['questions']} questions "
        f"(ChromaDB queries: {escape(data['embedder'])}; index ranking: {data['index_ranking']})"
    )
    table.add_column("metric")
    table.add_column("ChromaDB", justify="right")
    table.add_column("index", justify="right")
    for at in sorted({1, k}):
        chroma, index = data[f"chroma_recall@{at}"], data[f"index_recall@{at}"]
        if chroma is not None:
            label = f"recall@{at} ({data['labelled']} labelled)"
            table.add_row(label, f"{chroma:.3f}", f"{index:.3f}")
    if data["labelled"]:
        table.add_row(
            f"answered within {k} by this side only",
            str(data["only_chroma_found"]),
            str(data["only_index_found"]),
        )
    table.add_row(f"overlap@{k} (shared ids / {k})", f"{data[f'overlap@{k}']:.3f}", "")
    table.add_row("same top-1", f"{data['top1_agreement']:.3f}", "")
    console.print(table)
    if not data["disagreements"]:
        return
    worst = Table(title="where they disagree most", show_lines=False)
    worst.add_column("question", overflow="fold", max_width=60)
    worst.add_column("expected", style="green")
    worst.add_column("ChromaDB top 3", style="cyan")
    worst.add_column("index top 3", style="magenta")
    worst.add_column("overlap", justify="right")
    for row in data["disagreements"]:
        question = row["question"] if len(row["question"]) <= 80 else row["question"][:77] + "..."
        worst.add_row(
            escape(question),
            escape(", ".join(row["expected"])),
            escape(", ".join(row["chroma"][:3])),
            escape(", ".join(row["index"][:3])),
            f"{row['overlap']:.2f}",
        )
    console.print(worst)
