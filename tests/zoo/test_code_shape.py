"""The zoo stays readable: short functions, short public signatures."""

import ast
import pathlib

ZOO = pathlib.Path(__file__).resolve().parents[2] / "zoo"
MAX_FUNCTION_LINES = 100
MAX_PUBLIC_PARAMETERS = 12


def _functions():
    for path in sorted(ZOO.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path.relative_to(ZOO.parent), node


def _parameters(node):
    arguments = node.args
    names = arguments.posonlyargs + arguments.args + arguments.kwonlyargs
    count = len(names) + bool(arguments.vararg) + bool(arguments.kwarg)
    if names and names[0].arg in ("self", "cls"):
        count -= 1
    return count


def test_no_zoo_function_is_over_100_lines():
    long_functions = [
        f"{path}:{node.lineno} {node.name} "
        f"({node.end_lineno - node.lineno + 1} lines)"
        for path, node in _functions()
        if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long_functions


def test_no_public_zoo_signature_has_over_12_parameters():
    long_signatures = [
        f"{path}:{node.lineno} {node.name} ({_parameters(node)} parameters)"
        for path, node in _functions()
        if not node.name.startswith("_")
        and _parameters(node) > MAX_PUBLIC_PARAMETERS
    ]
    assert not long_signatures
