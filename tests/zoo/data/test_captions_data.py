import json
import os
import pathlib
import warnings

import keras
import numpy as np
import pytest

from zoo.data import captions
from zoo.data.captions import CaptionedImage

DATA_DIR = (
    pathlib.Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
)
FLICKR8K = DATA_DIR / "flickr8k"
FEATURES = FLICKR8K / "features_mobilenet_v2_7x7x1280.npz"

TOKEN_LINES = [
    "a.jpg#0\tA dog runs on the grass .",
    "a.jpg#1\tA brown dog is running .",
    "b.jpg#0\tTwo children play .",
    "",
    "c.jpg#0\tA man rides a bike .",
    "d.jpg#0\tA cat sleeps .",
]


def require(path):
    if not path.exists():
        pytest.skip(f"shared dataset not found at {path}")
    return path


def write(path, text):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def touch_images(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"\xff\xd8 not really a jpeg")
    return folder


def make_flickr8k(folder):
    """a, b, c present; d.jpg absent; e.jpg listed without captions."""
    write(folder / "Flickr8k.token.txt", "\n".join(TOKEN_LINES) + "\n")
    write(folder / "Flickr_8k.trainImages.txt", "a.jpg\nd.jpg\n")
    write(folder / "Flickr_8k.devImages.txt", "b.jpg\n\n")
    write(folder / "Flickr_8k.testImages.txt", "c.jpg\ne.jpg\n")
    touch_images(folder / "Images", "a.jpg", "b.jpg", "c.jpg", "x.jpg")
    return folder


def call_recording_warnings(function, *args, **kwargs):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    return result, [str(warning.message) for warning in record]


def test_flickr8k_layout_skips_absent_images_with_one_warning(tmp_path):
    folder = make_flickr8k(tmp_path / "flickr8k")
    splits, messages = call_recording_warnings(captions.load_flickr, folder)
    images = folder / "Images"
    assert splits == {
        "train": [
            CaptionedImage(
                "a.jpg",
                ("A dog runs on the grass .", "A brown dog is running ."),
                images / "a.jpg",
            )
        ],
        "valid": [
            CaptionedImage("b.jpg", ("Two children play .",), images / "b.jpg")
        ],
        "test": [
            CaptionedImage("c.jpg", ("A man rides a bike .",), images / "c.jpg")
        ],
    }
    assert len(messages) == 1
    assert "Flickr8k.token.txt: skipped 2 of 5 listed images" in messages[0]
    assert "1 absent from" in messages[0] and "'d.jpg'" in messages[0]
    assert "1 without captions" in messages[0]


def test_flickr_token_file_and_image_dir_given_apart(tmp_path):
    folder = make_flickr8k(tmp_path / "text")
    other_images = touch_images(tmp_path / "pictures", "a.jpg", "d.jpg")
    splits, messages = call_recording_warnings(
        captions.load_flickr,
        folder / "Flickr8k.token.txt",
        image_dir=other_images,
    )
    assert [image.image for image in splits["train"]] == ["a.jpg", "d.jpg"]
    assert splits["train"][1].path == other_images / "d.jpg"
    assert splits["valid"] == [] and splits["test"] == []
    # b and c are absent from this folder, e has no caption.
    assert len(messages) == 1
    assert "skipped 3 of 5" in messages[0]


def test_flickr_without_image_folder_keeps_every_listed_image(tmp_path):
    folder = make_flickr8k(tmp_path / "flickr8k")
    for image in (folder / "Images").iterdir():
        image.unlink()
    (folder / "Images").rmdir()
    splits, messages = call_recording_warnings(captions.load_flickr, folder)
    assert [image.image for image in splits["train"]] == ["a.jpg", "d.jpg"]
    assert all(image.path is None for image in splits["train"])
    # Only e.jpg, listed without a caption, is skipped: nothing is absent.
    assert len(messages) == 1
    assert "skipped 1 of 5" in messages[0] and "absent" not in messages[0]


def test_flickr30k_layout_is_carved_by_image(tmp_path):
    names = [f"{index}.jpg" for index in range(20)]
    lines = [
        f"{name}#{number}\tcaption {number} of {name}"
        for name in names
        for number in range(5)
    ]
    write(tmp_path / "results_20130124.token", "\n".join(lines))
    touch_images(tmp_path / "flickr30k-images", *names)
    splits, messages = call_recording_warnings(
        captions.load_flickr,
        tmp_path,
        valid_fraction=0.1,
        test_fraction=0.2,
        seed=1,
    )
    assert messages == []
    sizes = [len(splits[name]) for name in ("train", "valid", "test")]
    assert sizes == [14, 2, 4]
    seen = [image.image for split in splits.values() for image in split]
    assert sorted(seen) == sorted(names)
    assert all(len(image.captions) == 5 for image in splits["train"])
    again = captions.load_flickr(
        tmp_path, valid_fraction=0.1, test_fraction=0.2, seed=1
    )
    assert again == splits


def test_flickr_fused_line_of_the_official_file_is_split(tmp_path):
    # As line 40809 of Flickr8k.token.txt: two entries on one line.
    path = write(
        tmp_path / "Flickr8k.token.txt",
        "e1.jpg#2\tParakeets on the body. e1.jpg#3\tParakeets with heads .\n",
    )
    assert captions.read_flickr_tokens(path) == {
        "e1.jpg": ["Parakeets on the body.", "Parakeets with heads ."]
    }


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("b.jpg A caption without a tab", "line 2: expected 'image#number"),
        ("b.jpg\tA caption without a number", "line 2: the caption id"),
        ("b.jpg#0\t   ", "line 2: the caption of 'b.jpg#0' is empty"),
        ("b.jpg#0\tone\textra column", "line 2: expected 'image#number"),
    ],
)
def test_flickr_malformed_lines_name_file_and_line(tmp_path, bad_line, message):
    path = write(
        tmp_path / "Flickr8k.token.txt", f"a.jpg#0\tA dog .\n{bad_line}\n"
    )
    with pytest.raises(ValueError, match=message) as error:
        captions.load_flickr(path)
    assert str(path) in str(error.value)


def test_flickr_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No Flickr token file"):
        captions.load_flickr(tmp_path)
    with pytest.raises(FileNotFoundError, match="absent.txt"):
        captions.load_flickr(tmp_path / "absent.txt")
    folder = make_flickr8k(tmp_path / "flickr8k")
    with pytest.raises(FileNotFoundError, match="No such directory"):
        captions.load_flickr(folder, image_dir=tmp_path / "nowhere")
    (folder / "Flickr_8k.trainImages.txt").unlink()
    with pytest.raises(FileNotFoundError, match="no training split list"):
        captions.load_flickr(folder)
    empty = write(tmp_path / "empty" / "Flickr8k.token.txt", "\n\n")
    with pytest.raises(ValueError, match="contains no captions"):
        captions.load_flickr(empty)


def coco_json(tmp_path, images, annotations, name="captions_val2014.json"):
    return write(
        tmp_path / name,
        json.dumps({"images": images, "annotations": annotations}),
    )


def test_coco_captions_with_absent_and_uncaptioned_images(tmp_path):
    path = coco_json(
        tmp_path,
        images=[
            {"id": 1, "file_name": "COCO_val2014_1.jpg", "height": 480},
            {"id": 2, "file_name": "COCO_val2014_2.jpg"},
            {"id": 3, "file_name": "COCO_val2014_3.jpg"},
            {"id": 4, "file_name": "COCO_val2014_4.jpg"},
        ],
        annotations=[
            {"id": 10, "image_id": 3, "caption": "A train at a station.\n"},
            {"id": 11, "image_id": 1, "caption": "A dog on a couch."},
            {"id": 12, "image_id": 1, "caption": " A dog asleep. "},
            {"id": 13, "image_id": 2, "caption": "A bus."},
        ],
    )
    folder = touch_images(
        tmp_path / "val2014", "COCO_val2014_1.jpg", "COCO_val2014_3.jpg"
    )
    images, messages = call_recording_warnings(captions.load_coco, path, folder)
    assert images == [
        CaptionedImage(
            "COCO_val2014_1.jpg",
            ("A dog on a couch.", "A dog asleep."),
            folder / "COCO_val2014_1.jpg",
        ),
        CaptionedImage(
            "COCO_val2014_3.jpg",
            ("A train at a station.",),
            folder / "COCO_val2014_3.jpg",
        ),
    ]
    assert len(messages) == 1
    assert "skipped 2 of 4 listed images" in messages[0]
    assert "1 absent" in messages[0] and "1 without captions" in messages[0]
    without_folder, _ = call_recording_warnings(captions.load_coco, path)
    assert [image.image for image in without_folder] == [
        "COCO_val2014_1.jpg",
        "COCO_val2014_2.jpg",
        "COCO_val2014_3.jpg",
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        ({"images": []}, r"the file has no 'annotations' key"),
        (
            {"images": {}, "annotations": []},
            r": 'images' must be a list, found \{\}",
        ),
        (
            {"images": [{"id": 1}], "annotations": []},
            r"images\[0\] has no 'file_name' key",
        ),
        (
            {
                "images": [{"id": 1, "file_name": "a.jpg"}],
                "annotations": [{"image_id": 1}],
            },
            r"annotations\[0\] has no 'caption' key",
        ),
        (
            {
                "images": [{"id": 1, "file_name": "a.jpg"}],
                "annotations": [{"image_id": 2, "caption": "x"}],
            },
            r"annotations\[0\] has image_id=2, which no entry",
        ),
        (
            {
                "images": [
                    {"id": 1, "file_name": "a.jpg"},
                    {"id": 1, "file_name": "b.jpg"},
                ],
                "annotations": [],
            },
            r"images\[1\] repeats id 1",
        ),
        (
            {
                "images": [{"id": 1, "file_name": "a.jpg"}],
                "annotations": [{"image_id": 1, "caption": 5}],
            },
            r"\['caption'\] must be a str",
        ),
        ([1, 2], "the file must be a JSON object"),
    ],
)
def test_coco_malformed_json_names_file_and_record(tmp_path, content, message):
    path = write(tmp_path / "captions.json", json.dumps(content))
    with pytest.raises(ValueError, match=message) as error:
        captions.load_coco(path)
    assert str(path) in str(error.value)


def test_invalid_json_names_file_and_line(tmp_path):
    path = write(
        tmp_path / "captions.json", '{"images": [],\n "annotations": ]}'
    )
    with pytest.raises(ValueError, match=r"captions.json, line 2: not valid"):
        captions.load_coco(path)


def karpathy_json(tmp_path):
    def image(filepath, filename, split, *raws):
        record = {
            "filename": filename,
            "split": split,
            "sentences": [{"raw": raw, "tokens": raw.split()} for raw in raws],
            "imgid": 0,
        }
        if filepath:
            record["filepath"] = filepath
        return record

    content = {
        "dataset": "coco",
        "images": [
            image("val2014", "v1.jpg", "test", "A dog.", "A puppy."),
            image("train2014", "t1.jpg", "train", "A cat."),
            image("val2014", "v2.jpg", "restval", "A bus."),
            image("val2014", "v3.jpg", "val", "A car."),
            image("val2014", "v4.jpg", "val", "A tree."),
        ],
    }
    return write(tmp_path / "dataset_coco.json", json.dumps(content))


def test_karpathy_splits_restval_trains(tmp_path):
    path = karpathy_json(tmp_path)
    root = tmp_path / "coco"
    touch_images(root / "val2014", "v1.jpg", "v2.jpg", "v3.jpg")
    touch_images(root / "train2014", "t1.jpg", "v4.jpg")
    splits, messages = call_recording_warnings(
        captions.load_karpathy, path, root
    )
    assert splits == {
        "train": [
            CaptionedImage("t1.jpg", ("A cat.",), root / "train2014/t1.jpg"),
            CaptionedImage("v2.jpg", ("A bus.",), root / "val2014/v2.jpg"),
        ],
        "valid": [
            CaptionedImage("v3.jpg", ("A car.",), root / "val2014/v3.jpg"),
        ],
        "test": [
            CaptionedImage(
                "v1.jpg", ("A dog.", "A puppy."), root / "val2014/v1.jpg"
            ),
        ],
    }
    # v4.jpg is in train2014/, not in the val2014/ its record names.
    assert len(messages) == 1
    assert (
        "skipped 1 of 5" in messages[0] and "'val2014/v4.jpg'" in (messages[0])
    )


def test_karpathy_flickr_without_filepath(tmp_path):
    path = write(
        tmp_path / "dataset_flickr8k.json",
        json.dumps(
            {
                "images": [
                    {
                        "filename": "a.jpg",
                        "split": "train",
                        "sentences": [{"raw": "A dog runs."}],
                    }
                ]
            }
        ),
    )
    folder = touch_images(tmp_path / "Images", "a.jpg")
    splits = captions.load_karpathy(path, folder)
    assert splits["train"] == [
        CaptionedImage("a.jpg", ("A dog runs.",), folder / "a.jpg")
    ]


@pytest.mark.parametrize(
    "record, message",
    [
        (
            {"filename": "a.jpg", "split": "dev", "sentences": []},
            r"images\[0\] has split='dev', not one of",
        ),
        ({"filename": "a.jpg", "split": "val"}, "has no 'sentences' key"),
        (
            {"filename": "a.jpg", "split": "val", "sentences": [{"t": 1}]},
            r"images\[0\].sentences\[0\] has no 'raw' key",
        ),
        ({"split": "val", "sentences": []}, "has no 'filename' key"),
    ],
)
def test_karpathy_malformed_records(tmp_path, record, message):
    path = write(tmp_path / "dataset.json", json.dumps({"images": [record]}))
    with pytest.raises(ValueError, match=message) as error:
        captions.load_karpathy(path)
    assert str(path) in str(error.value)


def test_load_caption_data_reads_each_layout(tmp_path):
    karpathy = captions.load_caption_data(karpathy_json(tmp_path))
    assert [len(karpathy[name]) for name in ("train", "valid", "test")] == [
        2,
        2,
        1,
    ]
    coco = coco_json(
        tmp_path,
        images=[{"id": i, "file_name": f"{i}.jpg"} for i in range(10)],
        annotations=[{"image_id": i, "caption": "x"} for i in range(10)],
    )
    splits = captions.load_caption_data(coco, valid_fraction=0.3)
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [
        6,
        3,
        1,
    ]
    flickr = make_flickr8k(tmp_path / "flickr8k")
    splits, _ = call_recording_warnings(captions.load_caption_data, flickr)
    assert [image.image for image in splits["test"]] == ["c.jpg"]


def test_archive_url_is_fetched_and_extracted_with_keras(tmp_path, monkeypatch):
    # As the official Flickr8k_Dataset.zip: one folder and __MACOSX/.
    extracted = tmp_path / "cache" / "Flickr8k_Dataset"
    touch_images(extracted / "Flicker8k_Dataset", "a.jpg", "b.jpg", "c.jpg")
    (extracted / "__MACOSX").mkdir()
    calls = []

    def fake_get_file(fname=None, origin=None, extract=False, **kwargs):
        calls.append((fname, origin, extract))
        return str(extracted)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    folder = make_flickr8k(tmp_path / "text")
    url = "https://example.org/Flickr8k_Dataset.zip"
    splits, _ = call_recording_warnings(
        captions.load_flickr, folder, image_dir=url
    )
    assert calls == [("Flickr8k_Dataset.zip", url, True)]
    assert splits["valid"][0].path == (
        extracted / "Flicker8k_Dataset" / "b.jpg"
    )
    with pytest.raises(ValueError, match="must be an archive"):
        captions.resolve_directory("https://example.org/images/")


def test_split_images_keeps_every_image_once():
    images = [CaptionedImage(f"{i}.jpg", ("x",)) for i in range(50)]
    splits = captions.split_images(
        images, valid_fraction=0.2, test_fraction=0.1, seed=3
    )
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [
        35,
        10,
        5,
    ]
    assert sorted(
        sum(splits.values(), []), key=lambda i: int(i.image[:-4])
    ) == (images)
    with pytest.raises(ValueError, match="valid_fraction"):
        captions.split_images(images, valid_fraction=1.5)


def save_features(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_float16_features_load_as_float32(tmp_path):
    values = np.arange(2 * 2 * 3 * 4, dtype=np.float16).reshape(2, 2, 3, 4)
    path = save_features(
        tmp_path / "f.npz", features=values, image=np.array(["a.jpg", "b.jpg"])
    )
    features = captions.load_features(path)
    assert features.names == ("a.jpg", "b.jpg")
    assert features.features.dtype == np.float32
    np.testing.assert_array_equal(features.features, values.astype(np.float32))
    assert features.scale is None and features.zero_point is None
    assert captions.load_features(path, dtype="float16").features.dtype == (
        np.float16
    )
    assert len(features) == 2 and "b.jpg" in features
    assert features.rows(["b.jpg", "a.jpg"]).tolist() == [1, 0]
    with pytest.raises(KeyError, match="c.jpg"):
        features.rows(["c.jpg"])


def test_uint8_features_are_dequantized_per_channel(tmp_path):
    quantized = np.array([[[[0, 10], [20, 255]]]], dtype=np.uint8)
    path = save_features(
        tmp_path / "q.npz",
        features=quantized,
        image=np.array(["a.jpg"]),
        scale=np.array([0.5, 0.25], np.float32),
        zero_point=np.array([10, 0], np.int32),
    )
    features = captions.load_features(path)
    # Hand-computed: 0.5 * (0 - 10), 0.25 * 10, 0.5 * (20 - 10), 0.25 * 255.
    assert features.features.tolist() == [[[[-5.0, 2.5], [5.0, 63.75]]]]
    raw = captions.load_features(path, dequantize=False)
    assert raw.features.dtype == np.uint8
    assert raw.scale.tolist() == [0.5, 0.25]
    assert raw.zero_point.tolist() == [10, 0]
    np.testing.assert_array_equal(
        captions.dequantize_features(raw.features, raw.scale, raw.zero_point),
        features.features,
    )


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"image": np.array(["a.jpg"])}, "no 'features' array"),
        (
            {"features": np.zeros((1, 2, 2, 3), np.float16)},
            "no 'image' array",
        ),
        (
            {
                "features": np.zeros((1, 4, 3), np.float16),
                "image": np.array(["a.jpg"]),
            },
            r"must have shape \[N, H, W, C\], found \(1, 4, 3\)",
        ),
        (
            {
                "features": np.zeros((2, 1, 1, 3), np.float16),
                "image": np.array(["a.jpg"]),
            },
            "'image' names 1 images but 'features' has 2 rows",
        ),
        (
            {
                "features": np.zeros((2, 1, 1, 3), np.float16),
                "image": np.array(["a.jpg", "a.jpg"]),
            },
            "image 'a.jpg' has several rows",
        ),
        (
            {
                "features": np.zeros((1, 1, 1, 3), np.uint8),
                "image": np.array(["a.jpg"]),
                "scale": np.float32(0.1),
            },
            r"need 'scale' and 'zero_point'.*missing \['zero_point'\]",
        ),
        (
            {
                "features": np.zeros((1, 1, 1, 3), np.uint8),
                "image": np.array(["a.jpg"]),
                "scale": np.zeros(2, np.float32),
                "zero_point": np.int32(0),
            },
            r"'scale' must be a scalar or have shape \(3,\)",
        ),
        (
            {
                "features": np.zeros((1, 1, 1, 3), np.uint8),
                "image": np.array(["a.jpg"]),
                "scale": np.float32(0.0),
                "zero_point": np.int32(0),
            },
            "'scale' must be finite and > 0",
        ),
        (
            {
                "features": np.zeros((1, 1, 1, 3), np.float32),
                "image": np.array(["a.jpg"]),
                "scale": np.float32(0.5),
            },
            "'scale' and 'zero_point' are for uint8/int8",
        ),
        (
            {
                "features": np.zeros((1, 1, 1, 3), np.int32),
                "image": np.array(["a.jpg"]),
            },
            "found int32",
        ),
        (
            {
                "features": np.zeros((1, 1, 1, 3), np.float16),
                "image": np.array([1]),
            },
            "'image' must be a 1-D array of strings",
        ),
    ],
)
def test_malformed_features_name_the_file(tmp_path, arrays, message):
    path = save_features(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message) as error:
        captions.load_features(path)
    assert str(path) in str(error.value)


def test_features_file_that_is_no_npz(tmp_path):
    text = write(tmp_path / "features.npz", "not an archive")
    with pytest.raises(ValueError, match="features.npz as .npz"):
        captions.load_features(text)
    single = tmp_path / "features.npy"
    np.save(single, np.zeros((1, 1, 1, 1)))
    with pytest.raises(ValueError, match="found a single array"):
        captions.load_features(single)
    with pytest.raises(FileNotFoundError):
        captions.load_features(tmp_path / "absent.npz")
    with pytest.raises(ValueError, match="Received: dtype='int8'"):
        captions.load_features(single, dtype="int8")


def test_filter_by_features_reports_missing_once():
    features = captions.ImageFeatures(
        ("a.jpg", "c.jpg"), np.zeros((2, 1, 1, 1), np.float32)
    )
    splits = {
        "train": [
            CaptionedImage("a.jpg", ("x",)),
            CaptionedImage("b.jpg", ("y",)),
        ],
        "test": [CaptionedImage("c.jpg", ("z",))],
    }
    kept, messages = call_recording_warnings(
        captions.filter_by_features, splits, features
    )
    assert kept == {"train": [splits["train"][0]], "test": splits["test"]}
    assert messages == [
        "skipped 1 of 3 captioned images without precomputed features "
        "(e.g. 'b.jpg')."
    ]
    kept, messages = call_recording_warnings(
        captions.filter_by_features, splits["test"], features
    )
    assert kept == splits["test"] and messages == []


def test_real_flickr8k_subset():
    folder = require(FLICKR8K)
    assert len(os.listdir(folder / "Images")) == 1_000
    splits, messages = call_recording_warnings(captions.load_flickr, folder)
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [
        753,
        113,
        125,
    ]
    # 6,074 + 1,013 + 1,013 listed images, 991 of them present.
    assert len(messages) == 1
    assert "skipped 7,109 of 8,100 listed images" in messages[0]
    images = [image for split in splits.values() for image in split]
    assert all(image.path.is_file() for image in images)
    assert all(len(image.captions) == 5 for image in images)
    names = [image.image for image in images]
    assert len(set(names)) == len(names)


def test_real_flickr8k_features():
    path = require(FEATURES)
    with np.load(path) as raw:
        quantized = raw["features"]
        scale, zero_point = float(raw["scale"]), int(raw["zero_point"])
    features = captions.load_features(path)
    assert features.features.shape == (1_000, 7, 7, 1_280)
    assert features.features.dtype == np.float32
    np.testing.assert_allclose(
        features.features[:3],
        scale * (quantized[:3].astype(np.float64) - zero_point),
        rtol=1e-6,
    )
    assert set(features.names) == set(os.listdir(FLICKR8K / "Images"))
    splits, _ = call_recording_warnings(captions.load_flickr, FLICKR8K)
    kept, messages = call_recording_warnings(
        captions.filter_by_features, splits, features
    )
    assert messages == [] and kept == splits
