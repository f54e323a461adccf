"""`ragfood`: every local operation behind one command line.

Heavy imports happen inside the commands, so `ragfood --help` stays instant.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ragfood_cli.local_env import apply_local_defaults, quiet_logs
from ragfood_cli.migrate_cli import app as migrate_app
from ragfood_cli.render import (
    JsonFlag,
    console,
    errors,
    escape,
    print_answer,
    print_error,
    print_report,
    stage_progress,
)

# We use no pydantic plugins: spare every command pydantic's scan of the entry points of every
# installed package (tens of ms in a venv this size).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

app = typer.Typer(
    name="ragfood",
    help="RAGFood: grounded answers about food from a curated knowledge base.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(migrate_app, name="migrate")  # its module imports chromadb only when run


# `vector` forwards to the service's own typer app, imported only when run: the service pulls in
# numpy and its embedders, which `ragfood --help`, `ask` and `ingest` must not pay for.
@app.command(
    "vector",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
    help="Local Upstash-Vector-compatible service for development and tests (vector serve).",
)
def vector(ctx: typer.Context) -> None:
    from ragfood_vector.cli import app as vector_app

    vector_app(args=ctx.args, prog_name="ragfood vector")


Region = Annotated[str | None, typer.Option(help="Only sources from this region.")]
FoodType = Annotated[str | None, typer.Option("--type", help="Only sources of this type.")]
TopK = Annotated[int | None, typer.Option("--top-k", min=1, max=20, help="How many sources.")]
MinScore = Annotated[
    float | None, typer.Option("--min-score", min=0.0, max=1.0, help="Relevance threshold.")
]
Namespace = Annotated[
    str | None, typer.Option(help="Namespace (tenant) to use; default RAGFOOD_NAMESPACE.")
]


# The console script (ragfood_cli.entry) loads the CLI with garbage collection paused; commands
# that call _core_settings() once their imports are done resume it there, every other one at once.
_RESUME_GC_IN_CORE_SETTINGS = {"ingest", "ask", "chat", "serve", "doctor", "eval", "migrate"}


@app.callback()
def main(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show JSON logs.")] = False,
) -> None:
    # invoke and serve run the Lambda functions' own code: their logs stay as in Lambda.
    quiet_logs(verbose, text_errors=ctx.invoked_subcommand not in {"invoke", "serve"})
    if ctx.invoked_subcommand not in _RESUME_GC_IN_CORE_SETTINGS:
        _resume_gc()


def _resume_gc() -> None:
    """As ragfood.startup.initialized(), without importing it (importing it pauses collection)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _fail(problem: str | Exception, code: int = 1) -> typer.Exit:
    print_error(problem)
    return typer.Exit(code)


def _core_settings() -> Any:
    """Settings for commands that use the core; the local vector service unless configured."""
    _resume_gc()  # the command's imports are done: collect garbage again
    if apply_local_defaults():
        errors.print("[dim]using the local vector service (ragfood vector serve)[/]")
    from ragfood import services
    from ragfood.errors import ConfigError

    services.reset()
    try:
        return services.settings()
    except ConfigError as exc:
        raise _fail(exc) from None


def _not_blank(value: str | None, why: str) -> str | None:
    if value is not None and not value.strip():
        raise typer.BadParameter(f"must not be blank: {why}")
    return value


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A foods.json file.")],
    as_json: JsonFlag = False,
    namespace: Namespace = None,
    allow_mass_delete: Annotated[
        bool, typer.Option(help="Allow deleting more than RAGFOOD_MAX_DELETE_FRACTION.")
    ] = False,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Name the items' owner (default: the file's name). Several files may share a "
            "namespace: each prunes only the items of its own source.",
            callback=lambda value: _not_blank(value, "it names the items' owner"),
        ),
    ] = None,
    take_over: Annotated[
        bool,
        typer.Option(
            "--take-over",
            help="Adopt ids another source owns instead of reporting them as conflicts.",
        ),
    ] = False,
) -> None:
    """Sync FILE into the index: upsert new/changed items, delete removed ones, report the rest.

    FILE owns the items it lists (under its name, or --source): items of other files in the same
    namespace are never deleted, and ids they already own are reported as conflicts.
    Exits 1 when the file was rejected or a quota stopped it, 2 when some items were rejected or
    conflicted.
    """
    from ragfood import services
    from ragfood.errors import RagfoodError
    from ragfood.sync import sync_foods

    settings = _core_settings()
    try:
        gateway = services.vector_gateway(write=True)
        _require_reachable(gateway)
        with stage_progress(quiet=as_json) as progress:
            report = sync_foods(
                file.read_bytes(),
                gateway,
                namespace=settings.namespace if namespace is None else namespace,
                source=file.name if source is None else source,
                max_delete_fraction=settings.max_delete_fraction,
                allow_mass_delete=allow_mass_delete,
                progress=progress,
                take_over=take_over,
            )
    except RagfoodError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        # Every write is whole and idempotent: what was written stays, a re-run skips it.
        errors.print(
            "interrupted: items written so far stay indexed; run the same command again to "
            "finish (unchanged items are skipped)"
        )
        raise typer.Exit(130) from None
    data = report.as_dict()
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        print_report(data)
    if report.status in ("rejected", "failed"):
        raise typer.Exit(1)
    if report.rejected or report.conflicts:
        raise typer.Exit(2)


def _require_reachable(gateway: Any) -> None:
    """Fail at once when the index cannot be reached at all (service down, wrong URL).

    The sync's retry budget (minutes, for an index that pushes back under load) would only delay
    saying so; answers with a status (429, 5xx) are left to it.
    """
    from ragfood import budget, services
    from ragfood.errors import VectorUnavailable

    # Within the read timeout: an index that accepts connections and never answers would
    # otherwise hold the user for every attempt of the write timeout (4 x 120 s by default).
    within = budget.Deadline.after(services.settings().vector_timeout_s)
    try:
        with budget.within(within):
            gateway.info()
    except VectorUnavailable as exc:
        if exc.status is None:
            raise _fail(exc) from None


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    as_json: JsonFlag = False,
    region: Region = None,
    food_type: FoodType = None,
    top_k: TopK = None,
    min_score: MinScore = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the answer as it is generated.")
    ] = False,
    session_id: Annotated[
        str | None,
        typer.Option(help="Follow up in this conversation (the session id an answer gave)."),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(envvar="RAGFOOD_API_URL", help="Ask a deployed API instead of locally."),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="RAGFOOD_API_KEY", help="API key for --api-url.")
    ] = None,
    namespace: Namespace = None,
) -> None:
    """Answer QUESTION from the knowledge base, with its sources."""
    if api_url and namespace is not None:
        raise typer.BadParameter(
            "only for local asks: a deployed API reads its own RAGFOOD_NAMESPACE",
            param_hint="'--namespace'",
        )
    payload = {"question": question, "top_k": top_k, "region": region, "type": food_type}
    payload["min_score"] = min_score
    payload["session_id"] = session_id
    payload["namespace"] = namespace
    payload = {k: v for k, v in payload.items() if v is not None}
    # Tokens go to the terminal as they arrive, unless the output is JSON for a program.
    on_token = None if as_json or not stream else _print_token
    try:
        if api_url:
            answer = (
                _ask_api_stream(api_url, api_key, payload, on_token)
                if stream
                else (_ask_api(api_url, api_key, payload))
            )
        else:
            answer = _ask_local(payload, on_token)
    except KeyboardInterrupt:
        console.print()  # end the half-written answer's line
        errors.print("[dim]interrupted[/]")
        raise typer.Exit(130) from None
    if as_json:
        print(json.dumps(answer, indent=2))
    else:
        if on_token:
            console.print()
        print_answer(answer, show_answer=on_token is None)
        if not answer.get("sources"):
            _filter_note(region=region, type=food_type)
        if session_id and answer.get("session_id") not in (None, session_id):
            errors.print(
                f"[dim]session {session_id} is unknown or has expired: this question was asked "
                "on its own, in a new conversation[/]"
            )
        if answer.get("session_id") and api_url:
            console.print(f"[dim]follow up with --session-id {answer['session_id']}[/]")


def _filter_note(**filters: str | None) -> None:
    """A refusal under a filter may be a misspelt region or type rather than a lack of knowledge."""
    given = {name: value for name, value in filters.items() if value is not None}
    if given:
        options = " ".join(f"--{name} {value!r}" for name, value in given.items())
        console.print(
            f"[dim]no relevant source with {escape(options)}; filters match a "
            f"{' or '.join(given)} exactly (any case): check the spelling[/]",
            highlight=False,
        )


def _print_token(text: str) -> None:
    console.print(text, end="", markup=False, highlight=False)
    console.file.flush()


def _ask_local(
    payload: dict[str, Any], on_token: Callable[[str], None] | None = None
) -> dict[str, Any]:
    from ragfood import services
    from ragfood.errors import RagfoodError
    from ragfood.pipeline import AskOptions

    _core_settings()
    fields = {k: v for k, v in payload.items() if k not in ("question", "session_id")}
    try:
        return (
            services.conversations()
            .ask(
                payload["question"],
                AskOptions(**fields),
                session_id=payload.get("session_id"),
                on_token=on_token,
            )
            .as_dict()
        )
    except RagfoodError as exc:
        raise _fail(exc) from None


def _ask_api(url: str, key: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    _resume_gc()
    import httpx

    headers = {"x-api-key": key} if key else {}
    try:
        response = httpx.post(f"{url.rstrip('/')}/ask", json=payload, headers=headers, timeout=35)
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:200]}
    if response.status_code != 200:
        message = body.get("error") or body.get("message") or response.reason_phrase
        raise _fail(f"{url} answered {response.status_code}: {message}")
    return body


def _ask_api_stream(
    url: str, key: str | None, payload: dict[str, Any], on_token: Callable[[str], None] | None
) -> dict[str, Any]:
    import httpx

    from ragfood_cli.stream_client import StreamError, ask_stream

    try:
        return ask_stream(url, key, payload, on_token or (lambda _: None))
    except StreamError as exc:
        raise _fail(exc) from None
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {url}: {exc}") from None


@app.command()
def chat(
    region: Region = None,
    food_type: FoodType = None,
    top_k: TopK = None,
    namespace: Namespace = None,
) -> None:
    """Ask questions in a loop, follow-ups included (one conversation).

    Answers stream as the generator writes them; Ctrl-C stops an answer, an empty line or Ctrl-D
    quits."""
    from rich.prompt import Prompt

    from ragfood import services
    from ragfood.errors import RagfoodError
    from ragfood.pipeline import AskOptions

    _core_settings()
    options = AskOptions(top_k=top_k, region=region, type=food_type, namespace=namespace)
    session_id: str | None = None
    console.print("[bold]RAGFood chat[/] - ask about food; an empty line or Ctrl-D quits.")
    while True:
        try:
            question = Prompt.ask("[bold cyan]you[/]", console=console).strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not question or question.lower() in {"exit", "quit", ":q"}:
            return
        console.print("[bold green]ragfood[/] ", end="")
        try:
            exchange = services.conversations().ask(
                question, options, session_id=session_id, on_token=_print_token
            )
        except KeyboardInterrupt:  # Ctrl-C stops this answer, not the conversation
            console.print()
            errors.print("[dim]interrupted; ask again, or an empty line quits[/]")
            continue
        except RagfoodError as exc:
            console.print()
            print_error(exc)
            continue
        session_id = exchange.session_id
        console.print()
        if exchange.resolved_question != question:
            console.print(
                f"[dim]answered as:[/] {escape(exchange.resolved_question)}", highlight=False
            )
        print_answer(exchange.answer.as_dict(), show_answer=False)


@app.command()
def invoke(
    function: Annotated[str, typer.Argument(help="ingest or ask (or IngestFunction/AskFunction).")],
    event: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Event JSON file.")],
    env_vars: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="SAM-style env file (events/env.json)."),
    ] = None,
) -> None:
    """Run a function's handler with EVENT, as `sam local invoke` would (no Docker needed)."""
    from ragfood_cli.json_file import load_json_object
    from ragfood_cli.lambda_runner import LocalFunction

    if env_vars is None:
        apply_local_defaults()  # no env file: the local vector service, unless Upstash is set
    try:
        local = LocalFunction(function, env_file=env_vars)
        payload = load_json_object(event, "the event")
    except ValueError as exc:
        raise _fail(exc) from None
    try:
        result = local.invoke(payload)
    except Exception as exc:
        print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}, indent=2))
        raise typer.Exit(1) from None
    print(json.dumps(result, indent=2, default=str))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="RAGFOOD_API_KEY", help="Require this x-api-key on /ask, like API GW."),
    ] = None,
) -> None:
    """Serve the ask API on localhost (docs at /docs)."""
    import uvicorn

    from ragfood_cli.local_server import build_app
    from ragfood_vector.listen import ServeError, listen

    _core_settings()
    try:
        sock = listen(host, port)
    except ServeError as exc:  # exit 2 as `vector serve`: cannot start as asked
        raise _fail(exc, code=2) from None
    console.print(f"ask API on http://{host}:{port} (docs: /docs)")
    config = uvicorn.Config(build_app(api_key), host=host, port=port, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


@app.command()
def doctor() -> None:
    """Check the configuration, the index and the generator; name what is wrong."""
    from ragfood_cli.doctor import run_checks

    settings = _core_settings()
    checks = run_checks(settings)
    for check in checks:
        mark = (
            "[bold red]FAIL[/]"
            if not check.ok
            else "[yellow]note[/]"
            if check.warning
            else "[green]  ok[/]"
        )
        console.print(f"{mark} [bold]{check.name}[/]: {check.detail}", highlight=False)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


@app.command("eval")
def evaluate(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help='Labelled questions: a JSON array (or JSON Lines) of {"question", '
            '"expected_ids": [ids that answer it; [] if none], "kind"?, "region"?, "type"?}.',
        ),
    ],
    as_json: JsonFlag = False,
    namespace: Namespace = None,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate",
            help="Choose RAGFOOD_MIN_SCORE and RAGFOOD_LEXICAL_WEIGHT by k-fold cross-validation "
            "and print held-out figures.",
        ),
    ] = False,
    folds: Annotated[int, typer.Option(min=2, max=20, help="Folds for --calibrate.")] = 5,
    seed: Annotated[int, typer.Option(help="Shuffle seed of the folds.")] = 0,
) -> None:
    """Measure retrieval on a labelled question set: recall@1/3/5, MRR, no-answer refusals."""
    from ragfood import services
    from ragfood.errors import RagfoodError
    from ragfood.relevance import RelevanceSettings
    from ragfood_cli import evaluate as ev

    settings = _core_settings()
    try:
        labelled = ev.read_questions(file)
    except ValueError as exc:
        raise _fail(exc) from None
    questions = labelled.questions
    if calibrate and (problem := ev.calibration_problem(questions, folds)):
        raise _fail(f"{file}: {problem}")
    ns, notes = _eval_namespace(file, labelled.namespace, namespace, settings.namespace)
    try:
        retriever = services.pipeline().retriever
        warnings = notes + labelled.warnings
        warnings += ev.check_against_index(file, labelled, ns, retriever.gateway)
        for warning in warnings:
            errors.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        with stage_progress(quiet=as_json) as progress:
            observations = ev.observe(
                questions,
                lambda q, **filters: retriever.candidates(
                    q, namespace=ns, top_k=max(ev.KS), **filters
                ),
                lambda done, total: progress("retrieving", done, total),
            )
        kind = "hybrid" if retriever.hybrid else "dense"
    except (RagfoodError, ValueError) as exc:
        raise _fail(exc) from None
    if calibrate:
        report = ev.calibrate(observations, k=folds, seed=seed)
        if note := ev.calibration_note(report):
            errors.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
            warnings.append(note)
        _print_calibration(file, report, kind, as_json, warnings, ns)
        return
    current = RelevanceSettings(settings.lexical_weight, settings.min_score)
    data = ev.evaluate(observations, current).as_dict()
    data["retrieval"] = kind
    data["namespace"] = ns
    data["warnings"] = warnings
    if as_json:
        print(json.dumps(data, indent=2))
        return
    title = f"retrieval on {file.name} ({data['questions']} questions, {kind} index)"
    setting = f"min score {settings.min_score}, lexical weight {settings.lexical_weight}"
    console.print(_metrics_table(title, data, setting))


def _eval_namespace(
    file: Path, in_file: str | None, option: str | None, configured: str
) -> tuple[str, list[str]]:
    """The namespace to measure: --namespace, else the one the questions file names, else
    RAGFOOD_NAMESPACE; and a line saying so when the choice is not the obvious one."""
    chosen = configured if option is None else option
    if in_file is None or in_file == chosen:
        return chosen, []
    if option is not None:
        return option, [f"{file} names namespace {in_file!r}; measuring {option!r} (--namespace)"]
    return in_file, [f"measuring namespace {in_file!r}, which {file} names (--namespace overrides)"]


def _metrics_table(title: str, data: dict[str, Any], setting: str) -> Any:
    from rich.table import Table

    from ragfood_cli.evaluate import KS

    table = Table(title=escape(title))
    table.add_column("metric")
    table.add_column("value", justify="right")

    def rate(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"  # no question of that kind

    for k in KS:
        table.add_row(f"recall@{k}", rate(data[f"recall@{k}"]))
    table.add_row("MRR", rate(data["mrr"]))
    table.add_row(f"no-answer refused ({setting})", rate(data["no_answer_refused"]))
    table.add_row("answerable wrongly refused", rate(data["answerable_wrongly_refused"]))
    for kind, values in data["by_kind"].items():
        table.add_row(f"  {escape(kind)} ({values['questions']})", f"{values['score']:.3f}")
    return table


def _print_calibration(
    file: Path, report: Any, kind: str, as_json: bool, warnings: list[str], namespace: str
) -> None:
    from rich.table import Table

    data = report.as_dict()
    data["retrieval"] = kind
    data["namespace"] = namespace
    data["warnings"] = warnings
    if as_json:
        print(json.dumps(data, indent=2))
        return
    folds = Table(title="settings chosen without each fold, scored on it")
    for column in (
        "fold",
        "questions",
        "lexical weight",
        "min score",
        "recall@3",
        "refused",
        "wrongly refused",
    ):
        folds.add_column(column, justify="right")
    for f in data["folds"]:
        folds.add_row(
            str(f["fold"]),
            str(f["questions"]),
            f"{f['lexical_weight']:.2f}",
            f"{f['min_score']:.4f}",
            f"{f['recall@3']:.3f}",
            f"{f['no_answer_refused']:.3f}",
            f"{f['answerable_wrongly_refused']:.3f}",
        )
    console.print(folds)
    held = data["held_out"]
    title = f"held-out figures on {file.name} ({held['questions']} questions, {kind} index)"
    console.print(_metrics_table(title, held, "held out"))
    chosen = data["chosen"]
    console.print("Chosen on all questions; set these in the ask function's environment:")
    console.print(f"  RAGFOOD_RETRIEVAL={kind}")
    for name, value in chosen.items():
        console.print(f"  {name}={value}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
