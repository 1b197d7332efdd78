"""The package's shape (docs/design/architecture.md): domain modules reach the outside world only
through ``lifeboat.ports``; no module over 400 lines; the Lambda layer's code never imports the
developer tools."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "lifeboat" / "lifeboat"
DOMAIN = [
    "backup",
    "restore",
    "prune",
    "drill",
    "alarms.py",
    "guardrails.py",
    "copies",
    "retention.py",
    "plans.py",
    "models.py",
    "tags.py",
    "pacing.py",
    "ports.py",
    "errors.py",
    "timeutil.py",
]
FORBIDDEN = ("lifeboat.aws", "lifeboat.runtime", "lifeboat.local", "lifeboat.cli", "boto3", "moto")
ALLOWED = {"botocore.exceptions"}  # ClientError may be caught (with errors.error_code)
DEVELOPER = ("lifeboat.local", "lifeboat.cli", "lifeboat.demo", "lifeboat.bench", "moto")


def _modules(*names: str) -> list[Path]:
    found: list[Path] = []
    for name in names:
        path = PACKAGE / name
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("path", _modules(*DOMAIN), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_domain_modules_import_only_ports_models_and_pure_helpers(path: Path) -> None:
    bad = sorted(
        name
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
        or (
            name.startswith("botocore")
            and name not in ALLOWED
            and not name.startswith("botocore.exceptions")
        )
    )
    assert not bad, f"{path.name} imports {bad}: go through lifeboat.ports"


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, long


def test_runtime_code_never_imports_the_developer_tools() -> None:
    runtime_code = [
        p
        for p in PACKAGE.rglob("*.py")
        if not str(p.relative_to(PACKAGE)).startswith(("local/", "cli/", "demo.py", "bench.py"))
    ]
    offenders = {
        str(p.relative_to(PACKAGE)): sorted(n for n in _imports(p) if n.startswith(DEVELOPER))
        for p in runtime_code
    }
    assert not {k: v for k, v in offenders.items() if v}
