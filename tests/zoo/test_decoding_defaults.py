"""Every command of a task decodes with the same beam search by default.

What training reports is what `evaluate` scores, the inference verb
prints and `export` serves, unless a flag says otherwise.
"""

import importlib

import pytest

pytest.importorskip("tensorflow")

from zoo.tasks import get_task  # noqa: E402

DECODING = ("beam_width", "length_penalty", "no_repeat_ngram_size")
# The task, its inference verb and its default beam width.
TASKS = [
    ("captioning", "caption", 3),
    ("summarization", "summarize", 4),
    ("translation", "translate", 4),
]


@pytest.mark.parametrize("task_name, verb, beam_width", TASKS)
def test_train_evaluate_infer_and_export_share_decoding_defaults(
    task_name, verb, beam_width
):
    task = get_task(task_name)
    declared = {"train": task.options}
    declared.update(
        (command.name, command.options) for command in task.commands
    )
    defaults = {
        name: {o.name: o.default for o in options if o.name in DECODING}
        for name, options in declared.items()
        if name in ("train", "evaluate", verb, "export")
    }
    assert sorted(defaults) == sorted(["train", "evaluate", verb, "export"])
    # Translation's training always reports beam 4 (its results' "beam4"):
    # no flag, the task's constant.
    options = importlib.import_module(f"zoo.{task_name}.options")
    defaults["train"].setdefault("beam_width", options.BEAM_WIDTH)
    for command, values in defaults.items():
        assert values["beam_width"] == beam_width, command
    # A decoding option declared by training has its default everywhere.
    for name, value in defaults["train"].items():
        for command, values in defaults.items():
            assert values.get(name, value) == value, (command, name)
