"""One logdir, one run: the advisory lock of `zoo.run_lock`.

A real second process holds a logdir (the toy task paused after its
first epoch's checkpoint) while this one tries to train into it, with
and without `--overwrite`; lock files left by a killed run of this host
are taken over, one naming another host is refused with advice, and a
run that ends with an exception releases its lock.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import pytest

from tests.conftest import REPO_ROOT
from tests.conftest import cli_main
from tests.conftest import subprocess_env

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from zoo.run_lock import RunLock  # noqa: E402
from zoo.run_lock import RunLockedError  # noqa: E402
from zoo.trainer import train  # noqa: E402

TOY_RUN = {
    "epochs": 2,
    "jit_compile": False,
    "num_summary_samples": 0,
    "verbose": 0,
}
TOY_FLAGS = ["--epochs", "2", "--no-jit", "--num-summary-samples", "0"]
TOY_FLAGS += ["--verbose", "0"]

# The holder: trains the toy task into LOGDIR and, its first epoch
# checkpointed, says so in READY and waits for GO before it goes on.
HOLDER = """
import pathlib
import sys
import time

import keras

sys.path.insert(0, {package_root!r})

from zoo import tasks
from zoo.trainer import train

tasks.register_task("reversal", "zoo_test_reversal.task:ReversalTask")


class Pause(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            pathlib.Path({ready!r}).touch()
            deadline = time.monotonic() + 300
            while not pathlib.Path({go!r}).exists():
                assert time.monotonic() < deadline
                time.sleep(0.05)


train("reversal", logdir={logdir!r}, callbacks=[Pause()], **{run!r})
"""


@pytest.fixture
def holder(reversal_package_root, tmp_path):
    """A process holding `tmp_path / "run"`, paused after its epoch 1."""
    logdir = tmp_path / "run"
    ready, go = tmp_path / "ready", tmp_path / "go"
    script = HOLDER.format(
        package_root=str(reversal_package_root),
        ready=str(ready),
        go=str(go),
        logdir=str(logdir),
        run=TOY_RUN,
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(process.communicate()[1][-3000:])
            time.sleep(0.05)
        yield process, logdir, go
    finally:
        go.touch()
        try:
            process.wait(timeout=300)
        finally:
            process.kill()


def test_a_held_logdir_is_refused_even_with_overwrite(reversal, holder, capsys):
    process, logdir, go = holder
    held = json.loads((logdir / "run.lock").read_text())
    assert held["pid"] == process.pid and held["host"] == socket.gethostname()
    # Also in the run record.
    assert json.loads((logdir / "run.json").read_text())["holder"] == held
    checkpoint = sorted((logdir / "checkpoint").iterdir())

    expected = (
        f"--logdir {logdir}: in use by another run (pid {process.pid} on "
        f"{held['host']} since {held['since']}); wait for it to end, or use "
        "another --logdir"
    )
    for extra in ([], ["--overwrite"]):
        arguments = ["train", reversal, "--logdir", logdir, *TOY_FLAGS]
        status, out, error = cli_main(capsys, *arguments, *extra)
        assert (status, error) == (2, expected)
    # Nothing of the live run was deleted.
    assert sorted((logdir / "checkpoint").iterdir()) == checkpoint
    assert (logdir / "run.json").is_file()

    go.touch()
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors[-3000:]
    results = json.loads((logdir / "evaluation.json").read_text())
    assert results["epochs"] == 2 and results["epochs_resumed"] == 0
    # Released when the run ended.
    assert not (logdir / "run.lock").exists()


def test_a_lock_left_by_a_killed_run_of_this_host_is_taken_over(
    reversal, tmp_path
):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    logdir = tmp_path / "run"
    logdir.mkdir()
    stale = {"pid": dead.pid, "host": socket.gethostname(), "since": "then"}
    (logdir / "run.lock").write_text(json.dumps(stale))

    results = train(reversal, logdir=logdir, **{**TOY_RUN, "epochs": 1})
    assert results["epochs"] == 1
    holder = json.loads((logdir / "run.json").read_text())["holder"]
    assert holder["pid"] == os.getpid()
    assert not (logdir / "run.lock").exists()


def test_a_lock_naming_another_host_is_refused_with_advice(
    reversal, tmp_path, capsys
):
    logdir = tmp_path / "run"
    logdir.mkdir()
    lock = logdir / "run.lock"
    lock.write_text(
        json.dumps({"pid": 7, "host": "elsewhere", "since": "2024-01-01"})
    )
    status, _, error = cli_main(
        capsys, "train", reversal, "--logdir", logdir, *TOY_FLAGS
    )
    assert status == 2
    assert error == (
        f"--logdir {logdir}: {lock} names a run on another host (pid 7 on "
        "elsewhere since 2024-01-01), which this host cannot check; use "
        f"another --logdir, or delete {lock} if that run has ended"
    )
    assert lock.is_file() and not (logdir / "run.json").exists()


class Interrupt(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        raise KeyboardInterrupt


def test_a_run_ended_by_an_exception_releases_its_lock(reversal, tmp_path):
    logdir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(reversal, logdir=logdir, callbacks=[Interrupt()], **TOY_RUN)
    assert not (logdir / "run.lock").exists()
    with RunLock(logdir) as lock:
        assert lock.holder["pid"] == os.getpid()


def test_a_lock_is_held_until_released(tmp_path):
    with RunLock(tmp_path) as lock:
        # A second open file of the same process is refused too.
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()} on "):
            RunLock(tmp_path).__enter__()
        assert json.loads((tmp_path / "run.lock").read_text()) == lock.holder
    assert not (tmp_path / "run.lock").exists()
    with RunLock(tmp_path):
        pass


def test_a_process_killed_holding_a_lock_leaves_it_free(tmp_path):
    script = (
        "import os, signal, sys, time\n"
        "from zoo.run_lock import RunLock\n"
        f"with RunLock({str(tmp_path)!r}):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(300)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline() == "held\n"
    with pytest.raises(RunLockedError, match=f"pid {process.pid} on "):
        RunLock(tmp_path).__enter__()
    process.send_signal(signal.SIGKILL)
    process.wait()
    # The file stays, naming the dead process; its `flock` went with it.
    assert json.loads((tmp_path / "run.lock").read_text())["pid"] == (
        process.pid
    )
    with RunLock(tmp_path) as lock:
        assert lock.holder["pid"] == os.getpid()
