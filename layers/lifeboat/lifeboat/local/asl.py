"""State machine definitions parsed once: moto's Step Functions engine parses the ASL of a state
machine with ANTLR at every execution (0.1 to 0.2 s each for Lifeboat's); the syntax tree of a
definition is kept and only moto's preprocessor, which builds the execution's own components
from it, runs again. Syntax errors are reported as before (nothing is kept for them)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor


@contextmanager
def parsed_once() -> Iterator[None]:
    original = AmazonStateLanguageParser.parse
    trees: dict[str, Any] = {}
    lock = threading.Lock()

    def parse(definition: str) -> tuple[Any, Any]:
        with lock:
            tree = trees.get(definition)
        if tree is None:
            program, tree = original(definition)
            with lock:
                trees[definition] = tree
            return program, tree
        return Preprocessor().visit(tree), tree

    with mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(parse)):
        yield
