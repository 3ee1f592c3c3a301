"""SavedModel export: the served graph must translate like the Keras model.

The oracle is the in-memory model's eager `translate`/`translate_ids`; the
SavedModel is loaded in a fresh process that can import neither `zoo` nor
`keras_attention`.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from tests.conftest import cli_main
from tests.conftest import subprocess_env
from tests.conftest import to_numpy

BACKEND = keras.backend.backend()
requires_tensorflow = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="SavedModel export needs the TensorFlow backend "
    f"(running on {BACKEND})",
)
pytestmark = pytest.mark.filterwarnings("ignore:.*truncated:UserWarning")

SOURCE_LENGTH = 24
MAX_LENGTH = 14
TEXTS = [
    "9 may 2018",
    "saturday, 1 january 2000",
    "",
    # 40 tokens: truncated to SOURCE_LENGTH by the tokenizer.
    " ".join(["monday"] * 36) + " 7 june 1994",
    "¿1 JAN 2000?",
]
# (architecture, beam width) of the exports made through the Python API.
EXPORTS = {"luong": 1, "transformer": 4}
CLI_BEAM_WIDTH = 3

# Runs in a fresh interpreter in which importing the zoo fails, so the
# SavedModel can only be using TensorFlow and TensorFlow Text.
LOADER = textwrap.dedent(
    """
    import importlib.abc
    import json
    import sys

    class BlockZoo(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("zoo", "keras_attention"):
                raise ImportError(f"{name} must not be needed")
            return None

    sys.meta_path.insert(0, BlockZoo())

    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    request = json.loads(sys.argv[1])
    report, arrays = {}, {}
    texts = tf.constant(request["texts"])
    for name, directory in request["exports"].items():
        signatures = tf.saved_model.load(directory).signatures
        served = signatures["serving_default"](texts)
        named = signatures["translate"](texts)
        empty = signatures["serving_default"](tf.constant([], tf.string))
        report[name] = {
            "signatures": sorted(signatures),
            "translation": [
                text.decode("utf-8") for text in served["translation"].numpy()
            ],
            "named_equal": all(
                np.array_equal(served[key].numpy(), named[key].numpy())
                for key in served
            ),
            "empty_shapes": {k: list(v.shape) for k, v in empty.items()},
            "dtypes": {k: v.dtype.name for k, v in served.items()},
        }
        for key in ("token_ids", "lengths", "attention"):
            arrays[f"{name}/{key}"] = served[key].numpy()
    report["zoo_modules"] = sorted(
        name
        for name in sys.modules
        if name.split(".")[0] in ("zoo", "keras_attention")
    )
    np.savez(request["arrays"], **arrays)
    with open(request["report"], "w") as file:
        json.dump(report, file)
    """
)


def build_tokenizers(pairs):
    from zoo.text import WordPieceTokenizer

    source_tokenizer = WordPieceTokenizer.from_texts(
        [source for source, _ in pairs],
        vocabulary_size=200,
        sequence_length=SOURCE_LENGTH,
    )
    target_tokenizer = WordPieceTokenizer.from_texts(
        [target for _, target in pairs], vocabulary_size=100
    )
    return source_tokenizer, target_tokenizer


def train_tiny_model(arch, pairs, source_tokenizer, target_tokenizer):
    from zoo.text import make_translation_dataset
    from zoo.translation import LuongTranslator
    from zoo.translation import TransformerTranslator
    from zoo.translation.training import MaskedSparseCrossentropy

    keras.utils.set_random_seed(0)
    tokenizers = {
        "source_tokenizer": source_tokenizer,
        "target_tokenizer": target_tokenizer,
        "max_decode_length": MAX_LENGTH,
    }
    sizes = (source_tokenizer.vocabulary_size, target_tokenizer.vocabulary_size)
    if arch == "luong":
        model = LuongTranslator(
            *sizes,
            embedding_dim=16,
            units=32,
            num_layers=1,
            input_feeding=False,
            **tokenizers,
        )
    else:
        # Dropout > 0: the export must run in inference mode.
        model = TransformerTranslator(
            *sizes,
            model_dim=32,
            num_heads=2,
            feed_forward_dim=64,
            num_layers=1,
            max_length=SOURCE_LENGTH,
            dropout=0.1,
            **tokenizers,
        )
    dataset = make_translation_dataset(
        pairs,
        source_tokenizer,
        target_tokenizer,
        batch_size=64,
        max_source_length=SOURCE_LENGTH,
        max_target_length=MAX_LENGTH,
    )
    (source_ids, target_ids), _ = next(iter(dataset))
    model((source_ids[:1], target_ids[:1]))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=MaskedSparseCrossentropy(),
        jit_compile=False,
    )
    model.fit(dataset, epochs=2, verbose=0)
    return model


@pytest.fixture(scope="module")
def models():
    from zoo.data import load_dates

    pairs = load_dates(num_train=2000, num_valid=0, num_test=0)["train"]
    tokenizers = build_tokenizers(pairs)
    return {
        arch: train_tiny_model(arch, pairs, *tokenizers) for arch in EXPORTS
    }


@pytest.fixture(scope="module")
def served(models, tmp_path_factory):
    """Exports the models (API and CLI) and serves them in a subprocess."""
    from zoo import cli
    from zoo.translation.export import export_saved_model

    directory = tmp_path_factory.mktemp("export")
    exports = {}
    for arch, beam_width in EXPORTS.items():
        exports[arch] = export_saved_model(
            models[arch], directory / arch, beam_width=beam_width
        )
    models["luong"].save(directory / "luong.keras")
    # In this process (the console script is run by the main-job tests):
    # a module fixture cannot take `capsys`, so the output is redirected.
    output, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(errors):
        status = cli.main(
            [
                "export",
                str(directory / "luong.keras"),
                str(directory / "cli"),
                "--beam-width",
                str(CLI_BEAM_WIDTH),
            ]
        )
    if status == 0:
        exports["cli"] = str(directory / "cli")
    request = {
        "texts": TEXTS,
        "exports": exports,
        "arrays": str(directory / "arrays.npz"),
        "report": str(directory / "report.json"),
    }
    loader = subprocess.run(
        [sys.executable, "-c", LOADER, json.dumps(request)],
        cwd=directory,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert loader.returncode == 0, loader.stderr[-3000:]
    report = json.loads((directory / "report.json").read_text())
    with np.load(directory / "arrays.npz") as arrays:
        report["arrays"] = dict(arrays)
    report["cli"] = {
        **report.get("cli", {}),
        "status": status,
        "stdout": output.getvalue(),
        "stderr": errors.getvalue(),
    }
    report["cli_directory"] = directory / "cli"
    return report


def reference_outputs(model, beam_width):
    """Eager in-memory decoding: the oracle of the served graph."""
    tokenizer = model.target_tokenizer
    source_ids = to_numpy(
        model.source_tokenizer(TEXTS, add_start=False, add_end=False)
    )
    results = model.translate_ids(
        source_ids,
        tokenizer.start_id,
        tokenizer.end_id,
        beam_width=beam_width,
    )
    return {name: to_numpy(value) for name, value in results.items()}


@requires_tensorflow
@pytest.mark.parametrize("arch", sorted(EXPORTS))
def test_served_translation_equals_the_keras_model(models, served, arch):
    model, beam_width = models[arch], EXPORTS[arch]
    expected = model.translate(TEXTS, beam_width=beam_width)
    assert served[arch]["translation"] == expected
    # The empty source is served an empty translation, not an invented one.
    assert served[arch]["translation"][TEXTS.index("")] == ""
    assert served["arrays"][f"{arch}/lengths"][TEXTS.index("")] == 0
    reference = reference_outputs(model, beam_width)
    arrays = served["arrays"]
    np.testing.assert_array_equal(
        arrays[f"{arch}/token_ids"], reference["sequences"]
    )
    np.testing.assert_array_equal(
        arrays[f"{arch}/lengths"], reference["lengths"]
    )
    np.testing.assert_allclose(
        arrays[f"{arch}/attention"], reference["attention"], atol=1e-5
    )


@requires_tensorflow
@pytest.mark.parametrize("arch", sorted(EXPORTS))
def test_attention_layout(served, arch):
    attention = served["arrays"][f"{arch}/attention"]
    lengths = served["arrays"][f"{arch}/lengths"]
    if arch == "transformer":
        # [batch, heads, out_len, src_len]: 2 heads.
        assert attention.shape == (len(TEXTS), 2, MAX_LENGTH, SOURCE_LENGTH)
        per_step = attention.sum(axis=-1).mean(axis=1)
    else:
        assert attention.shape == (len(TEXTS), MAX_LENGTH, SOURCE_LENGTH)
        per_step = attention.sum(axis=-1)
    # Each emitted token's weights form a distribution over the source
    # (the empty source has nothing to attend to); later steps are zero.
    emitted = np.arange(MAX_LENGTH)[None, :] < lengths[:, None]
    non_empty = np.array([bool(text) for text in TEXTS])[:, None]
    np.testing.assert_allclose(per_step[emitted & non_empty], 1.0, atol=1e-5)
    np.testing.assert_array_equal(per_step[~emitted], 0.0)


@requires_tensorflow
@pytest.mark.parametrize("arch", sorted(EXPORTS))
def test_signatures_dtypes_and_empty_batch(served, arch):
    report = served[arch]
    assert report["signatures"] == ["serving_default", "translate"]
    assert report["named_equal"]
    assert report["dtypes"] == {
        "translation": "string",
        "token_ids": "int32",
        "lengths": "int32",
        "attention": "float32",
    }
    attention_shape = list(served["arrays"][f"{arch}/attention"].shape[1:])
    assert report["empty_shapes"] == {
        "translation": [0],
        "token_ids": [0, MAX_LENGTH],
        "lengths": [0],
        "attention": [0, *attention_shape],
    }


@requires_tensorflow
def test_serving_process_imports_neither_zoo_nor_keras_attention(served):
    assert served["zoo_modules"] == []


@requires_tensorflow
def test_over_long_input_is_truncated_like_the_tokenizer(models, served):
    model = models["luong"]
    tokenizer = model.target_tokenizer
    ids = to_numpy(model.source_tokenizer.tokenize([TEXTS[3]]))[0]
    assert len(ids) > SOURCE_LENGTH
    results = model.translate_ids(
        ids[None, :SOURCE_LENGTH], tokenizer.start_id, tokenizer.end_id
    )
    expected = tokenizer.detokenize(to_numpy(results["sequences"]))
    assert served["luong"]["translation"][3] == expected.numpy()[0].decode()


def python_callbacks_in(function, *arguments):
    """Counts the `tf.py_function` ops of a traced function (branches too)."""
    graph_def = function.get_concrete_function(*arguments).graph.as_graph_def()
    nodes = list(graph_def.node)
    for library_function in graph_def.library.function:
        nodes.extend(library_function.node_def)
    return sum(node.op == "EagerPyFunc" for node in nodes)


@requires_tensorflow
def test_tokenizer_truncates_without_a_python_callback_on_request():
    import tensorflow as tf

    from zoo.text import WordPieceTokenizer

    vocabulary = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "b"]
    tokenizer = WordPieceTokenizer(vocabulary, sequence_length=3)
    spec = tf.TensorSpec([None], tf.string)
    warning = tf.function(lambda texts: tokenizer(texts))
    silent = tf.function(
        lambda texts: tokenizer(texts, warn_on_truncation=False)
    )
    assert python_callbacks_in(warning, spec) == 1
    assert python_callbacks_in(silent, spec) == 0
    ids = silent(tf.constant(["a b a b a", "b"]))
    np.testing.assert_array_equal(ids, [[4, 5, 4], [5, 0, 0]])


@requires_tensorflow
def test_cli_export_writes_a_working_saved_model(models, served):
    cli = served["cli"]
    assert cli["status"] == 0, cli["stderr"][-3000:]
    assert (served["cli_directory"] / "saved_model.pb").is_file()
    assert f"SavedModel written to {served['cli_directory']}" in cli["stdout"]
    assert "tf.saved_model.load(" in cli["stdout"]
    expected = models["luong"].translate(TEXTS, beam_width=CLI_BEAM_WIDTH)
    assert served["cli"]["translation"] == expected


@requires_tensorflow
def test_cli_export_of_a_missing_model_gives_one_line(tmp_path, capsys):
    status, _, error = cli_main(
        capsys, "export", tmp_path / "missing.keras", tmp_path / "out"
    )
    assert status == 2 and "missing.keras" in error
    assert not (tmp_path / "out").exists()


@requires_tensorflow
def test_model_without_tokenizers_is_refused(tmp_path):
    from zoo.translation import LuongTranslator
    from zoo.translation.export import export_saved_model

    model = LuongTranslator(12, 12, embedding_dim=4, units=4)
    with pytest.raises(ValueError, match="must carry its tokenizers"):
        export_saved_model(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@requires_tensorflow
@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"beam_width": 0}, "`beam_width` must be an integer >= 1"),
        ({"max_length": 2.5}, "`max_length` must be an integer >= 1"),
        ({"source_length": None}, "`source_length` must be given"),
        ({"source_length": 4}, "`model` must be built"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, arguments, message):
    from zoo.text import WordPieceTokenizer
    from zoo.translation import LuongTranslator
    from zoo.translation.export import export_saved_model

    vocabulary = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "b"]
    model = LuongTranslator(
        6,
        6,
        embedding_dim=4,
        units=4,
        source_tokenizer=WordPieceTokenizer(vocabulary),
        target_tokenizer=WordPieceTokenizer(vocabulary),
    )
    with pytest.raises(ValueError, match=message):
        export_saved_model(model, tmp_path / "out", **arguments)


def test_other_backends_are_refused_with_their_name():
    code = textwrap.dedent(
        """
        from zoo.translation.export import export_saved_model
        try:
            export_saved_model(None, "unused")
        except ValueError as error:
            print(error)
        """
    )
    if BACKEND == "tensorflow":
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env=subprocess_env("jax"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        message, backend = result.stdout, "jax"
    else:
        from zoo.translation.export import export_saved_model

        with pytest.raises(ValueError) as error:
            export_saved_model(None, "unused")
        message, backend = str(error.value), BACKEND
    assert "needs the TensorFlow backend" in message
    assert f"backend={backend}" in message


@requires_tensorflow
@pytest.mark.parametrize(
    "kind, message",
    [
        ("file", "which is a file"),
        ("other folder", "holds files that are not a SavedModel"),
    ],
)
def test_export_refuses_paths_it_would_damage(models, tmp_path, kind, message):
    from zoo.translation.export import export_saved_model

    path = tmp_path / "out"
    if kind == "file":
        path.write_text("notes")
    else:
        path.mkdir()
        (path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=message) as info:
        export_saved_model(models["luong"], path)
    assert "Received: path=" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@requires_tensorflow
@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root may write to read-only folders",
)
def test_export_into_a_read_only_folder_is_refused(models, tmp_path):
    from zoo.translation.export import export_saved_model

    tmp_path.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="not writable"):
            export_saved_model(models["luong"], tmp_path / "out")
    finally:
        tmp_path.chmod(0o700)


def test_replacing_a_saved_model_swaps_whole_folders(tmp_path):
    from zoo.saved_model import replace_directory

    old = tmp_path / "model"
    old.mkdir()
    (old / "saved_model.pb").write_text("old")
    (old / "stale.txt").write_text("only in the old export")
    new = tmp_path / ".model.staging"
    new.mkdir()
    (new / "saved_model.pb").write_text("new")
    replace_directory(new, old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(p.name for p in old.iterdir()) == ["saved_model.pb"]
    assert (old / "saved_model.pb").read_text() == "new"
