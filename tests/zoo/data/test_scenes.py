import re
import time

import numpy as np
import pytest

from zoo.data import scenes

# Palette written out again, so a changed colour shows up here.
PALETTE = {
    "red": (215, 45, 40),
    "green": (50, 170, 60),
    "blue": (45, 85, 225),
    "yellow": (235, 205, 40),
    "purple": (150, 60, 190),
}
SHAPE_WORDS = ("circle", "square", "triangle", "cross")
# An independent reading of the captions: every mention of an object is
# "[size] colour shape" or "size shape that is colour".
MENTION = re.compile(
    r"(?:(?P<size>small|large) )?(?P<colour>red|green|blue|yellow|purple) "
    r"(?P<shape>circle|square|triangle|cross)"
    r"|(?P<size2>small|large) (?P<shape2>circle|square|triangle|cross) "
    r"that is (?P<colour2>red|green|blue|yellow|purple)"
)
RELATION = re.compile(r" (to the left of|to the right of|above|below) ")


def colour_pixels(image, colour, tolerance):
    """Boolean [H, W] map of pixels within `tolerance` of a palette colour."""
    distance = np.abs(image.astype(int) - np.array(PALETTE[colour])).max(-1)
    return distance <= tolerance


def pixel_box(mask):
    """(x0, y0, x1, y1) of the true pixels of a mask, x1/y1 exclusive."""
    rows, columns = np.nonzero(mask)
    return (
        int(columns.min()),
        int(rows.min()),
        int(columns.max()) + 1,
        int(rows.max()) + 1,
    )


def mentions(caption):
    found = []
    for match in MENTION.finditer(caption):
        size = match["size"] or match["size2"]
        colour = match["colour"] or match["colour2"]
        shape = match["shape"] or match["shape2"]
        found.append((size, colour, shape))
    return found


def test_same_seed_same_scenes_other_seed_other_scenes():
    first = scenes.generate_scenes(40, seed=3)
    second = scenes.generate_scenes(40, seed=3)
    other = scenes.generate_scenes(40, seed=4)
    np.testing.assert_array_equal(first.images, second.images)
    assert first.objects == second.objects
    assert first.captions == second.captions
    assert first.nouns == second.nouns
    assert first.objects != other.objects
    assert first.images.shape == (40, 64, 64, 3)
    assert first.images.dtype == np.uint8


def test_shape_masks_drawn_by_hand():
    assert scenes.shape_mask("square", 3).all()
    assert scenes.shape_mask("circle", 5).astype(int).tolist() == [
        [0, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [0, 1, 1, 1, 0],
    ]
    assert scenes.shape_mask("triangle", 4).astype(int).tolist() == [
        [0, 1, 1, 0],
        [0, 1, 1, 0],
        [1, 1, 1, 1],
        [1, 1, 1, 1],
    ]
    assert scenes.shape_mask("triangle", 5).astype(int).tolist() == [
        [0, 0, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [0, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
    ]
    assert scenes.shape_mask("cross", 6).astype(int).tolist() == [
        [0, 0, 1, 1, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 1, 1, 0, 0],
    ]


@pytest.mark.parametrize("noise", [0, 8])
def test_box_is_the_tight_box_of_the_named_colour(noise):
    generated = scenes.generate_scenes(200, seed=1, noise=noise)
    # Uniform noise moves each channel by at most `noise`.
    for image, objects in zip(generated.images, generated.objects, strict=True):
        for obj in objects:
            mask = colour_pixels(image, obj.colour, tolerance=noise)
            assert pixel_box(mask) == obj.box
        painted = {
            colour
            for colour in PALETTE
            if colour_pixels(image, colour, tolerance=noise).any()
        }
        assert painted == {obj.colour for obj in objects}


def test_sizes_colours_and_layout_follow_the_rules():
    generated = scenes.generate_scenes(300, seed=2)
    counts = set()
    for objects in generated.objects:
        counts.add(len(objects))
        for obj in objects:
            x0, y0, x1, y1 = obj.box
            side = x1 - x0
            assert side == y1 - y0
            assert 1 <= x0 and x1 <= 63 and 1 <= y0 and y1 <= 63
            # 16-20% and 30-36% of 64 pixels, rounded.
            assert 10 <= side <= 13 if obj.size == "small" else 19 <= side <= 23
        if len(objects) == 2:
            a, b = (obj.box for obj in objects)
            assert objects[0].colour != objects[1].colour
            apart_x = a[2] + 2 <= b[0] or b[2] + 2 <= a[0]
            apart_y = a[3] + 2 <= b[1] or b[3] + 2 <= a[1]
            assert apart_x or apart_y
    assert counts == {1, 2}


def test_captions_mention_exactly_the_drawn_objects():
    generated = scenes.generate_scenes(300, seed=5)
    for image, objects, captions in zip(
        generated.images,
        generated.objects,
        generated.captions,
        strict=True,
    ):
        drawn = {(obj.size, obj.colour, obj.shape) for obj in objects}
        assert len(captions) == scenes.CAPTIONS_PER_SCENE
        assert len(set(captions)) == len(captions)
        for caption in captions:
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", caption)
            found = mentions(caption)
            assert len(found) == len(objects)
            assert {(c, s) for _, c, s in found} == {
                (c, s) for _, c, s in drawn
            }
            for size, colour, shape in found:
                assert size is None or (size, colour, shape) in drawn
            relation = RELATION.search(caption)
            if len(objects) == 1:
                assert relation is None
            elif relation is None:
                assert " and " in caption
            else:
                check_relation(image, found, relation.group(1))


def check_relation(image, found, relation):
    """Checks 'X relation Y' against where the colours are in the image."""
    (_, first, _), (_, second, _) = found
    a = pixel_box(colour_pixels(image, first, tolerance=8))
    b = pixel_box(colour_pixels(image, second, tolerance=8))
    if relation == "to the left of":
        assert a[2] <= b[0]
    elif relation == "to the right of":
        assert b[2] <= a[0]
    elif relation == "above":
        assert a[3] <= b[1]
    else:
        assert b[3] <= a[1]


def test_nouns_give_word_index_and_box_of_each_named_object():
    generated = scenes.generate_scenes(200, seed=6)
    for image, objects, captions, nouns in zip(
        generated.images,
        generated.objects,
        generated.captions,
        generated.nouns,
        strict=True,
    ):
        for caption, caption_nouns in zip(captions, nouns, strict=True):
            words = caption.split(" ")
            assert len(caption_nouns) == len(objects)
            assert [words[i] for i, _ in caption_nouns] == [
                word for word in words if word in SHAPE_WORDS
            ]
            for (_, colour, _), (_, box) in zip(
                mentions(caption), caption_nouns, strict=True
            ):
                mask = colour_pixels(image, colour, tolerance=8)
                assert pixel_box(mask) == box


def test_describe_writes_the_example_captions():
    circle = scenes.SceneObject("circle", "red", "small", (2, 20, 12, 30))
    square = scenes.SceneObject("square", "blue", "large", (30, 10, 50, 30))
    objects, captions, nouns = scenes.describe([square, circle])
    assert objects == (circle, square)
    assert captions == [
        "a small red circle to the left of a large blue square",
        "a large blue square to the right of a small red circle",
        "a small red circle and a large blue square",
        "a red circle to the left of a blue square",
    ]
    assert nouns[1] == [(3, square.box), (11, circle.box)]
    low = scenes.SceneObject("cross", "green", "small", (2, 40, 12, 50))
    _, captions, nouns = scenes.describe(
        [low, circle._replace(box=(0, 0, 10, 10))]
    )
    assert captions[0] == "a small red circle above a small green cross"
    assert captions[1] == "a small green cross below a small red circle"
    assert nouns[0] == [(3, (0, 0, 10, 10)), (8, low.box)]
    _, captions, nouns = scenes.describe([low])
    assert captions == [
        "a small green cross",
        "a green cross",
        "there is a small green cross",
        "a small cross that is green",
    ]
    assert [index for ((index, _),) in nouns] == [3, 2, 5, 2]
    with pytest.raises(ValueError, match="apart"):
        scenes.describe([low, low._replace(colour="red")])


def test_load_scenes_splits_are_disjoint_and_the_test_split_is_fixed():
    splits = scenes.load_scenes(num_train=2_000, num_valid=200, num_test=200)
    assert [
        len(splits[name].images) for name in ("train", "valid", "test")
    ] == [
        2_000,
        200,
        200,
    ]

    def keys(split):
        # Same objects at the same places, in any order.
        return [
            frozenset((o.shape, o.colour, o.size, o.box) for o in objects)
            for objects in split.objects
        ]

    train, valid, test = (
        keys(splits[name]) for name in ("train", "valid", "test")
    )
    assert len(set(train + valid + test)) == len(train + valid + test)
    smaller = scenes.load_scenes(num_train=10, num_valid=5, num_test=200)
    assert smaller["test"].objects == splits["test"].objects
    np.testing.assert_array_equal(smaller["test"].images, splits["test"].images)


def test_twenty_thousand_scenes_are_fast():
    start = time.perf_counter()
    generated = scenes.generate_scenes(20_000, seed=0)
    elapsed = time.perf_counter() - start
    assert generated.images.shape == (20_000, 64, 64, 3)
    # A few seconds on one core; generous for shared CI machines.
    assert elapsed < 20, f"20,000 scenes took {elapsed:.1f} s"


def test_other_image_sizes():
    generated = scenes.generate_scenes(50, image_size=32, seed=0, max_objects=1)
    assert generated.images.shape == (50, 32, 32, 3)
    assert all(len(objects) == 1 for objects in generated.objects)


def test_box_to_grid_mask_on_a_7x7_grid_by_hand():
    # 64 / 7 = 9.14 pixels per cell: columns 10..29 touch cells 1, 2, 3
    # (cell 3 starts at 27.4); rows 20..39 touch cells 2, 3, 4 (cell 4
    # starts at 36.6).
    mask = scenes.box_to_grid_mask((10, 20, 30, 40), 64, (7, 7))
    expected = np.zeros((7, 7), dtype=bool)
    expected[2:5, 1:4] = True
    np.testing.assert_array_equal(mask, expected)
    # Cells of exactly 10 pixels: a box on the cell edges is one cell.
    mask = scenes.box_to_grid_mask((10, 10, 20, 20), 70, (7, 7))
    expected = np.zeros((7, 7), dtype=bool)
    expected[1, 1] = True
    np.testing.assert_array_equal(mask, expected)
    assert scenes.box_to_grid_mask((0, 0, 64, 64), 64, (7, 7)).all()
    # (10, 20, 30, 40) covers 2.57 of column 3's 9.14 pixels (28%) and
    # 3.43 of row 4's (37.5%); the corner cells of rows 2-3 and columns
    # 1-2 are covered 74% to 100%: above half a cell only those stay.
    mask = scenes.box_to_grid_mask((10, 20, 30, 40), 64, (7, 7), 0.5)
    expected = np.zeros((7, 7), dtype=bool)
    expected[2:4, 1:3] = True
    np.testing.assert_array_equal(mask, expected)


def test_box_to_grid_mask_on_a_non_square_image():
    # 40 rows x 80 columns in a 2 x 4 grid: cells of 20 x 20 pixels.
    mask = scenes.box_to_grid_mask((45, 5, 50, 15), (40, 80), (2, 4))
    assert mask.astype(int).tolist() == [[0, 0, 1, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize(
    "box", [(5, 5, 5, 10), (-1, 0, 10, 10), (0, 0, 65, 10), (10, 0, 5, 4)]
)
def test_box_to_grid_mask_refuses_bad_boxes(box):
    with pytest.raises(ValueError, match="box="):
        scenes.box_to_grid_mask(box, 64, (7, 7))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_scenes": -1}, "num_scenes"),
        ({"num_scenes": 2.0}, "num_scenes"),
        ({"num_scenes": 1, "image_size": 16}, "image_size"),
        ({"num_scenes": 1, "max_objects": 3}, "max_objects"),
        ({"num_scenes": 1, "noise": 50}, "noise"),
    ],
)
def test_generate_scenes_refuses_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"Received: {name}="):
        scenes.generate_scenes(**kwargs)


def test_load_scenes_says_when_layouts_run_out():
    # 32 pixels and one object allow some 50,000 distinct layouts.
    with pytest.raises(ValueError, match="Could not draw 60000 distinct"):
        scenes.load_scenes(
            num_train=60_000,
            num_valid=0,
            num_test=0,
            image_size=32,
            max_objects=1,
            noise=0,
        )
