"""A resumed run spends what was left of its time budget, not a new one.

`--max-minutes` is the budget of the run, however often it is resumed:
the checkpoint keeps the seconds spent (`TimeBudget.get_state`), and a
resumed run's budget ends that much sooner. The toy task trains in
seconds; the state file is edited as if the first attempt had spent all
but a moment of its minute.
"""

import json

import keras
import pytest

pytest.importorskip("tensorflow")

from zoo.trainer import train  # noqa: E402


class Interrupted(Exception):
    pass


class InterruptAfterFirstEpoch(keras.callbacks.Callback):
    # Runs after RunCheckpoint has written the epoch's checkpoint.
    def on_epoch_end(self, epoch, logs=None):
        raise Interrupted


class TrainedBatches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.batches[self.epoch] = self.batches.get(self.epoch, 0) + 1


def test_a_resumed_run_spends_what_is_left_of_its_time_budget(
    reversal, tmp_path
):
    run = {
        "logdir": tmp_path / "run",
        "epochs": 3,
        "max_minutes": 1.0,
        "anneal_fraction": 0.0,
        "num_summary_samples": 0,
        "jit_compile": False,
        "verbose": 0,
    }
    with pytest.raises(Interrupted):
        train(reversal, callbacks=[InterruptAfterFirstEpoch()], **run)
    path = tmp_path / "run" / "checkpoint" / "state.json"
    state = json.loads(path.read_text())
    recorded = state.get("time_budget", {}).get("spent_seconds")
    state["time_budget"] = {"spent_seconds": 60.0 - 1e-3}
    path.write_text(json.dumps(state))

    trained = TrainedBatches()
    results = train(reversal, callbacks=[trained], **run)
    # Out of time after the first batch of the second epoch: no third.
    assert trained.batches == {1: 1}
    assert results["epochs"] == 2
    assert recorded is not None and 0.0 < recorded < 60.0
