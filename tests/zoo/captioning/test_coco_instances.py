import json
import pathlib
import re

import numpy as np
import pytest

from keras_attention.metrics import attention_correctness
from tests.conftest import to_numpy
from zoo.captioning.coco_instances import CATEGORY_WORDS
from zoo.captioning.coco_instances import ImageInstances
from zoo.captioning.coco_instances import instance_alignment
from zoo.captioning.coco_instances import load_coco_instances
from zoo.captioning.coco_instances import named_categories

# The 80 categories of COCO 2014/2017 detection, as named in
# instances_*.json.
COCO_CATEGORIES = (
    "person bicycle car motorcycle airplane bus train truck boat "
    "traffic_light fire_hydrant stop_sign parking_meter bench bird cat dog "
    "horse sheep cow elephant bear zebra giraffe backpack umbrella handbag "
    "tie suitcase frisbee skis snowboard sports_ball kite baseball_bat "
    "baseball_glove skateboard surfboard tennis_racket bottle wine_glass "
    "cup fork knife spoon bowl banana apple sandwich orange broccoli "
    "carrot hot_dog pizza donut cake chair couch potted_plant bed "
    "dining_table toilet tv laptop mouse remote keyboard cell_phone "
    "microwave oven toaster sink refrigerator book clock vase scissors "
    "teddy_bear hair_drier toothbrush"
)


def instances_json():
    """Two images, three categories, a crowd box, a box past the edges."""
    return {
        "info": {"description": "test"},
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 80, "height": 40},
            {"id": 2, "file_name": "b.jpg", "width": 50, "height": 100},
        ],
        "categories": [
            {"id": 1, "name": "person", "supercategory": "person"},
            {"id": 2, "name": "bicycle", "supercategory": "vehicle"},
            {"id": 18, "name": "dog", "supercategory": "animal"},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1,
             "bbox": [10, 5, 20, 20], "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 2,
             "bbox": [40.5, 20, 50, 30], "iscrowd": 0},
            {"id": 12, "image_id": 1, "category_id": 1,
             "bbox": [0, 0, 80, 40], "iscrowd": 1},
            {"id": 13, "image_id": 2, "category_id": 18,
             "bbox": [-5, 10, 20, 30]},
            {"id": 14, "image_id": 2, "category_id": 18,
             "bbox": [25, 50, 25, 50], "iscrowd": 0},
        ],
    }  # fmt: skip


# Clipping by hand: the bicycle [40.5, 20, +50, +30] ends at x = 90.5 and
# y = 50, past the 80x40 image; the first dog starts at x = -5.
EXPECTED = {
    "a.jpg": ImageInstances(
        width=80,
        height=40,
        objects=(
            ("person", (10.0, 5.0, 30.0, 25.0)),
            ("bicycle", (40.5, 20.0, 80.0, 40.0)),
        ),
    ),
    "b.jpg": ImageInstances(
        width=50,
        height=100,
        objects=(
            ("dog", (0.0, 10.0, 15.0, 40.0)),
            ("dog", (25.0, 50.0, 50.0, 100.0)),
        ),
    ),
}


def write_json(folder, content, name="instances_val2017.json"):
    path = pathlib.Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


@pytest.fixture
def instances(tmp_path):
    return load_coco_instances(write_json(tmp_path, instances_json()))


def test_load_gives_clipped_boxes_without_crowds(instances):
    assert instances == EXPECTED
    assert all(
        isinstance(value, float)
        for image in instances.values()
        for _, box in image.objects
        for value in box
    )


def test_load_from_file_url(tmp_path):
    path = write_json(tmp_path / "source", instances_json())
    path_url = path.resolve().as_uri()
    loaded = load_coco_instances(path_url, cache_dir=str(tmp_path / "cache"))
    assert loaded == EXPECTED


def test_image_without_objects_is_kept_and_empty_boxes_skipped(tmp_path):
    content = instances_json()
    content["images"].append(
        {"id": 3, "file_name": "c.jpg", "width": 10, "height": 10}
    )
    content["annotations"] += [
        # Entirely right of the 50-pixel-wide image, then zero height.
        {"image_id": 2, "category_id": 1, "bbox": [60, 0, 5, 5]},
        {"image_id": 2, "category_id": 1, "bbox": [0, 0, 5, 0]},
    ]
    loaded = load_coco_instances(write_json(tmp_path, content))
    assert loaded == {**EXPECTED, "c.jpg": ImageInstances(10, 10, ())}


def _without(records, index, key):
    record = dict(records[index])
    del record[key]
    records[index] = record


def _missing_name(content):
    _without(content["categories"], 1, "name")


def _unknown_image(content):
    content["annotations"][3]["image_id"] = 99


def _unknown_category(content):
    content["annotations"][1]["category_id"] = 5


def _short_bbox(content):
    content["annotations"][4]["bbox"] = [25, 50, 25]


def _text_in_bbox(content):
    content["annotations"][0]["bbox"] = [10, 5, "20", 20]


def _negative_width(content):
    content["annotations"][0]["bbox"] = [10, 5, -20, 20]


def _repeated_image_id(content):
    content["images"][1]["id"] = 1


def _repeated_file_name(content):
    content["images"][1]["file_name"] = "a.jpg"


def _repeated_category_id(content):
    content["categories"][2]["id"] = 2


def _zero_width_image(content):
    content["images"][0]["width"] = 0


def _missing_annotations(content):
    del content["annotations"]


def _crowd_flag(content):
    content["annotations"][2]["iscrowd"] = 2


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (_missing_name, "categories[1] has no 'name' key"),
        (_unknown_image, "annotations[3] has image_id=99, which no entry"),
        (_unknown_category, "annotations[1] has category_id=5, which no"),
        (_short_bbox, "annotations[4]['bbox'] must be 4 numbers"),
        (_text_in_bbox, "annotations[0]['bbox'] must be 4 numbers"),
        (_negative_width, "annotations[0]['bbox'] has a negative width"),
        (_repeated_image_id, "images[1] repeats id 1"),
        (_repeated_file_name, "images[1] repeats file_name 'a.jpg'"),
        (_repeated_category_id, "categories[2] repeats id 2"),
        (_zero_width_image, "images[0]['width'] must be positive"),
        (_missing_annotations, "the file has no 'annotations' key"),
        (_crowd_flag, "annotations[2]['iscrowd'] must be 0 or 1"),
    ],
)
def test_malformed_file_names_file_and_record(tmp_path, corrupt, message):
    content = instances_json()
    corrupt(content)
    path = write_json(tmp_path, content)
    with pytest.raises(ValueError) as error:
        load_coco_instances(path)
    text = str(error.value)
    assert text.startswith(f"{path}: ")
    assert message in text


def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "instances_val2017.json"
    path.write_text('{"images": [\n  {"id": 1,}\n]}', encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 2: ")):
        load_coco_instances(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_coco_instances(tmp_path / "instances_absent.json")


def cells(*rows):
    """A 4x4 grid written as four strings of 0/1, flattened."""
    return np.array([[c == "1" for c in row] for row in rows]).reshape(-1)


NO_CELLS = np.zeros(16, bool)


def test_man_riding_a_bike(instances):
    # a.jpg is 80x40: a 4x4 grid has cells 20 wide and 10 high. The man
    # (10..30, 5..25) touches columns 0-1 and rows 0-2; the bike
    # (40.5..80, 20..40) columns 2-3 and rows 2-3.
    words = "a man riding a bike".split()
    alignment = instance_alignment(words, instances["a.jpg"], (4, 4))
    expected = np.stack(
        [
            NO_CELLS,
            cells("1100", "1100", "1100", "0000"),
            NO_CELLS,
            NO_CELLS,
            cells("0000", "0000", "0011", "0011"),
        ]
    )
    assert alignment.dtype == bool
    np.testing.assert_array_equal(alignment, expected)


def test_plural_covers_union_of_all_boxes(instances):
    # b.jpg is 50x100: cells 12.5 wide and 25 high. The first dog
    # (0..15, 10..40) touches columns 0-1, rows 0-1; the second
    # (25..50, 50..100) only meets column 1 and row 1 at their edges.
    both_dogs = cells("1100", "1100", "0011", "0011")
    for caption in ("two dogs", "a dog"):
        words = caption.split()
        alignment = instance_alignment(words, instances["b.jpg"], (4, 4))
        np.testing.assert_array_equal(alignment[0], NO_CELLS)
        np.testing.assert_array_equal(alignment[1], both_dogs)


def test_category_absent_from_image_gives_no_cells(instances):
    words = "a man with a dog and a cat".split()
    alignment = instance_alignment(words, instances["b.jpg"], (4, 4))
    assert not alignment[1].any()  # no person in b.jpg
    assert not alignment[7].any()  # nor a cat
    assert alignment[4].any()
    assert np.flatnonzero(alignment.any(axis=1)).tolist() == [4]
    kitten = instance_alignment(["kitten"], instances["a.jpg"], (4, 4))
    assert not kitten.any()


def test_traffic_light_is_named_by_both_words():
    image = ImageInstances(
        width=40,
        height=40,
        objects=(
            ("traffic light", (0.0, 0.0, 10.0, 10.0)),
            ("dog", (20.0, 20.0, 40.0, 40.0)),
        ),
    )
    words = "a traffic light a light traffic lights a hot dog a dog".split()
    alignment = instance_alignment(words, image, (2, 2))
    light_cell = [True, False, False, False]
    dog_cell = [False, False, False, True]
    expected = np.zeros((len(words), 4), bool)
    expected[2] = light_cell  # "light" of "traffic light"
    expected[6] = light_cell  # "lights" of "traffic lights"
    expected[11] = dog_cell  # "dog" alone; "hot dog" (index 9) is food
    np.testing.assert_array_equal(alignment, expected)


def test_named_categories_matches_longest_phrase_first():
    words = "a teddy bear near a bear and a hot dog on a dining table".split()
    assert named_categories(words) == [
        (2, "teddy bear"),
        (5, "bear"),
        (9, "hot dog"),
        (13, "dining table"),
    ]
    assert named_categories("the light of an orange sign".split()) == []


def test_category_words_cover_coco_once_each():
    assert set(CATEGORY_WORDS) == {
        name.replace("_", " ") for name in COCO_CATEGORIES.split()
    }
    phrases = [p for words in CATEGORY_WORDS.values() for p in words]
    assert len(phrases) == len(set(phrases))
    assert all(p == p.lower() and p == p.strip() for p in phrases)


def test_alignment_scores_uniform_attention_by_cell_share(instances):
    # Uniform attention over 16 cells puts 6/16 on the man and 4/16 on
    # the bike: pooled over the two nouns, (6 + 4) / 32.
    words = "a man riding a bike".split()
    alignment = instance_alignment(words, instances["a.jpg"], (4, 4))
    attention = np.full((1, len(words), 16), 1 / 16, np.float32)
    score = to_numpy(attention_correctness(attention, alignment[None]))
    np.testing.assert_allclose(score, 10 / 32, rtol=1e-6)


@pytest.mark.parametrize("grid_shape", [(0, 4), (4,), (2.0, 2)])
def test_invalid_grid_shape(instances, grid_shape):
    with pytest.raises(ValueError, match="`grid_shape` must be two"):
        instance_alignment(["a", "man"], instances["a.jpg"], grid_shape)
