"""The CLI starts fast: `ragfood --help`, `ask` and `ingest` never import the local vector service
(src/ragfood_vector) or numpy — checked in real processes, on what they actually imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ragfood_cli import local_env
from ragfood_vector import config as service_config
from ragfood_vector.launcher import VectorServer

HEAVY = ("numpy", "ragfood_vector")
# What only `ask` needs: `ingest` must not pay for it (~60 ms of its start).
ASK_PATH = ("ragfood.pipeline", "ragfood.generator", "ragfood.conversation", "ragfood.relevance")
# Run the CLI as its console script does, then report which heavy modules were ever imported.
PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('HEAVY=' + ','.join(sorted({m.split('.')[0] for m in "
    f"sys.modules if m.split('.')[0] in {HEAVY!r}}})), file=sys.stderr))\n"
    "atexit.register(lambda: print('ASKPATH=' + ','.join(sorted(m for m in sys.modules "
    f"if m in {ASK_PATH!r})), file=sys.stderr))\n"
    "from ragfood_cli.main import app\n"
    "app(args=sys.argv[1:], prog_name='ragfood')\n"
)


def heavy_imports(*args: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("HEAVY=")]
    assert line, result.stderr[-2000:]
    return line[-1].removeprefix("HEAVY="), result.returncode


def ask_path_imports(result_stderr: str) -> str:
    line = [ln for ln in result_stderr.splitlines() if ln.startswith("ASKPATH=")]
    assert line, result_stderr[-2000:]
    return line[-1].removeprefix("ASKPATH=")


@pytest.mark.parametrize("args", [["--help"], ["ask", "--help"], ["ingest", "--help"]])
def test_help_imports_neither_the_vector_service_nor_numpy(args):
    heavy, code = heavy_imports(*args)
    assert code == 0
    assert heavy == ""


def test_ask_and_ingest_import_neither_the_vector_service_nor_numpy(
    vector_server: VectorServer, tmp_path
):
    foods = tmp_path / "foods.json"
    foods.write_text(
        json.dumps([{"id": "pho", "text": "Pho is a Vietnamese noodle soup.", "region": "Vietnam"}])
    )
    env = {**vector_server.client_env(), "RAGFOOD_NAMESPACE": "cli-start"}
    heavy, code = heavy_imports("ingest", str(foods), "--json", env=env)
    assert (heavy, code) == ("", 0)
    heavy, code = heavy_imports("ask", "Which soup is Vietnamese?", "--json", env=env)
    assert (heavy, code) == ("", 0)


def test_the_vector_command_still_reaches_the_service():
    result = subprocess.run(
        [sys.executable, "-m", "ragfood_cli.main", "vector", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    assert "--embedder" in result.stdout


def test_importing_the_cli_module_leaves_garbage_collection_alone():
    result = subprocess.run(
        [sys.executable, "-c", "import gc, ragfood_cli.main; print(gc.isenabled())"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "True"


def test_local_defaults_match_the_services_own():
    assert (
        f"http://{service_config.DEFAULT_HOST}:{service_config.DEFAULT_PORT}" == local_env.LOCAL_URL
    )
    assert local_env.DEFAULT_TOKEN == service_config.DEFAULT_TOKEN
    assert local_env.DEFAULT_READONLY_TOKEN == service_config.DEFAULT_READONLY_TOKEN


GC_PROBE = (  # as the console script runs the CLI (ragfood_cli.entry)
    "import atexit, gc, sys\n"
    "atexit.register(lambda: print(f'GC={gc.isenabled()},{gc.get_freeze_count() > 0}', "
    "file=sys.stderr))\n"
    "sys.argv[0] = 'ragfood'\n"
    "from ragfood_cli.entry import main\n"
    "main()\n"
)


# (`ragfood --help` prints and exits before any command runs: nothing to resume there.)
@pytest.mark.parametrize(
    "args", [["ingest"], ["ask", "Which soup?", "--json"], ["invoke", "--help"]]
)
def test_garbage_collection_is_paused_while_loading_then_back_on(args, tmp_path, vector_server):
    """ragfood.startup: no collection while the CLI loads; on again (and what loading built
    frozen out of its sight) once a command runs, whichever command."""
    if args == ["ingest"]:
        foods = tmp_path / "foods.json"
        foods.write_text(json.dumps([{"id": "pho", "text": "Pho is a Vietnamese noodle soup."}]))
        args = ["ingest", str(foods), "--json"]
    result = subprocess.run(
        [sys.executable, "-c", GC_PROBE, *args],
        env={**os.environ, **vector_server.client_env(), "RAGFOOD_NAMESPACE": "cli-gc"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    state = [ln for ln in result.stderr.splitlines() if ln.startswith("GC=")][-1]
    enabled, frozen = state.removeprefix("GC=").split(",")
    assert enabled == "True"
    if args[0] == "ingest":
        assert frozen == "True"


def test_ingest_does_not_import_the_ask_path(vector_server: VectorServer, tmp_path):
    foods = tmp_path / "foods.json"
    foods.write_text(json.dumps([{"id": "pho", "text": "Pho is a Vietnamese noodle soup."}]))
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "ingest", str(foods), "--json"],
        env={**os.environ, **vector_server.client_env(), "RAGFOOD_NAMESPACE": "cli-start-ingest"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert ask_path_imports(result.stderr) == ""


# `ingest --json` prints JSON for a program: it needs no terminal rendering (rich), never runs
# httpx's own command-line client (click, pygments), which httpx loads whenever they are installed,
# and, unless logs are asked for, no Powertools (its errors print as text: ragfood.log).
NOT_FOR_JSON = ("rich", "click", "pygments", "aws_lambda_powertools")
LOADED_PROBE = (  # as the console script runs the CLI (ragfood_cli.entry)
    "import atexit, sys\n"
    "atexit.register(lambda: print('LOADED=' + ','.join(sorted({m.split('.')[0] for m in "
    f"sys.modules if m.split('.')[0] in {NOT_FOR_JSON!r}}})), file=sys.stderr))\n"
    "sys.argv[0] = 'ragfood'\n"
    "from ragfood_cli.entry import main\n"
    "main()\n"
)


def loaded_by_ingest(vector_server: VectorServer, tmp_path, *options: str) -> tuple[str, str, str]:
    """(stdout, stderr, the NOT_FOR_JSON modules loaded) of a console-script `ingest --json`."""
    foods = tmp_path / "foods.json"
    foods.write_text(json.dumps([{"id": "pho", "text": "Pho is a Vietnamese noodle soup."}]))
    unset = ("POWERTOOLS_LOG_LEVEL", "RAGFOOD_LOG_FORMAT")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    result = subprocess.run(
        [sys.executable, "-c", LOADED_PROBE, *options, "ingest", str(foods), "--json"],
        env={**env, **vector_server.client_env(), "RAGFOOD_NAMESPACE": "cli-loaded"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("LOADED=")][-1]
    return result.stdout, result.stderr, line.removeprefix("LOADED=")


def test_ingest_json_loads_no_terminal_libraries_nor_powertools(
    vector_server: VectorServer, tmp_path
):
    stdout, _, loaded = loaded_by_ingest(vector_server, tmp_path)
    assert json.loads(stdout)["items"] == 1
    assert loaded == ""


def test_verbose_ingest_still_logs_json_through_powertools(vector_server: VectorServer, tmp_path):
    stdout, stderr, loaded = loaded_by_ingest(vector_server, tmp_path, "--verbose")
    log = json.loads(next(ln for ln in stderr.splitlines() if ln.startswith("{")))
    assert (log["level"], log["message"], log["items"]) == ("INFO", "upload synced", 1)
    assert json.loads(stdout)["items"] == 1  # on stderr: stdout is the --json report alone
    assert loaded == "aws_lambda_powertools"
