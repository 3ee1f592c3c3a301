"""The zoo's rooms: tasks side by side on one shared floor.

Read from the source with `ast`, so the checks need no import: no task
package imports another task's package, and no zoo module imports a
private name (`_name`) from another package.
"""

import ast
import pathlib

from zoo import tasks

ROOT = pathlib.Path(__file__).resolve().parents[2]
ZOO = ROOT / "zoo"


def _task_packages():
    """`zoo.translation`, `zoo.captioning`, ...: the registered tasks'."""
    return {
        ".".join(tasks.get_task(name).__module__.split(".")[:2])
        for name in tasks.task_names()
    }


def _imports():
    """`(importing module, imported module, imported names)` of the zoo."""
    for path in sorted(ZOO.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [alias.name for alias in node.names]
                yield module, node.module, names
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    yield module, alias.name, []


def _package(module, packages):
    return next(
        (p for p in packages if module == p or module.startswith(p + ".")),
        None,
    )


def test_the_three_tasks_are_registered_packages():
    assert {"zoo.translation", "zoo.captioning", "zoo.summarization"} <= (
        _task_packages()
    )


def test_no_task_imports_another_task():
    packages = _task_packages()
    crossings = sorted(
        f"{importer} imports {imported}"
        for importer, imported, _ in _imports()
        if _package(importer, packages) is not None
        and _package(imported, packages)
        not in (
            None,
            _package(importer, packages),
        )
    )
    assert not crossings


def test_the_shared_floor_imports_no_task():
    packages = _task_packages()
    floor = sorted(
        f"{importer} imports {imported}"
        for importer, imported, _ in _imports()
        if _package(importer, packages) is None
        and _package(imported, packages) is not None
    )
    assert not floor


def test_no_zoo_module_imports_a_private_name_of_another_package():
    private = sorted(
        f"{importer} imports {name} from {imported}"
        for importer, imported, names in _imports()
        for name in names
        if name.startswith("_")
        and imported.rpartition(".")[0] != importer.rpartition(".")[0]
    )
    assert not private
