"""The Show-Attend-Tell captioner: training, decoding, saving, CLI, export.

One tiny model is trained once (module fixture) through the command line
on generated scenes; the tests caption, evaluate, save, load and export
it. Training checks of soft and hard attention use a few steps each.
"""

import json
import pathlib

import keras
import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("pycocoevalcap")

from tests.conftest import REPO_ROOT  # noqa: E402
from tests.conftest import run_cli  # noqa: E402
from tests.conftest import run_on_backend  # noqa: E402
from zoo import cli  # noqa: E402
from zoo.attention_images import image_name  # noqa: E402
from zoo.captioning.data import load_scene_splits  # noqa: E402
from zoo.captioning.data import make_dataset  # noqa: E402
from zoo.captioning.inference import caption_arrays  # noqa: E402
from zoo.captioning.inference import caption_texts  # noqa: E402
from zoo.captioning.model import ShowAttendTell  # noqa: E402
from zoo.captioning.vocabulary import CaptionEncoder  # noqa: E402
from zoo.captioning.vocabulary import build_vocabulary  # noqa: E402

TINY = [
    "--num-scenes",
    "96",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--units",
    "32",
    "--embedding-dim",
    "16",
    "--num-summary-samples",
    "2",
    "--beam-width",
    "2",
    "--max-eval-images",
    "48",
    "--verbose",
    "0",
]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """The CLI main job with a tiny budget: output, logdir, model path."""
    logdir = tmp_path_factory.mktemp("captioning") / "run"
    output = _run_cli(["train", "captioning", "--logdir", str(logdir), *TINY])
    return output, logdir, logdir / "model.keras"


def _run_cli(arguments, expect=0):
    result = run_cli(*arguments, expect=expect)
    return result.stdout + result.stderr


def test_main_job_prints_scores_samples_and_tensorboard(trained_run):
    output, logdir, model_path = trained_run
    assert "greedy: BLEU-1/2/3/4" in output and "beam2: BLEU-1/2/3/4" in output
    assert "caption accuracy" in output
    assert "attention correctness" in output
    assert "sample captions (greedy):" in output
    assert f"tensorboard --logdir {logdir}" in output
    assert model_path.is_file()
    evaluation = json.loads((logdir / "evaluation.json").read_text())
    greedy = evaluation["greedy"]
    for name in ("bleu1", "bleu4", "cider", "length_limit_share"):
        assert name in greedy
    assert greedy["num_images"] == 48


def test_tensorboard_holds_overlays_text_and_scalars(trained_run):
    from tensorboard.backend.event_processing import event_accumulator

    _, logdir, _ = trained_run
    events = event_accumulator.EventAccumulator(
        str(logdir / "attention"), size_guidance={"tensors": 0, "images": 0}
    )
    events.Reload()
    tags = set(events.Tags()["tensors"])
    for tag in (
        "attention/sample_0",
        "attention/text",
        "attention/entropy",
        "attention/bleu4",
        "attention/cider",
    ):
        assert tag in tags, sorted(tags)
    train_events = event_accumulator.EventAccumulator(
        str(logdir / "train"), size_guidance={"tensors": 0}
    )
    train_events.Reload()
    assert "epoch_doubly_stochastic" in train_events.Tags()["tensors"]


def _tiny_data(attention, num_scenes=64, seed=0):
    splits = load_scene_splits(num_scenes, 64, seed)
    vocabulary = build_vocabulary(
        c for refs in splits["train"].references for c in refs
    )
    encoder = CaptionEncoder(vocabulary, 14)
    dataset = make_dataset(
        splits["train"], encoder, 32, 64, shuffle=True, seed=seed
    )
    model = ShowAttendTell(
        vocabulary,
        units=32,
        embedding_dim=16,
        attention=attention,
        doubly_stochastic_weight=1.0,
    )
    return splits, model, dataset


@pytest.mark.parametrize("attention", ["soft", "hard"])
def test_few_steps_lower_the_loss(attention):
    keras.utils.set_random_seed(0)
    splits, model, dataset = _tiny_data(attention)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    batches = list(dataset.take(2))
    model(batches[0][0])
    first = model.evaluate(batches[0][0], batches[0][1], verbose=0)
    for _ in range(3):
        model.fit(dataset, epochs=1, verbose=0)
    last = model.evaluate(batches[0][0], batches[0][1], verbose=0)
    assert last < first
    outputs = model(batches[0][0], training=True)
    log_prob = keras.ops.convert_to_numpy(outputs["log_prob"])
    # Hard attention samples some locations (log-probabilities below 0);
    # soft attention samples none.
    assert (log_prob < 0).any() == (attention == "hard")


def test_beam_width_one_equals_greedy(trained_run):
    _, _, model_path = trained_run
    model = keras.saving.load_model(model_path, compile=False)
    images = load_scene_splits(0, 64, 0)["test"].pixels[:8]
    greedy = model.caption_ids(images.astype("float32"))
    beam = model.caption_ids(images.astype("float32"), beam_width=1)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(greedy["sequences"]),
        keras.ops.convert_to_numpy(beam["sequences"]),
    )
    beam2 = model.caption_ids(images.astype("float32"), beam_width=2)
    assert keras.ops.convert_to_numpy(beam2["attention"]).shape[-1] == 64


def test_save_load_caption_an_image_file(trained_run, tmp_path, capsys):
    import PIL.Image

    _, _, model_path = trained_run
    model = keras.saving.load_model(model_path, compile=False)
    image = load_scene_splits(0, 64, 0)["test"].pixels[0]
    path = tmp_path / "scene.png"
    PIL.Image.fromarray(image).save(path)
    expected = caption_texts(
        model, caption_arrays(model, image[None].astype("float32"))["sequences"]
    )[0]
    maps = tmp_path / "maps"
    arguments = ["caption", str(model_path), str(path), "--beam-width", "1"]
    assert cli.main([*arguments, "--attention-dir", str(maps)]) == 0
    printed = capsys.readouterr().out
    assert f"{path}: {expected}" in printed
    overlay = tmp_path / "maps" / image_name(path)
    assert overlay.is_file() and overlay.stat().st_size > 1000


def test_evaluate_command_on_scenes(trained_run, capsys):
    _, _, model_path = trained_run
    arguments = ["evaluate", str(model_path), "--beam-width", "2"]
    assert cli.main([*arguments, "--max-examples", "40"]) == 0
    printed = capsys.readouterr().out
    assert "beam 1: BLEU-1/2/3/4" in printed and "beam 2:" in printed
    assert "(40 images)" in printed and "attention correctness" in printed


def test_bad_inputs_are_one_line(trained_run, tmp_path, capsys):
    _, _, model_path = trained_run
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image")
    assert cli.main(["caption", str(model_path), str(garbage)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "garbage.jpg" in error
    assert cli.main(["caption", str(model_path), str(tmp_path / "x.png")]) == 2
    assert "x.png" in capsys.readouterr().err


def test_features_of_the_wrong_rank_are_refused():
    model = ShowAttendTell(
        build_vocabulary(["a b"]), encoder="features", feature_shape=(2, 2, 4)
    )
    with pytest.raises(ValueError, match=r"feature maps .*Received"):
        model((np.zeros((1, 4, 4), "float32"), np.ones((1, 3), "int32")))
    with pytest.raises(ValueError, match=r"\(2, 2, 4\)"):
        model((np.zeros((1, 3, 3, 4), "float32"), np.ones((1, 3), "int32")))


def test_export_captions_encoded_images(trained_run, tmp_path):
    import tensorflow as tf

    _, _, model_path = trained_run
    exported = tmp_path / "saved"
    assert cli.main(["export", str(model_path), str(exported)]) == 0
    model = keras.saving.load_model(model_path, compile=False)
    images = load_scene_splits(0, 64, 0)["test"].pixels[:3]
    encoded = tf.stack([tf.io.encode_png(image) for image in images])
    serving = tf.saved_model.load(str(exported)).signatures["serving_default"]
    outputs = serving(encoded)
    # A default export decodes as a default `caption`: beam 3, alpha 0.7.
    decoded = caption_arrays(
        model, images.astype("float32"), beam_width=3, length_penalty=0.7
    )
    expected = caption_texts(model, decoded["sequences"])
    assert [t.decode() for t in outputs["caption"].numpy()] == expected
    assert outputs["attention"].shape[-1] == 64


JAX_TRAINING = """
import json
import keras
from tests.zoo.captioning.test_captioning import _tiny_data
splits, model, dataset = _tiny_data("soft", num_scenes=32)
model.compile(optimizer="adam")
history = model.fit(dataset.take(2), epochs=2, verbose=0)
print(json.dumps({
    "backend": keras.backend.backend(), "losses": history.history["loss"]
}))
"""


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="starts its own backend"
)
def test_training_steps_run_on_jax():
    result = run_on_backend(JAX_TRAINING, "jax")
    assert result["backend"] == "jax"
    assert result["losses"][1] < result["losses"][0]


def _write_flickr_layout(root):
    """A 6-image Flickr8k folder (captions, split lists) and features."""
    import PIL.Image

    folder = root / "flickr"
    (folder / "Images").mkdir(parents=True)
    names = [f"{index}.jpg" for index in range(6)]
    lines = []
    for index, name in enumerate(names):
        colour = ["red", "blue"][index % 2]
        for number in range(2):
            lines.append(f"{name}#{number}\ta {colour} thing number {number}")
        pixels = np.full((16, 16, 3), 40 * index, np.uint8)
        PIL.Image.fromarray(pixels).save(folder / "Images" / name)
    (folder / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    (folder / "Flickr_8k.trainImages.txt").write_text("\n".join(names[:4]))
    (folder / "Flickr_8k.devImages.txt").write_text(names[4])
    (folder / "Flickr_8k.testImages.txt").write_text(names[5])
    rng = np.random.default_rng(0)
    np.savez(
        root / "features.npz",
        features=rng.normal(size=(6, 2, 2, 8)).astype("float16"),
        image=np.array(names),
    )


@pytest.mark.usefixtures("eager_functions")
def test_flickr_features_few_steps(tmp_path):
    from zoo.trainer import train

    _write_flickr_layout(tmp_path)
    results = train(
        "captioning",
        data=str(tmp_path / "flickr"),
        features=str(tmp_path / "features.npz"),
        logdir=str(tmp_path / "run"),
        epochs=1,
        batch_size=4,
        units=16,
        embedding_dim=8,
        min_word_count=1,
        beam_width=2,
        eval_splits="valid+test",
        verbose=0,
        num_summary_samples=1,
    )
    assert results["greedy"]["num_images"] == 2
    assert results["eval_splits"] == "valid+test"


def test_a_caption_file_naming_no_present_image(tmp_path, capsys):
    folder = tmp_path / "flickr"
    (folder / "Images").mkdir(parents=True)
    (folder / "Flickr8k.token.txt").write_text("absent.jpg#0\ta dog\n")
    code = cli.main(
        [
            "train",
            "captioning",
            "--data",
            str(folder),
            "--logdir",
            str(tmp_path / "run"),
            "--verbose",
            "0",
        ]
    )
    assert code == 2
    errors = [
        line
        for line in capsys.readouterr().err.splitlines()
        if "error:" in line
    ]
    assert len(errors) == 1 and "expected captioned images" in errors[0]


def test_shared_flickr8k_features_load(shared_data, tmp_path):
    from zoo.captioning.data import load_feature_splits

    folder = shared_data / "flickr8k"
    splits = load_feature_splits(
        str(folder), None, str(folder / "features_mobilenet_v2_7x7x1280.npz"), 0
    )
    assert len(splits["train"]) == 753
    assert len(splits["valid"]) + len(splits["test"]) == 238
    assert splits["train"].features.shape[1:] == (7, 7, 1280)
    assert all(len(refs) == 5 for refs in splits["test"].references)


def test_the_task_is_registered_with_its_flags(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "captioning", "--help"])
    help_text = capsys.readouterr().out
    for flag in ("--backbone", "--features", "--attention", "--data"):
        assert flag in help_text
    assert pathlib.Path(REPO_ROOT / "zoo" / "captioning").is_dir()


def test_cache_features_command_then_train_on_them(tmp_path, capsys):
    from zoo.captioning.encoders import build_backbone
    from zoo.data import load_features

    _write_flickr_layout(tmp_path)
    weights = tmp_path / "mobilenet_v2.weights.h5"
    encoder = build_backbone("mobilenet_v2", weights=None, image_size=32)
    encoder.get_layer("mobilenet_v2").save_weights(weights)
    output = tmp_path / "cached.npz"
    arguments = ["cache-features", str(tmp_path / "flickr"), str(output)]
    options = ["--backbone", "mobilenet_v2", "--image-size", "32"]
    options += ["--backbone-weights", str(weights)]
    assert cli.main([*arguments, *options]) == 0
    assert "features of 6 images written" in capsys.readouterr().out
    features = load_features(output)
    assert features.features.shape == (6, 1, 1, 1280)
    assert sorted(features.names) == [f"{index}.jpg" for index in range(6)]


@pytest.mark.usefixtures("eager_functions")
def test_backbone_mode_trains_from_image_files(tmp_path):
    from zoo.captioning.encoders import build_backbone
    from zoo.trainer import train

    _write_flickr_layout(tmp_path)
    weights = tmp_path / "mobilenet_v2.weights.h5"
    encoder = build_backbone("mobilenet_v2", weights=None, image_size=32)
    encoder.get_layer("mobilenet_v2").save_weights(weights)
    results = train(
        "captioning",
        data=str(tmp_path / "flickr"),
        backbone="mobilenet_v2",
        backbone_weights=str(weights),
        image_size=32,
        logdir=str(tmp_path / "run"),
        epochs=1,
        batch_size=4,
        units=16,
        embedding_dim=8,
        min_word_count=1,
        beam_width=2,
        verbose=0,
        num_summary_samples=0,
    )
    assert results["greedy"]["num_images"] == 1
    model = keras.saving.load_model(results["model_path"], compile=False)
    # The frozen backbone kept the weights of the file it was built from.
    loaded = model.image_encoder.get_layer("mobilenet_v2").weights[0]
    built = encoder.get_layer("mobilenet_v2").weights[0]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded), keras.ops.convert_to_numpy(built)
    )


def test_mixed_precision_training_steps():
    from zoo.trainer import mixed_precision_policy

    with mixed_precision_policy():
        splits, model, dataset = _tiny_data("hard", num_scenes=32)
        model.compile(optimizer="adam")
        history = model.fit(dataset.take(2), epochs=1, verbose=0)
        assert model.compute_dtype in ("float16", "bfloat16")
    assert np.isfinite(history.history["loss"]).all()


def _write_coco(root, count=10):
    """A COCO captions file, its instances file and features of its images."""
    names = [f"COCO_{index}.jpg" for index in range(count)]
    images = [
        {"id": index, "file_name": name, "width": 64, "height": 64}
        for index, name in enumerate(names)
    ]
    captions = {
        "images": images,
        "annotations": [
            {"image_id": index, "caption": f"a dog and a cat {number}"}
            for index in range(count)
            for number in range(2)
        ],
    }
    instances = {
        "images": images,
        "categories": [{"id": 18, "name": "dog"}, {"id": 17, "name": "cat"}],
        "annotations": [
            {"image_id": index, "category_id": 18, "bbox": [0, 0, 32, 32]}
            for index in range(count)
        ],
    }
    (root / "captions.json").write_text(json.dumps(captions))
    (root / "instances.json").write_text(json.dumps(instances))
    np.savez(
        root / "coco_features.npz",
        features=np.random.default_rng(0)
        .normal(size=(count, 2, 2, 8))
        .astype("float16"),
        image=np.array(names),
    )


@pytest.mark.usefixtures("eager_functions")
def test_coco_instances_give_attention_correctness(tmp_path):
    from zoo.trainer import train

    _write_coco(tmp_path)
    results = train(
        "captioning",
        data=str(tmp_path / "captions.json"),
        features=str(tmp_path / "coco_features.npz"),
        instances=str(tmp_path / "instances.json"),
        logdir=str(tmp_path / "run"),
        epochs=3,
        batch_size=8,
        units=16,
        embedding_dim=8,
        min_word_count=1,
        beam_width=2,
        learning_rate=0.01,
        verbose=0,
        num_summary_samples=1,
    )
    assert "attention_correctness" in results["greedy"]
    # Hand-worked: "dog" names the box of the top-left cell of the 2x2
    # grid; its step puts 0.7 there, the other words name no box.
    from zoo.captioning.data import attach_instances
    from zoo.captioning.data import load_feature_splits
    from zoo.captioning.inference import box_correctness

    splits = load_feature_splits(
        str(tmp_path / "captions.json"),
        None,
        str(tmp_path / "coco_features.npz"),
        0,
    )
    attach_instances(splits, str(tmp_path / "instances.json"))
    attention = np.full((1, 3, 4), 0.25, "float32")
    attention[0, 1] = [0.7, 0.1, 0.1, 0.1]
    split = splits["test"].select([0])
    value = box_correctness(split, ["a dog runs"], attention, None)
    assert value == pytest.approx(0.7)
