"""A tiny end-to-end run compiles what it needs once, in seconds."""

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_tiny_run_trains_and_evaluates_greedy_and_beam_quickly(tmp_path):
    # 64 dates give a target vocabulary of about 32 WordPiece tokens, where
    # XLA once spent over 12 minutes compiling the beam-4 decoder. The
    # limit is generous (the run takes well under a minute on 2 cores); it
    # is there to fail instead of hanging if such a compile comes back.
    logdir = tmp_path / "tiny"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "zoo.cli",
            "train",
            "translation",
            "--epochs",
            "1",
            "--max-examples",
            "64",
            "--logdir",
            str(logdir),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    evaluation = json.loads((logdir / "evaluation.json").read_text())
    assert {"greedy", "beam4"} <= set(evaluation)
    assert (logdir / "model.keras").is_file()
