"""Declared commands (`zoo.commands`): grouping, checks and `run_command`.

Fake tasks (plain classes with `commands` and `model_class`) in a
registry of the test's own; the real tasks' commands run in the tests of
each task and of the toy task (`test_trainer.py`).
"""

import pytest

from zoo import commands
from zoo import tasks
from zoo.commands import Argument
from zoo.commands import Command
from zoo.options import Option


class Model:
    pass


class OtherModel:
    pass


def _score(model, config):
    return ("score", type(model).__name__, config.threshold)


def _make_task(name, model_class, *declared):
    return type(name, (), {"model_class": model_class, "commands": declared})


EVALUATE = Command(
    "evaluate",
    help="scores",
    run=_score,
    options=(Option("threshold", float, 0.5, "A threshold."),),
)


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(tasks, "_TASKS", {})
    monkeypatch.setattr(tasks, "_IMPORTED", {})
    return tasks


def test_commands_of_one_name_are_grouped_by_task(registry):
    registry.register_task("a", _make_task("A", Model, EVALUATE))
    registry.register_task("b", _make_task("B", OtherModel, EVALUATE))
    grouped = commands.commands_by_name()
    assert list(grouped) == ["evaluate"]
    assert list(grouped["evaluate"]) == ["a", "b"]


def test_commands_of_one_name_must_take_the_same_arguments(registry):
    other = Command(
        "evaluate",
        help="scores data",
        run=_score,
        arguments=(Argument("data"),),
    )
    registry.register_task("a", _make_task("A", Model, EVALUATE))
    registry.register_task("b", _make_task("B", OtherModel, other))
    with pytest.raises(
        ValueError, match="tasks 'a' and 'b' must take the same"
    ):
        commands.commands_by_name()


def test_run_command_finds_the_task_of_a_loaded_model(registry):
    registry.register_task("a", _make_task("A", Model, EVALUATE))
    registry.register_task("b", _make_task("B", OtherModel, EVALUATE))
    assert commands.run_command("evaluate", OtherModel(), threshold=0.25) == (
        "score",
        "OtherModel",
        0.25,
    )
    # The declared default.
    assert commands.run_command("evaluate", Model())[2] == 0.5


def test_run_command_names_what_is_wrong(registry):
    registry.register_task("a", _make_task("A", Model, EVALUATE))
    with pytest.raises(ValueError, match="Unknown command 'evalute'"):
        commands.run_command("evalute", Model())
    with pytest.raises(ValueError, match="`evaluate` needs a model"):
        commands.run_command("evaluate")
    with pytest.raises(ValueError, match=r"did you mean `threshold`"):
        commands.run_command("evaluate", Model(), treshold=1.0)
    with pytest.raises(ValueError, match="Received: threshold='high'"):
        commands.run_command("evaluate", Model(), threshold="high")
    with pytest.raises(ValueError, match="must be a model trained by a zoo"):
        commands.run_command("evaluate", OtherModel())
