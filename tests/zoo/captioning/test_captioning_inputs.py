"""What `caption` and the exported captioner take in (issue 20).

Item 1: attention images never replace an input, and inputs of one stem
get images of their own. Item 12: an unreadable image among several is
reported and the others captioned, in the CLI as in the SavedModel (an
`ok` flag per item). Items 6 and 11: feature maps that are not finite,
overflow float32 or have a size 0 are refused naming the file.

The models are tiny and untrained (built once per module): what a
caption says does not matter here, only which items get one.
"""

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras  # noqa: E402

from tests.conftest import cli_main  # noqa: E402
from zoo import cli  # noqa: E402
from zoo.attention_images import image_name  # noqa: E402
from zoo.captioning.model import ShowAttendTell  # noqa: E402
from zoo.captioning.vocabulary import build_vocabulary  # noqa: E402

FEATURE_SHAPE = (2, 2, 4)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Paths of a tiny pixel captioner and a tiny feature-map captioner."""
    folder = tmp_path_factory.mktemp("models")
    vocabulary = build_vocabulary(["a red circle", "a blue square"])
    keras.utils.set_random_seed(0)
    sizes = {"embedding_dim": 4, "units": 8, "max_caption_length": 4}
    pixels = ShowAttendTell(
        vocabulary, image_size=16, pixel_filters=(4,), **sizes
    )
    features = ShowAttendTell(
        vocabulary, encoder="features", feature_shape=FEATURE_SHAPE, **sizes
    )
    paths = {}
    for name, model, shape in (
        ("pixels", pixels, (1, 16, 16, 3)),
        ("features", features, (1, *FEATURE_SHAPE)),
    ):
        model((np.zeros(shape, "float32"), np.ones((1, 3), "int32")))
        paths[name] = folder / f"{name}.keras"
        model.save(paths[name])
    return paths


def _png(path, seed=0, image_format="PNG"):
    import PIL.Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (20, 20, 3))
    PIL.Image.fromarray(pixels.astype(np.uint8)).save(path, image_format)
    return path


def _caption(capsys, *arguments):
    """`caption ARGUMENTS` in process: (status, stdout, stderr lines)."""
    status = cli.main(["caption", *map(str, arguments), "--beam-width", "1"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, captured.out, captured.err.strip().splitlines()


def _overlays(stdout):
    """The attention images `caption` says it wrote, by image."""
    prefix = "attention image of "
    pairs = [
        line[len(prefix) :].split(" written to ")
        for line in stdout.splitlines()
        if line.startswith(prefix)
    ]
    return dict(pairs)


def test_attention_dir_beside_the_photo_keeps_the_photo(
    models, tmp_path, capsys, monkeypatch
):
    photo = _png(tmp_path / "photo.png")
    before = photo.read_bytes()
    monkeypatch.chdir(tmp_path)
    status, out, errors = _caption(
        capsys, models["pixels"], "photo.png", "--attention-dir", "."
    )
    assert (status, errors) == (0, [])
    assert photo.read_bytes() == before
    overlay = _overlays(out)["photo.png"]
    assert overlay == f"{image_name(photo)}"
    assert (tmp_path / overlay).stat().st_size > 1000


def test_inputs_of_one_stem_get_images_of_their_own(models, tmp_path, capsys):
    inputs = [
        _png(tmp_path / "good.jpg", 0, "JPEG"),
        _png(tmp_path / "good.png", 1),
        _png(tmp_path / "a" / "x.png", 2),
        _png(tmp_path / "b" / "x.png", 3),
    ]
    maps = tmp_path / "maps"
    status, out, _ = _caption(
        capsys, models["pixels"], *inputs, "--attention-dir", maps
    )
    assert status == 0
    overlays = _overlays(out)
    assert sorted(overlays) == sorted(map(str, inputs))
    assert len(set(overlays.values())) == 4
    assert sorted(p.name for p in maps.iterdir()) == sorted(
        image_name(path) for path in inputs
    )


def test_a_file_not_ours_is_refused_before_captioning(models, tmp_path, capsys):
    photo = _png(tmp_path / "photo.png")
    target = tmp_path / "maps" / image_name(photo)
    target.parent.mkdir()
    target.write_bytes(b"the user's notes")
    status, out, error = cli_main(
        capsys,
        "caption",
        models["pixels"],
        photo,
        "--attention-dir",
        tmp_path / "maps",
    )
    assert status == 2 and out == ""
    assert str(target) in error and "no zoo command wrote" in error
    assert target.read_bytes() == b"the user's notes"


def test_unreadable_images_among_several_are_reported_one_line_each(
    models, tmp_path, capsys
):
    first, second = _png(tmp_path / "1.png", 1), _png(tmp_path / "2.png", 2)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image")
    absent = tmp_path / "absent.png"
    status, out, errors = _caption(
        capsys, models["pixels"], first, garbage, absent, second
    )
    assert status == 2
    captioned = [line.split(": ")[0] for line in out.splitlines()]
    assert captioned == [str(first), str(second)]
    assert len(errors) == 2
    assert errors[0].startswith(f"keras-attention-zoo: error: IMAGE {garbage}")
    assert errors[1].startswith(f"keras-attention-zoo: error: IMAGE {absent}")


def test_the_savedmodel_answers_per_item_as_the_cli(models, tmp_path, capsys):
    import tensorflow as tf

    good = [_png(tmp_path / f"{index}.png", index) for index in range(2)]
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good[0].read_bytes()[:60])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image")
    files = [good[0], garbage, truncated, good[1]]
    exported = tmp_path / "saved"
    export = ["export", str(models["pixels"]), str(exported)]
    assert cli.main([*export, "--beam-width", "1"]) == 0
    serving = tf.saved_model.load(str(exported)).signatures["serving_default"]
    outputs = serving(tf.constant([path.read_bytes() for path in files]))
    assert outputs["ok"].numpy().tolist() == [True, False, False, True]
    captions = [text.decode() for text in outputs["caption"].numpy()]
    assert captions[1:3] == ["", ""]
    assert not outputs["lengths"].numpy()[1:3].any()
    assert not outputs["token_ids"].numpy()[1:3].any()
    assert not outputs["attention"].numpy()[1:3].any()
    status, out, errors = _caption(capsys, models["pixels"], *files)
    assert status == 2 and len(errors) == 2
    assert out.splitlines() == [
        f"{good[0]}: {captions[0]}".rstrip(),
        f"{good[1]}: {captions[3]}".rstrip(),
    ]
    empty = serving(tf.constant([], tf.string))
    assert empty["ok"].shape == (0,) and empty["caption"].shape == (0,)


def _features(path, features):
    names = np.array([f"{row}.jpg" for row in range(len(features))])
    np.savez(path, features=features, image=names)
    return path


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e38])
def test_caption_refuses_features_that_overflow(
    models, tmp_path, capsys, value
):
    features = np.ones((3, *FEATURE_SHAPE), np.float32)
    features[1, 0, 1, 2] = value
    path = _features(tmp_path / "bad.npz", features)
    status, out, error = cli_main(
        capsys, "caption", models["features"], "0.jpg", "--features", path
    )
    assert status == 2 and out == ""
    assert str(path) in error and "row 1 (image '1.jpg')" in error


@pytest.mark.parametrize(
    "shape, message",
    [
        ((2, 2, 2, 0), "every size at least 1"),
        ((2, 0, 0, 4), "every size at least 1"),
        ((2, 3, 3, 4), r"expected feature maps of shape (2, 2, 4)"),
    ],
)
def test_caption_refuses_feature_maps_of_another_shape(
    models, tmp_path, capsys, shape, message
):
    path = _features(tmp_path / "odd.npz", np.ones(shape, np.float32))
    status, _, error = cli_main(
        capsys, "caption", models["features"], "0.jpg", "--features", path
    )
    assert status == 2 and message in error and str(path) in error


def test_the_feature_savedmodel_flags_maps_it_would_refuse(models, tmp_path):
    import tensorflow as tf

    exported = tmp_path / "saved"
    assert cli.main(["export", str(models["features"]), str(exported)]) == 0
    serving = tf.saved_model.load(str(exported)).signatures["serving_default"]
    features = np.ones((4, *FEATURE_SHAPE), np.float32)
    features[1, 0, 0, 0] = np.nan
    features[2, 1, 1, 3] = 1e38
    outputs = serving(tf.constant(features))
    assert outputs["ok"].numpy().tolist() == [True, False, False, True]
    assert [t.decode() for t in outputs["caption"].numpy()[1:3]] == ["", ""]
    assert not outputs["attention"].numpy()[1:3].any()


def test_training_on_nan_features_is_refused_naming_the_row(tmp_path, capsys):
    folder = tmp_path / "flickr"
    folder.mkdir()
    names = [f"{index}.jpg" for index in range(4)]
    (folder / "Flickr8k.token.txt").write_text(
        "".join(f"{name}#0\ta thing\n" for name in names)
    )
    features = np.ones((4, *FEATURE_SHAPE), np.float16)
    features[2, 1, 0, 0] = np.nan
    path = tmp_path / "features.npz"
    np.savez(path, features=features, image=np.array(names))
    status, _, error = cli_main(
        capsys,
        "train",
        "captioning",
        "--data",
        folder,
        "--features",
        path,
        "--logdir",
        tmp_path / "run",
        "--epochs",
        "1",
    )
    assert status == 2
    assert str(path) in error and "row 2 (image '2.jpg')" in error


def test_export_decodes_with_the_flags_of_caption(
    models, tmp_path, capsys, monkeypatch
):
    import tensorflow as tf

    flags = ["--beam-width", "2", "--length-penalty", "1.5"]
    flags += ["--max-length", "2"]
    exported = tmp_path / "saved"
    decodings = []
    caption_ids = ShowAttendTell.caption_ids

    def recording(self, images, **decoding):
        decodings.append(decoding)
        return caption_ids(self, images, **decoding)

    with monkeypatch.context() as patch:
        patch.setattr(ShowAttendTell, "caption_ids", recording)
        assert (
            cli.main(["export", str(models["pixels"]), str(exported), *flags])
            == 0
        )
    assert decodings and all(
        decoding == {"beam_width": 2, "max_length": 2, "length_penalty": 1.5}
        for decoding in decodings
    )
    files = [_png(tmp_path / f"{index}.png", index) for index in range(3)]
    serving = tf.saved_model.load(str(exported)).signatures["serving_default"]
    outputs = serving(tf.constant([path.read_bytes() for path in files]))
    assert outputs["token_ids"].shape[1] == 3  # two words and <end>
    status = cli.main(
        ["caption", str(models["pixels"]), *map(str, files), *flags]
    )
    assert status == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: {text.decode()}".rstrip()
        for path, text in zip(files, outputs["caption"].numpy(), strict=True)
    ]
