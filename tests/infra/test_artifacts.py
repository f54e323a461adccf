"""What `sam build` ships, as Lambda will run it: bytecode it can use, a small layer, no package
twice, nothing missing (docs/performance.md, "Cold start").

The build (BuildMethod: makefile, infra/lambda-build.mk) targets arm64, so its native extensions
cannot run on this machine; the checks that run code do so on the pure-Python part of the build.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"
BUILD_TIMEOUT_S = 900  # as conftest.py's sam_build

LAYER_LIMIT_MB = 15.0
# What the python3.11 Lambda runtime provides next to the layer and the function (/var/runtime).
RUNTIME_PROVIDED = {
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "urllib3",
    "python_dateutil",
    "six",
}
# The markers Lambda's python3.11 on arm64 evaluates requirements with.
LAMBDA_MARKERS = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}
SAM_ZIP_MTIME = 315532800  # 1980-01-01: SAM zips every file with ZipInfo's default date

pytestmark = [pytest.mark.sam, pytest.mark.timeout(BUILD_TIMEOUT_S + 120)]


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _template_resources() -> dict[str, dict]:
    return yaml.load(TEMPLATE.read_text(), Loader=_Loader)["Resources"]


def _built(kind: str) -> list[str]:
    return [name for name, r in _template_resources().items() if r["Type"] == kind]


FUNCTIONS = _built("AWS::Serverless::Function")
LAYERS = _built("AWS::Serverless::LayerVersion")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _dists(site: Path) -> dict[str, Path]:
    return {
        _norm(info.name.removesuffix(".dist-info").rpartition("-")[0]): info
        for info in site.glob("*.dist-info")
    }


def _version(info: Path) -> str:
    return info.name.removesuffix(".dist-info").rpartition("-")[2]


def _requires(info: Path) -> list[Requirement]:
    found = []
    for line in (info / "METADATA").read_text(errors="replace").splitlines():
        if line.startswith("Requires-Dist:"):
            req = Requirement(line.split(":", 1)[1].strip())
            if req.marker is None or req.marker.evaluate(LAMBDA_MARKERS):
                found.append(req)
    return found


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def _sites(sam_build) -> dict[str, Path]:
    sites = {name: sam_build.artefact(name) / "python" for name in LAYERS}
    sites.update({name: sam_build.artefact(name) for name in FUNCTIONS})
    return sites


# ------------------------------------------------------------------ how everything is built


@pytest.mark.parametrize("name", FUNCTIONS + LAYERS)
def test_every_function_and_layer_is_built_with_bytecode_for_its_architecture(name):
    """A new function gets bytecode by `BuildMethod: makefile` + a Makefile like the others'."""
    resource = _template_resources()[name]
    assert (resource.get("Metadata") or {}).get("BuildMethod") == "makefile", (
        f"{name}: add `Metadata: {{BuildMethod: makefile}}` (see infra/lambda-build.mk)"
    )
    code = resource["Properties"].get("CodeUri") or resource["Properties"].get("ContentUri")
    makefile = (TEMPLATE.parent / code / "Makefile").resolve()
    assert makefile.is_file(), f"{name}: {makefile} is missing"
    assert "infra/lambda-build.mk" in makefile.read_text()
    # The build's pip platform must match what the function or layer runs on.
    build_mk = (REPO / "infra" / "lambda-build.mk").read_text()
    assert "LAMBDA_PLATFORM  ?= manylinux2014_aarch64" in build_mk
    arch = resource.get("Metadata", {}).get("BuildArchitecture") or (
        resource["Properties"].get("Architectures")
        or yaml.load(TEMPLATE.read_text(), Loader=_Loader)["Globals"]["Function"]["Architectures"]
    )
    assert "arm64" in (arch if isinstance(arch, list) else [arch])


# ------------------------------------------------------------------ size and duplicates


def test_layer_is_at_most_15_mb_unzipped(sam_build):
    for name in LAYERS:
        size = _size_mb(sam_build.artefact(name))
        assert size <= LAYER_LIMIT_MB, f"{name} is {size:.1f} MB unzipped (limit {LAYER_LIMIT_MB})"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_package_is_in_both_the_layer_and_a_function(sam_build, function):
    """/var/task precedes /opt/python: a function's copy would shadow the layer's."""
    shipped = _dists(sam_build.artefact(function))
    for layer in LAYERS:
        both = shipped.keys() & _dists(sam_build.artefact(layer) / "python").keys()
        assert not both, f"{function} and {layer} both ship {sorted(both)}"


def test_every_dependency_is_shipped_once_or_provided_by_the_runtime(sam_build):
    """Functions install with --no-deps: what they need must be in them or in the layer."""
    sites = _sites(sam_build)
    layer = {n: i for name in LAYERS for n, i in _dists(sites[name]).items()}
    for name, site in sites.items():
        available = {**layer, **_dists(site)}
        for dist, info in _dists(site).items():
            for req in _requires(info):
                wanted = _norm(req.name)
                if wanted in RUNTIME_PROVIDED:
                    continue
                assert wanted in available, f"{name}: {dist} needs {req}, which is not shipped"
                version = _version(available[wanted])
                assert req.specifier.contains(version, prereleases=True), (
                    f"{name}: {dist} needs {req}, shipped {wanted} {version}"
                )


def test_nothing_shipped_needs_botocore(sam_build):
    """boto3/botocore come from the runtime; a requirement on them would pin a newer one."""
    for name, site in _sites(sam_build).items():
        assert not {"boto3", "botocore", "aws_xray_sdk"} & _dists(site).keys()
        for dist, info in _dists(site).items():
            needs = {_norm(r.name) for r in _requires(info)} & {"boto3", "botocore"}
            assert not needs, f"{name}: {dist} requires {needs}"


# ------------------------------------------------------------------ bytecode


@pytest.mark.parametrize("artefact", ["layer", "functions"])
def test_every_module_ships_unchecked_hash_bytecode_for_python311(sam_build, artefact):
    """Each .py has __pycache__/<name>.cpython-311.pyc with 3.11's magic number, flagged
    hash-based + unchecked (valid whatever the zip's timestamps), for exactly this source."""
    assert sys.version_info[:2] == (3, 11), "the suite runs on the runtime's Python (3.11)"
    sites = _sites(sam_build)
    roots = [sites[n] for n in (LAYERS if artefact == "layer" else FUNCTIONS)]
    problems: list[str] = []
    checked = 0
    for root in roots:
        for source in root.rglob("*.py"):
            pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-311.pyc"
            if not pyc.is_file():
                problems.append(f"missing {pyc.relative_to(root.parent)}")
                continue
            header = pyc.read_bytes()[:16]
            flags = int.from_bytes(header[4:8], "little")
            if header[:4] != importlib.util.MAGIC_NUMBER:
                problems.append(f"{pyc.name}: not Python 3.11 bytecode")
            elif flags != 0b01:
                problems.append(f"{pyc.name}: flags {flags:#b}, want unchecked-hash (0b01)")
            elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
                problems.append(f"{pyc.name}: compiled from another source")
            checked += 1
    assert checked > 0
    assert not problems, f"{len(problems)} of {checked} modules: {problems[:10]}"


def _read_only_copy(source: Path, target: Path) -> Path:
    """The artefact as Lambda sees it after SAM's zip: every mtime 1980-01-01, read-only."""
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        os.utime(path, (SAM_ZIP_MTIME, SAM_ZIP_MTIME), follow_symlinks=False)
    for path in [*target.rglob("*"), target]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return target


def _compiled_from_source(site: Path, modules: str) -> list[str]:
    """Modules under `site` that `import modules` compiled from source (python -v)."""
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-v",
            "-c",
            f"import sys; sys.path.insert(0, {str(site)!r}); import {modules}",
        ],
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = re.findall(r"^# code object from '?([^'\n]+)'?$", result.stderr, re.MULTILINE)
    assert any(path.startswith(str(site)) for path in loaded), result.stderr[-2000:]
    return [p for p in loaded if p.startswith(str(site)) and p.endswith(".py")]


# Pure-Python modules of the layer (the arm64 build's native extensions cannot load here).
PURE_MODULES = (
    "ragfood.errors, ragfood.retry, ragfood.relevance, tenacity, cachetools, idna, h11, jmespath"
)


def test_shipped_bytecode_is_used_from_a_read_only_copy_with_zip_timestamps(sam_build, tmp_path):
    layer = sam_build.artefact(LAYERS[0]) / "python"
    site = _read_only_copy(layer, tmp_path / "opt-python")
    try:
        assert _compiled_from_source(site, PURE_MODULES) == []
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(tmp_path)], check=True)


def test_timestamp_bytecode_would_be_compiled_again_after_the_zip(sam_build, tmp_path):
    """Why unchecked-hash: default (timestamp) .pyc no longer match sources zipped by SAM."""
    layer = tmp_path / "timestamp-build"
    shutil.copytree(sam_build.artefact(LAYERS[0]) / "python", layer)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-f",
            "--invalidation-mode",
            "timestamp",
            str(layer / "ragfood"),
        ],
        check=True,
        capture_output=True,
    )
    site = _read_only_copy(layer, tmp_path / "opt-python")
    try:
        assert sorted(_compiled_from_source(site, "ragfood.errors")) == [
            str(site / "ragfood" / name) for name in ("__init__.py", "errors.py")
        ]
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(tmp_path)], check=True)


def test_the_layers_english_only_stemmer_stems_as_the_full_package(sam_build):
    """shared/Makefile ships snowballstemmer with English only; ragfood.relevance still works."""
    import snowballstemmer  # the full package, in the dev venv

    site = sam_build.artefact(LAYERS[0]) / "python"
    words = ["noodles", "running", "spicier", "fermented"]
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            f"import sys; sys.path.insert(0, {str(site)!r}); "
            "import snowballstemmer; "
            f"print(' '.join(snowballstemmer.stemmer('english').stemWords({words!r})))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    expected = snowballstemmer.stemmer("english").stemWords(words)
    assert result.stdout.split() == expected


def test_the_ask_functions_stem_with_the_c_stemmer(sam_build):
    """The first ask stems ~650 words of candidate text: ~13 ms of its cold start in pure Python.
    The ask functions ship PyStemmer and the layer's English-only snowballstemmer prefers it."""
    ask_functions = [
        name
        for name in FUNCTIONS
        if _template_resources()[name]["Properties"]["CodeUri"].rstrip("/").endswith("ask")
    ]
    assert ask_functions
    for name in ask_functions:
        assert "pystemmer" in _dists(sam_build.artefact(name)), name
    # The build's Stemmer is arm64: beside the layer, this machine's build of it stands in.
    import Stemmer

    site = sam_build.artefact(LAYERS[0]) / "python"
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            f"import sys; sys.path[:0] = [{str(site)!r}, {str(Path(Stemmer.__file__).parent)!r}]; "
            "import snowballstemmer; print(type(snowballstemmer.stemmer('english')).__module__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "Stemmer"
