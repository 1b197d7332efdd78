"""Check that the built Lambda layer ships runtime code only.

The ``lifeboat`` package installed for development also holds the CLI, the demo, the benchmark
and the local emulator (``local/``, which patches moto); fault injection lives in ``tests/``.
None of that belongs in the layer every function loads. ``layers/lifeboat/Makefile`` leaves
them out; this check reads what ``sam build`` produced and fails if

* any of them is in the layer, or any module there imports moto;
* a module of the layer, or a function's handler, imports a ``lifeboat`` module the layer does
  not ship (so leaving something out can never break a function at its cold start).

    python3 tools/check_layer.py .aws-sam/build      # exit 1 and the findings, or 0
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

DEVELOPMENT_ONLY = ("local", "cli", "demo", "bench", "faults", "report")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _shipped(package: Path) -> set[str]:
    modules = {"lifeboat"}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def _names(init: Path) -> set[str]:
    """What a package's ``__init__.py`` defines or imports at its top level."""
    if not init.exists():
        return set()
    names: set[str] = set()
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def check(build_dir: Path) -> list[str]:
    package = build_dir / "LifeboatLayer" / "python" / "lifeboat"
    if not package.is_dir():
        return [f"{package}: no layer built here (run sam build)"]
    problems = [
        f"{package / name}: development-only code in the layer"
        for name in DEVELOPMENT_ONLY
        if (package / name).exists() or (package / f"{name}.py").exists()
    ]
    shipped = _shipped(package)
    sources = sorted(package.rglob("*.py")) + sorted(
        p for p in build_dir.glob("*/app.py") if "LifeboatLayer" not in str(p)
    )
    for path in sources:
        for name in sorted(_imports(path)):
            if name == "moto" or name.startswith("moto."):
                problems.append(f"{path}: imports {name} (the emulator is not a runtime need)")
            elif name.startswith("lifeboat.") and name not in shipped:
                parent, _, leaf = name.rpartition(".")
                folder = package.parent / parent.replace(".", "/")
                exported = folder.is_dir() and leaf in _names(folder / "__init__.py")
                if parent not in shipped or (folder.is_dir() and not exported):
                    problems.append(f"{path}: imports {name}, which the layer does not ship")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", type=Path, nargs="?", default=Path(".aws-sam/build"))
    args = parser.parse_args(argv)
    problems = check(args.build_dir)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"✓ {args.build_dir}: the layer ships runtime code only")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
