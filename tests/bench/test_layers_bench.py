import pytest

from bench import layers as layers_bench

TINY = [
    "--batch",
    "2",
    "--dim",
    "16",
    "--num-heads",
    "4",
    "--lengths",
    "6",
    "--repeats",
    "1",
    "--warmup",
    "1",
    "--decode-steps",
    "5",
    "--decode-repeats",
    "1",
    # Compiling six training steps (XLA on JAX) would dominate the test.
    "--jit-compile",
    "false",
]


def test_main_prints_and_returns_every_row(capsys):
    results = layers_bench.main(TINY)
    printed = capsys.readouterr().out

    rows = results["layers"]
    assert [row.length for row in rows] == [6, 6, 6]
    assert [row.batch for row in rows] == [2, 2, 2]
    for row, layer in zip(
        rows,
        ("MultiHeadAttention", "LuongAttention", "BahdanauAttention"),
        strict=True,
    ):
        assert row.layer.startswith(layer)
        assert row.ours_ms > 0 and row.peer_ms > 0
        assert row.ratio == pytest.approx(row.ours_ms / row.peer_ms)
        assert row.passed == (row.ratio <= 1.05)
        assert f"| {row.layer} | {row.peer} | 2 | 6 |" in printed
    table_lines = [line for line in printed.splitlines() if "| 6 |" in line]
    assert len(table_lines) == 3

    decoding = results["decoding"]
    assert decoding.steps == 5
    assert decoding.cached_ms > 0 and decoding.recomputed_ms > 0
    # Decoding with the cache computes exactly what recomputing the causal
    # attention over each prefix computes.
    assert decoding.max_abs_difference < 1e-4
    assert "| 5 |" in printed and "speed-up" in printed


def test_bahdanau_batch_and_pair_selection():
    results = layers_bench.main(
        TINY
        + ["--pairs", "bahdanau", "--bahdanau-batch", "3"]
        + ["--skip-decoding"]
    )
    assert [(row.batch, row.length) for row in results["layers"]] == [(3, 6)]
    assert results["decoding"] is None


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dim", "10", "--num-heads", "4"], "divisible"),
        (["--repeats", "0"], "positive"),
        (["--jit-compile", "maybe"], "auto, true, false"),
    ],
)
def test_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        layers_bench.main(argv)
    assert message in capsys.readouterr().err


def test_build_pair_rejects_unknown_pair():
    with pytest.raises(ValueError, match="`pair` must be one of"):
        layers_bench.build_pair("dot", 4, 8, 2, "auto")
