import json

import keras
import numpy as np
import pytest

from tests.conftest import cli_main
from tests.conftest import run_cli
from tests.conftest import to_numpy
from zoo.translation import ARCHITECTURES

TINY = {
    "bahdanau": {"embedding_dim": 8, "units": 16},
    "luong": {"embedding_dim": 8, "units": 16, "alignment": "local-p"},
    "transformer": {
        "model_dim": 16,
        "num_heads": 2,
        "feed_forward_dim": 32,
        "max_length": 16,
    },
}


def copy_task(seed=0, count=64):
    """Targets are the sources: attention should learn the diagonal."""
    rng = np.random.default_rng(seed)
    source = rng.integers(3, 12, size=(count, 6)).astype("int32")
    target_input = np.concatenate(
        [np.ones((count, 1), "int32"), source[:, :-1]], axis=1
    )
    return source, target_input, source


LUONG_LOCAL_M = {**TINY["luong"], "alignment": "local-m", "window": 2}


@pytest.mark.parametrize(
    "arch, arguments",
    [(arch, TINY[arch]) for arch in sorted(ARCHITECTURES)]
    + [("luong", LUONG_LOCAL_M)],
)
def test_few_steps_of_training_lower_the_loss(arch, arguments):
    keras.utils.set_random_seed(0)
    model = ARCHITECTURES[arch](12, 12, **arguments)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    source, target_input, target_output = copy_task()
    history = model.fit(
        (source, target_input),
        target_output,
        epochs=8,
        batch_size=16,
        verbose=0,
    )
    losses = history.history["loss"]
    assert losses[-1] < 0.9 * losses[0]
    greedy = model.translate_ids(source[:4], 1, 2, max_length=6)
    beam = model.translate_ids(source[:4], 1, 2, max_length=6, beam_width=3)
    assert to_numpy(greedy["sequences"]).shape == (4, 6)
    assert to_numpy(beam["sequences"]).shape == (4, 6)
    attention = to_numpy(greedy["attention"])
    # [batch, (heads,) steps, source_length]
    assert attention.shape[0] == 4 and attention.shape[-2:] == (6, 6)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_padding_does_not_change_the_loss(arch):
    from zoo.translation.training import MaskedSparseCrossentropy
    from zoo.translation.training import masked_accuracy

    keras.utils.set_random_seed(1)
    model = ARCHITECTURES[arch](12, 12, **TINY[arch])
    source, target_input, target_output = copy_task(count=4)
    target_input[:, 4:] = 0
    target_output[:, 4:] = 0
    extra = np.zeros((4, 3), "int32")
    padded_input = np.concatenate([target_input, extra], axis=1)
    padded_output = np.concatenate([target_output, extra], axis=1)
    loss = MaskedSparseCrossentropy()
    metric = keras.metrics.MeanMetricWrapper(masked_accuracy)
    short_logits = model((source, target_input))
    long_logits = model((source, padded_input))
    # Keras averages over the logits' Keras mask: real tokens only.
    np.testing.assert_allclose(
        to_numpy(loss(target_output, short_logits)),
        to_numpy(loss(padded_output, long_logits)),
        rtol=1e-5,
    )
    metric.update_state(target_output, short_logits)
    short_accuracy = float(to_numpy(metric.result()))
    metric.reset_state()
    metric.update_state(padded_output, long_logits)
    assert float(to_numpy(metric.result())) == pytest.approx(short_accuracy)


@pytest.fixture(scope="module")
def trained_dates_model(tmp_path_factory):
    """The command line's main job with a tiny budget: its results.

    64 dates give a target vocabulary of about 32 WordPiece tokens, where
    XLA once spent over 12 minutes compiling the beam-4 decoder of the
    final evaluation; the run now takes well under a minute, and
    `run_cli`'s timeout fails the test instead of hanging.
    """
    logdir = tmp_path_factory.mktemp("dates") / "run"
    result = run_cli(
        "train",
        "translation",
        "--epochs",
        "1",
        "--max-examples",
        "64",
        "--max-eval-pairs",
        "100",
        "--model-args",
        '{"units": 16, "embedding_dim": 8}',
        "--logdir",
        logdir,
    )
    evaluation = json.loads((logdir / "evaluation.json").read_text())
    return {**evaluation, "stdout": result.stdout}


def test_training_writes_model_evaluation_and_summaries(trained_dates_model):
    import pathlib

    from tensorboard.backend.event_processing import event_accumulator

    logdir = pathlib.Path(trained_dates_model["logdir"])
    assert (logdir / "model.keras").is_file()
    assert (logdir / "evaluation.json").is_file()
    for name in ("greedy", "beam4"):
        assert 0.0 <= trained_dates_model[name]["exact_match"] <= 1.0
        # --max-eval-pairs: the first 100 of the 1,000 test dates.
        buckets = trained_dates_model[name]["bleu_by_source_length"]
        assert sum(bucket["sentences"] for bucket in buckets) == 100
    runs = [p for p in logdir.rglob("events.out.tfevents.*")]
    tags = set()
    for run in {p.parent for p in runs}:
        accumulator = event_accumulator.EventAccumulator(
            str(run), size_guidance={"tensors": 0, "images": 0}
        )
        accumulator.Reload()
        tags.update(accumulator.Tags()["tensors"])
        tags.update(accumulator.Tags()["images"])
    assert "attention/sample_0" in tags
    assert "attention/text" in tags
    assert "attention/entropy" in tags
    assert "attention/exact_match" in tags
    # The dates' samples carry their reference alignment.
    assert "attention/attention_correctness" in tags


def test_loaded_model_translates_raw_strings(trained_dates_model):
    import zoo.text  # noqa: F401
    import zoo.translation  # noqa: F401

    model = keras.saving.load_model(
        trained_dates_model["model_path"], compile=False
    )
    texts = ["saturday, 9 may 2018", "", "¿1 jan 2000?"]
    first = model.translate(texts)
    assert len(first) == 3 and all(isinstance(t, str) for t in first)
    again = keras.saving.load_model(
        trained_dates_model["model_path"], compile=False
    ).translate(texts)
    assert first == again
    assert model.translate([]) == []
    assert model.translate(iter([]), beam_width=3) == []


def test_cli_main_job_with_a_tiny_budget(trained_dates_model, capsys):
    output = trained_dates_model["stdout"]
    assert {"greedy", "beam4"} <= set(trained_dates_model)
    assert "test greedy: exact match" in output
    assert "  attention correctness " in output
    assert f"tensorboard --logdir {trained_dates_model['logdir']}" in output
    status, translated, _ = cli_main(
        capsys, "translate", trained_dates_model["model_path"], "9 may 2018"
    )
    assert status == 0
    # One line per text (after one epoch, beam 4 may well translate to an
    # empty line).
    assert len(translated.splitlines()) == 1


def test_cli_prints_samples_and_scores_as_text(capsys):
    from zoo.translation import task

    task.print_samples(
        [
            {
                "source": "Ça suffit\u202f!",
                "hypothesis": "That's enough!",
                "reference": "that's enough !",
            },
            {"source": "¿Y tú?", "hypothesis": "And me?", "reference": "You?"},
        ]
    )
    task.print_attention_correctness(
        {
            "attention_correctness": {
                "all": 0.934,
                "year": 0.95,
                "month": 0.9,
                "day": None,
            }
        }
    )
    task.print_attention_correctness(
        {
            "attention_correctness": dict.fromkeys(["all", "year"], 0.5),
            "attention_correctness_best_head": dict.fromkeys(
                ["all", "year"], None
            ),
        }
    )
    assert capsys.readouterr().out.splitlines() == [
        "sample translations (source -> translation):",
        # Equal under the scorer's normalisation: no reference shown.
        "  Ça suffit\u202f! -> That's enough!",
        "  ¿Y tú? -> And me?  (reference: You?)",
        "  attention correctness 0.93 (year 0.95, month 0.90, day n/a)",
        "  attention correctness, mean over heads: 0.50 (year 0.50)",
        "  attention correctness, best head:       n/a (no translation has "
        "a field where ISO puts it)",
    ]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["train", "translation", "--data", "/no/such/file.txt"], "file"),
        (["train", "translation", "--epochs", "0"], "must be >= 1"),
        (["train", "translation", "--arch", "rnn"], "invalid choice"),
    ],
)
def test_cli_bad_arguments_give_one_line(arguments, message, capsys):
    status, _, error = cli_main(capsys, *arguments)
    assert status == 2
    assert message in error


RECURRENT = ("bahdanau", "luong")


@pytest.mark.parametrize("arch", RECURRENT)
def test_initial_state_option_round_trips_and_is_checked(arch):
    model = ARCHITECTURES[arch](12, 12, **TINY[arch], initial_state="zeros")
    config = model.get_config()
    assert config["initial_state"] == "zeros"
    assert ARCHITECTURES[arch].from_config(config).initial_state == "zeros"
    default = ARCHITECTURES[arch](12, 12, **TINY[arch])
    assert default.get_config()["initial_state"] == "encoder"
    with pytest.raises(ValueError, match="initial_state"):
        ARCHITECTURES[arch](12, 12, initial_state="learned")


def first_decoder_states(model, sources):
    state = model.encode(sources)["decoder"]["cell"]
    return [to_numpy(tensor) for tensor in keras.tree.flatten(state)]


@pytest.mark.parametrize("arch", RECURRENT)
def test_dates_default_decoder_starts_without_reading_the_source(arch):
    """The default dates models must look at the source to emit anything.

    A decoder started from the encoder's final state (which has just read
    the year in most date formats) can emit the year with its attention
    elsewhere; started from zeros, it cannot.
    """
    from zoo.translation.training import DEFAULT_MODEL_ARGUMENTS

    keras.utils.set_random_seed(2)
    source, target_input, _ = copy_task(count=2)
    source[1] = source[1, ::-1]
    assert not np.array_equal(source[0], source[1])
    model = ARCHITECTURES[arch](12, 12, **DEFAULT_MODEL_ARGUMENTS[arch])
    model((source, target_input))
    for state in first_decoder_states(model, source):
        np.testing.assert_array_equal(state[0], state[1])
    paper = ARCHITECTURES[arch](
        12, 12, **{**DEFAULT_MODEL_ARGUMENTS[arch], "initial_state": "encoder"}
    )
    paper((source, target_input))
    states = first_decoder_states(paper, source)
    assert any(not np.allclose(state[0], state[1]) for state in states)


@pytest.mark.parametrize("arch", RECURRENT)
def test_zero_initial_state_model_saves_and_loads(arch, tmp_path):
    keras.utils.set_random_seed(3)
    model = ARCHITECTURES[arch](12, 12, **TINY[arch], initial_state="zeros")
    source, target_input, _ = copy_task(count=4)
    expected = to_numpy(model((source, target_input)))
    path = tmp_path / f"{arch}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert loaded.initial_state == "zeros"
    np.testing.assert_allclose(
        to_numpy(loaded((source, target_input))), expected, atol=1e-6
    )
    np.testing.assert_array_equal(
        to_numpy(loaded.translate_ids(source, 1, 2, max_length=6)["sequences"]),
        to_numpy(model.translate_ids(source, 1, 2, max_length=6)["sequences"]),
    )


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_empty_or_blank_source_translates_to_nothing(arch):
    from zoo.text import WordPieceTokenizer
    from zoo.translation import BahdanauTranslator
    from zoo.translation import LuongTranslator
    from zoo.translation import TransformerTranslator

    vocabulary = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "b"]
    classes = {
        "bahdanau": BahdanauTranslator,
        "luong": LuongTranslator,
        "transformer": TransformerTranslator,
    }
    sizes = (
        {"model_dim": 8, "num_heads": 2, "feed_forward_dim": 8}
        if arch == "transformer"
        else {"embedding_dim": 4, "units": 8}
    )
    model = classes[arch](
        6,
        6,
        **sizes,
        max_decode_length=5,
        source_tokenizer=WordPieceTokenizer(vocabulary),
        target_tokenizer=WordPieceTokenizer(vocabulary),
    )
    ids = np.array([[4, 5], [4, 0]], "int32")
    model((ids, ids))
    # The output layer prefers "a" to [END] by far: any source, the empty
    # one included, would be translated "a a a a a" by the network.
    bias = np.zeros(6, "float32")
    bias[4] = 50.0
    model.output_projection.bias.assign(bias)
    texts = ["", "   ", "\t\n", "a b"]
    for beam_width in (1, 3):
        translations = model.translate(texts, beam_width=beam_width)
        assert translations[:3] == ["", "", ""]
        assert translations[3].startswith("a")
        results = model.translate_ids(
            np.array([[0, 0], [4, 5]], "int32"), 2, 3, beam_width=beam_width
        )
        assert to_numpy(results["lengths"]).tolist()[0] == 0
        assert not to_numpy(results["sequences"])[0].any()
        assert not to_numpy(results["attention"])[0].any()
