import pytest

from bench import decoding as decoding_bench


def test_quick_run_prints_every_section_and_pairs_agree(capsys):
    results = decoding_bench.main(
        ["--quick", "--models", "transformer", "--cells", "gru", "lstm"]
    )
    printed = capsys.readouterr().out

    throughput = results["throughput"]
    assert [row.decoder for row in throughput] == ["greedy", "beam 2"]
    for row in throughput:
        assert row.model.startswith("TransformerTranslator")
        assert (row.batch, row.steps) == (2, 4)
        assert row.milliseconds > 0
        assert row.sentences_per_second == pytest.approx(
            2 / (row.milliseconds / 1000)
        )
        # The end token never wins, so every hypothesis runs all 4 steps.
        assert row.all_full_length
        # The decoders' scores are the model's own log-probabilities of the
        # decoded tokens, recomputed by teacher forcing.
        assert row.rescoring_difference < 1e-4
        assert f"| {row.model} | {row.decoder} | 2 | 4 |" in printed

    (cache,) = results["cache"]
    assert (cache.batch, cache.steps) == (2, 4)
    assert cache.cached_ms > 0 and cache.recomputed_ms > 0
    assert cache.speedup == pytest.approx(cache.recomputed_ms / cache.cached_ms)
    assert cache.passed == (cache.speedup >= 5.0)
    # The cache computes exactly what re-running the decoder computes.
    assert cache.max_abs_difference < 1e-4

    training = results["training"]
    assert [row.cell for row in training] == ["GRUCell", "LSTMCell"]
    for row in training:
        assert (row.batch, row.length, row.units) == (2, 4, 8)
        assert row.passed == (row.loop_ms / row.parallel_ms >= 2.0)
        # Both paths start from the same weights and compute the same thing.
        assert row.max_abs_difference < 1e-5
        assert f"| {row.cell} | 2 | 4 | 8 |" in printed

    for heading in ("sentences/s", "recomputed ms", "loop ms"):
        assert heading in printed


def test_recurrent_cache_pair_agrees(capsys):
    results = decoding_bench.main(
        ["--quick", "--models", "luong", "--sections", "cache"]
    )
    (cache,) = results["cache"]
    assert cache.model.startswith("LuongTranslator")
    assert cache.cache == "AttentionRNN.step state"
    assert cache.max_abs_difference < 1e-4
    assert results["throughput"] == [] and results["training"] == []
    printed = capsys.readouterr().out
    assert "| LuongTranslator" in printed and "sentences/s" not in printed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model-dim", "10", "--num-heads", "4"], "divisible"),
        (["--vocabulary-size", "3"], "`--vocabulary-size` must be > 3"),
        (["--repeats", "0"], "positive"),
        (["--sections", "speed"], "invalid choice"),
    ],
)
def test_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        decoding_bench.main(argv)
    assert message in capsys.readouterr().err


def test_build_translator_rejects_unknown_model():
    with pytest.raises(ValueError, match="`name` must be one of"):
        decoding_bench.build_translator("rnn", 10, None, {})
