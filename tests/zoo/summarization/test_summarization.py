"""The pointer-generator summarizer: training, decoding, saving, CLI, export.

One tiny model is trained once (module fixture) through the command line
on generated reports; the tests summarize, evaluate, save, load and
export it. Training checks of each configuration use a few steps each.
"""

import json

import keras
import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")
pytest.importorskip("rouge_score")

from tests.conftest import cli_main  # noqa: E402
from tests.conftest import run_cli  # noqa: E402
from tests.conftest import run_on_backend  # noqa: E402
from tests.zoo.summarization.tiny_summarizer import tiny_setup  # noqa: E402
from zoo import cli  # noqa: E402
from zoo.data.reports import generate_reports  # noqa: E402
from zoo.summarization import inference  # noqa: E402

TINY = [
    "--num-reports",
    "64",
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--units",
    "16",
    "--embedding-dim",
    "16",
    "--num-summary-samples",
    "2",
    "--beam-width",
    "2",
    "--max-eval-documents",
    "16",
    "--verbose",
    "0",
]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """The CLI main job with a tiny budget: output, logdir, model path."""
    logdir = tmp_path_factory.mktemp("summarization") / "run"
    result = run_cli("train", "summarization", "--logdir", logdir, *TINY)
    return result.stdout + result.stderr, logdir, logdir / "model.keras"


@pytest.fixture(scope="module")
def trained_model(trained_run):
    import zoo.summarization  # noqa: F401

    return keras.saving.load_model(trained_run[2], compile=False)


def test_main_job_prints_rouge_copy_rate_samples_and_tensorboard(trained_run):
    output, logdir, model_path = trained_run
    assert "lead-30: ROUGE-1/2/L" in output
    assert "lead-3 sentences (at most 24 words, the summaries' limit)" in (
        output
    )
    assert "greedy: ROUGE-1/2/L" in output and "beam2: ROUGE-1/2/L" in output
    assert "unseen names copied" in output
    assert "sample summaries (greedy):" in output
    assert f"tensorboard --logdir {logdir}" in output
    assert model_path.is_file()
    evaluation = json.loads((logdir / "evaluation.json").read_text())
    greedy = evaluation["greedy"]
    for name in ("rouge1", "rouge2", "rougeL", "repetition", "name_copy_rate"):
        assert name in greedy
    assert greedy["num_documents"] == 16
    assert set(evaluation["lead"]) >= {"rouge1", "rouge2", "rougeL"}
    assert set(evaluation["lead3"]) >= {"rouge1", "rouge2", "rougeL"}


def test_tensorboard_holds_heatmaps_p_gen_coverage_and_rouge(trained_run):
    from tensorboard.backend.event_processing import event_accumulator

    _, logdir, _ = trained_run
    events = event_accumulator.EventAccumulator(
        str(logdir / "attention"), size_guidance={"tensors": 0}
    )
    events.Reload()
    tags = set(events.Tags()["tensors"])
    for tag in (
        "attention/sample_0",
        "attention/sample_1",
        "attention/text",
        "attention/p_gen",
        "attention/rouge_1",
        "attention/rouge_2",
        "attention/rouge_l",
        "attention/repetition",
        "attention/copy_rate",
    ):
        assert tag in tags, sorted(tags)
    train_events = event_accumulator.EventAccumulator(
        str(logdir / "train"), size_guidance={"tensors": 0}
    )
    train_events.Reload()
    train_tags = train_events.Tags()["tensors"]
    assert "epoch_nll" in train_tags and "epoch_coverage_loss" in train_tags


@pytest.mark.parametrize(
    "arch, coverage",
    [
        ("seq2seq", False),
        ("pointer-generator", False),
        ("pointer-generator", True),
    ],
)
def test_few_steps_lower_the_loss(arch, coverage):
    keras.utils.set_random_seed(0)
    _, _, model, dataset = tiny_setup(arch, coverage)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    inputs, targets = next(iter(dataset))
    model(inputs)
    first = model.evaluate(inputs, targets, verbose=0, return_dict=True)
    model.fit(dataset, epochs=3, verbose=0)
    last = model.evaluate(inputs, targets, verbose=0, return_dict=True)
    assert last["loss"] < first["loss"] - 0.3, (first, last)
    if coverage:
        assert "coverage_loss" in last


def test_beam_width_one_equals_greedy():
    keras.utils.set_random_seed(1)
    reports, vocabulary, model, _ = tiny_setup("pointer-generator", True)
    texts = [report.text for report in reports["test"][:4]]
    encoded = inference.encode_documents(vocabulary, texts, 64)
    greedy = model.summary_ids(
        encoded.source_ids, encoded.extended_ids, beam_width=1
    )
    beam = keras_attention_beam(model, encoded)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(greedy["sequences"]),
        keras.ops.convert_to_numpy(beam["sequences"]),
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(greedy["p_gen"]),
        keras.ops.convert_to_numpy(beam["p_gen"]),
        atol=1e-5,
    )


def keras_attention_beam(model, encoded):
    """`summary_ids` with beam search of width 1 (not the greedy path)."""
    import keras_attention
    from zoo.length_limit import decode_within_limit

    state = model.decoding_state(encoded.source_ids, encoded.extended_ids)

    def decode(steps):
        results = keras_attention.decoding.beam_search(
            model.decode_step,
            state,
            keras.ops.full((len(encoded),), 1, "int32"),
            2,
            steps,
            beam_width=1,
            pad_id=0,
        )
        return {name: tensor[:, 0] for name, tensor in results.items()}

    results = decode_within_limit(decode, model.max_summary_length, 2, 0)
    trace = results["attention"]
    return {"sequences": results["sequences"], "p_gen": trace[..., -1]}


def test_model_forced_to_copy_returns_an_unknown_word_verbatim():
    keras.utils.set_random_seed(2)
    _, _, model, _ = tiny_setup("pointer-generator", False)
    document = "zorblax zorblax zorblax zorblax"
    inference.summarize_texts(model, [document], max_length=3)
    # p_gen = sigmoid(-50): the mixture is the copy distribution, and the
    # only source word is out of the vocabulary.
    model.pointer_generator.bias.assign(np.array([-50.0], "float32"))
    (summary,) = inference.summarize_texts(model, [document], max_length=3)
    assert summary["tokens"][0] == "zorblax"
    assert summary["copied"][0]
    assert summary["p_gen"][0] < 1e-6
    # The attention of a step is over the four source positions.
    np.testing.assert_allclose(summary["attention"].sum(-1), 1.0, atol=1e-5)


def test_save_load_summarize_raw_text_gives_the_same_summary(
    trained_model, tmp_path
):
    texts = [
        "the mayor of quendle , tarla vostrin , opened a library on monday .",
        generate_reports(1, 1, 2, seed=5)["test"][0].text,
    ]
    before = inference.summarize_texts(trained_model, texts, beam_width=2)
    path = tmp_path / "copy.keras"
    trained_model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    after = inference.summarize_texts(loaded, texts, beam_width=2)
    assert [s["summary"] for s in after] == [s["summary"] for s in before]
    np.testing.assert_allclose(
        after[1]["attention"], before[1]["attention"], atol=1e-5
    )


def test_summarize_cli_reads_files_and_writes_heatmaps(
    trained_run, tmp_path, capsys
):
    _, _, model_path = trained_run
    document = tmp_path / "report.txt"
    document.write_text(generate_reports(1, 1, 1)["test"][0].text)
    status, output, _ = cli_main(
        capsys,
        "summarize",
        model_path,
        document,
        "the council of brenvale met on tuesday .",
        "--beam-width",
        2,
        "--attention-dir",
        tmp_path / "attention",
    )
    assert status == 0
    lines = output.strip().splitlines()
    assert lines[-1].startswith("attention heatmaps written to")
    assert len(lines) == 3
    assert (tmp_path / "attention" / "summary_1.png").is_file()
    assert (tmp_path / "attention" / "summary_2.png").is_file()


def test_summarize_cli_counts_documents_longer_than_the_limit(
    trained_run, capsys
):
    _, _, model_path = trained_run
    long_document = " ".join(["the council met ."] * 60)
    assert cli.main(["summarize", str(model_path), long_document]) == 0
    assert "1 of 1 documents were longer than the model's 96 tokens" in (
        capsys.readouterr().err
    )


def test_evaluate_cli_prints_lead_and_scores(trained_run, capsys):
    _, _, model_path = trained_run
    status, output, _ = cli_main(
        capsys, "evaluate", model_path, "--max-examples", 8, "--beam-width", 2
    )
    assert status == 0
    assert "lead-30: ROUGE-1/2/L" in output
    assert "lead-3 sentences" in output
    assert "beam 1: ROUGE-1/2/L" in output and "beam 2: ROUGE-1/2/L" in output
    assert "(8 documents)" in output


def test_train_cli_names_a_missing_column(tmp_path, capsys):
    data = tmp_path / "news.jsonl"
    data.write_text(
        "\n".join(
            json.dumps({"article": f"text {i} .", "summary": f"s {i}"})
            for i in range(30)
        )
    )
    status, _, error = cli_main(
        capsys,
        "train",
        "summarization",
        "--data",
        data,
        "--logdir",
        tmp_path / "run",
    )
    assert status == 2
    assert "'text'" in error and "article" in error


def test_export_summarizes_strings_like_the_model(trained_model, tmp_path):
    import tensorflow as tf

    from zoo.summarization.export import export_summarizer

    texts = [report.text for report in generate_reports(1, 1, 3)["test"]]
    path = export_summarizer(trained_model, tmp_path / "saved", beam_width=2)
    signature = tf.saved_model.load(path).signatures["serving_default"]
    exported = signature(tf.constant(texts))
    expected = inference.summarize_texts(trained_model, texts, beam_width=2)
    assert [s.decode() for s in exported["summary"].numpy()] == [
        s["summary"] for s in expected
    ]
    empty = signature(tf.constant([], tf.string))
    assert empty["summary"].shape == (0,)


def test_copy_rate_counts_whole_names_only():
    rate = inference.name_copy_rate(
        ["tarla vostrin opened it", "the vostrin family"],
        [["tarla vostrin"], ["tarla vostrin", "quendle"]],
    )
    assert rate == pytest.approx(1 / 3)
    assert inference.name_copy_rate(["x"], [[]]) is None


JAX_TRAINING = """
import json
import keras
from tests.zoo.summarization.tiny_summarizer import tiny_setup
from zoo.summarization.inference import summarize_texts
reports, _, model, dataset = tiny_setup("pointer-generator", True, 48)
model.compile(optimizer=keras.optimizers.Adam(1e-2))
history = model.fit(dataset.take(2), epochs=2, verbose=0)
(summary,) = summarize_texts(model, [reports["test"][0].text], beam_width=2)
print(json.dumps({
    "backend": keras.backend.backend(),
    "losses": history.history["loss"],
    "tokens": len(summary["tokens"]),
    "source_length": int(summary["attention"].shape[1]),
}))
"""


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="starts its own backend"
)
def test_training_and_beam_search_run_on_jax():
    result = run_on_backend(JAX_TRAINING, "jax")
    assert result["backend"] == "jax"
    assert result["losses"][1] < result["losses"][0]
    assert result["tokens"] >= 1 and result["source_length"] > 5


def test_copied_means_copying_outweighs_generating_the_word():
    # Hand-worked eq. 9 terms; vocabulary of 5 ids, 6 is an unknown word.
    # Step 2's word is in the source with p_gen 0.3 < 0.5, but generating
    # it (0.3 * 0.9) outweighs copying it (0.7 * 0.2): not copied.
    sequences = np.array([[4, 6, 3, 4, 0]])
    extended_ids = np.array([[4, 6, 0]])
    p_gen = np.array([[0.4, 0.9, 0.5, 0.3, 0.5]])
    # P_vocab of each step's word (id 6 has none: uniform), the rest of
    # each distribution spread over the other ids.
    chosen = np.array([0.5, 0.2, 0.8, 0.9, 0.5])
    probabilities = np.repeat(((1 - chosen) / 4)[None, :, None], 5, axis=-1)
    for step, word in enumerate(sequences[0]):
        probabilities[0, step, min(word, 4)] = chosen[step]
    attention = np.array(
        [
            [
                [0.5, 0.3, 0.2],  # copy 0.6 * 0.5 = 0.3 > gen 0.4 * 0.5
                [0.2, 0.3, 0.5],  # unknown: copy 0.1 * 0.3 > gen 0
                [0.4, 0.4, 0.2],  # id 3 is not in the source: copy 0
                [0.2, 0.3, 0.5],  # copy 0.7 * 0.2 < gen 0.3 * 0.9
                [0.3, 0.3, 0.4],  # padding after the end
            ]
        ]
    )
    outputs = {
        "logits": np.log(probabilities),
        "attention": attention,
        "p_gen": p_gen,
    }
    wins = inference._copy_beats_generation(outputs, extended_ids, sequences, 5)
    np.testing.assert_array_equal(wins, [[True, True, False, False, False]])


def test_a_source_word_generated_rather_than_copied_is_not_marked():
    keras.utils.set_random_seed(2)
    _, vocabulary, model, _ = tiny_setup("pointer-generator", False)
    # "the" once among nine source words: the untrained attention puts
    # about 1/9 on it, so copying it weighs (1 - p_gen) / 9 or so, while
    # an output bias makes P_vocab("the") about 1 and generating it weigh
    # p_gen. With p_gen near 0.3, every "the" is generated, not copied
    # (a mark by p_gen < 0.5 alone would flag them all).
    document = "the council met on monday and a mayor spoke"
    inference.summarize_texts(model, [document], max_length=4)
    bias = model.get_layer("output_logits").bias
    shifted = np.array(bias.numpy())
    shifted[vocabulary.words.index("the")] += 50.0
    bias.assign(shifted)
    model.pointer_generator.bias.assign(np.array([-0.85], "float32"))
    (summary,) = inference.summarize_texts(model, [document], max_length=4)
    assert summary["tokens"] == ["the"] * 4
    assert (summary["p_gen"] < 0.5).all()
    copy = (1 - summary["p_gen"]) * summary["attention"][:, 0]
    assert (copy < summary["p_gen"] * 0.99).all()
    assert summary["copied"] == [False] * 4


def test_lead_sentences_are_the_first_three_cut_to_the_limit():
    text = "the mayor spoke . voters cheered! Was it fair? yes . no ."
    assert inference.lead_sentences(text) == (
        "the mayor spoke . voters cheered! Was it fair?"
    )
    assert inference.lead_sentences(text, max_words=5) == (
        "the mayor spoke . voters"
    )
    assert inference.lead_sentences("no end mark at all") == (
        "no end mark at all"
    )


def test_heatmaps_of_long_documents_show_the_most_attended_tokens(tmp_path):
    import PIL.Image

    from keras_attention.visualization import attention_to_image
    from zoo.summarization import commands

    rng = np.random.default_rng(0)
    attention = rng.dirichlet(np.ones(100), size=3).astype("float32")
    summary = {
        "tokens": ["a", "b", "<end>"],
        "source_tokens": [f"w{index}" for index in range(100)],
        "attention": attention,
        "p_gen": np.array([0.2, 0.9, 0.5], "float32"),
        "coverage": attention.sum(axis=0),
        "copied": [True, False, False],
    }
    commands.write_attention_images(tmp_path, [summary])
    written = np.asarray(PIL.Image.open(tmp_path / "summary_1.png"))[..., :3]
    expected = attention_to_image(
        attention,
        summary["source_tokens"],
        summary["tokens"],
        title="summary 1",
        output_values={"p_gen": summary["p_gen"]},
        source_values={"coverage": summary["coverage"]},
        marked_outputs=summary["copied"],
        max_source_tokens=commands.HEATMAP_SOURCE_TOKENS,
    )
    assert commands.HEATMAP_SOURCE_TOKENS < 100
    np.testing.assert_array_equal(written, expected)
