"""The layer ships runtime code only: tools/check_layer.py (run after ``sam build`` by
``make build``) fails on a layer holding the emulator, moto or a module a handler needs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layer", ROOT / "tools" / "check_layer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _layer(build: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = build / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return build


def test_a_runtime_only_layer_passes(tmp_path: Path) -> None:
    build = _layer(
        tmp_path,
        {
            "LifeboatLayer/python/lifeboat/__init__.py": "",
            "LifeboatLayer/python/lifeboat/tags.py": "PLAN = 'lifeboat:plan'\n",
            "LifeboatLayer/python/lifeboat/aws/__init__.py": "",
            "LifeboatLayer/python/lifeboat/aws/clients.py": "from lifeboat import tags\n",
            "PruneFunction/app.py": "from lifeboat.aws.clients import client\n",
        },
    )
    assert _tool().check(build) == []


def test_the_emulator_moto_or_a_missing_module_fail(tmp_path: Path) -> None:
    build = _layer(
        tmp_path,
        {
            "LifeboatLayer/python/lifeboat/__init__.py": "",
            "LifeboatLayer/python/lifeboat/local/__init__.py": "",
            "LifeboatLayer/python/lifeboat/faults.py": "",
            "LifeboatLayer/python/lifeboat/runtime.py": "import moto\n",
            "PruneFunction/app.py": "from lifeboat.cli import main\n",
        },
    )
    problems = "\n".join(_tool().check(build))
    assert "development-only" in problems and "local" in problems and "lifeboat/faults" in problems
    assert "imports moto" in problems
    assert "imports lifeboat.cli" in problems


def test_this_repositorys_layer_makefile_leaves_the_development_code_out() -> None:
    # Every development-only module of the package is removed from the layer by its Makefile;
    # fault injection is not in the package at all (tests/faults.py).
    makefile = (ROOT / "layers" / "lifeboat" / "Makefile").read_text(encoding="utf-8")
    package = ROOT / "layers" / "lifeboat" / "lifeboat"
    present = [
        name
        for name in _tool().DEVELOPMENT_ONLY
        if (package / name).is_dir() or (package / f"{name}.py").is_file()
    ]
    assert set(present) == {"local", "cli", "demo", "bench", "report"}
    for name in present:
        assert f"lifeboat/{name}" in makefile, name
    assert "faults" in _tool().DEVELOPMENT_ONLY and (ROOT / "tests" / "faults.py").is_file()


def test_names_a_package_exports_are_shipped_and_others_are_not(tmp_path: Path) -> None:
    # from lifeboat.backup import begin_run: backup/ is a package re-exporting its stages
    layer = "LifeboatLayer/python/lifeboat"
    build = _layer(
        tmp_path,
        {
            f"{layer}/__init__.py": "",
            f"{layer}/backup/__init__.py": "from lifeboat.backup.run import begin_run\n",
            f"{layer}/backup/run.py": "def begin_run() -> None: ...\n",
            "BackupBeginFunction/app.py": "from lifeboat.backup import begin_run\n",
            "PruneFunction/app.py": "from lifeboat.backup import prune_everything\n",
        },
    )
    problems = "\n".join(_tool().check(build))
    assert "begin_run" not in problems
    assert "imports lifeboat.backup.prune_everything" in problems
