"""Generated scenes of coloured shapes with captions: the embedded dataset.

Each scene is a small RGB image holding one or two coloured shapes on a
grey background with light noise, described by several reference
captions::

    "a small red circle to the left of a large blue square"
    "a large blue square to the right of a small red circle"
    "a small red circle and a large blue square"
    "a red circle to the left of a blue square"

Every scene is generated, so the dataset needs no download, is
deterministic under a seed, and the box of every named object is known
exactly: each caption comes with the word position of every shape noun
it names and the pixel box of that shape. A captioner's attention when it
emits "circle" should fall inside the circle's box; `box_to_grid_mask`
turns the box into a mask over the cells of a feature map, to score the
share of attention inside it.

What a scene holds:

* **Shapes** (`SHAPES`): circle, square, triangle (pointing up) and cross
  (a plus sign), each filling its square box edge to edge.
* **Colours** (`COLOURS`): red, green, blue, yellow and purple; the two
  objects of a scene never share a colour, so a colour word names one
  object.
* **Sizes** (`SIZES`): small (box side 16-20% of the image side) or large
  (30-36%), with a gap between the ranges so the word is never a guess.
* **Layout**: the boxes of two objects never overlap and are at least
  `MIN_GAP` pixels apart along the axis of their relation: "to the left
  of"/"to the right of" when they are apart horizontally, "above"/
  "below" otherwise (when apart both ways, the axis with the larger
  distance between the centres).

Captions are lower-case words separated by single spaces, without
punctuation, so a word index is an index into `caption.split(" ")`.
"""

import functools
import random
from typing import NamedTuple

import numpy as np

SHAPES = ("circle", "square", "triangle", "cross")
# RGB values far from each other and from the grey background.
COLOURS = {
    "red": (215, 45, 40),
    "green": (50, 170, 60),
    "blue": (45, 85, 225),
    "yellow": (235, 205, 40),
    "purple": (150, 60, 190),
}
_COLOUR_VALUES = {
    name: np.array(value, np.uint8) for name, value in COLOURS.items()
}
SIZES = ("small", "large")
# Side of an object's box as a fraction of the image side: disjoint ranges.
SIZE_FRACTIONS = {"small": (0.16, 0.20), "large": (0.30, 0.36)}
# Pixels kept free between two objects and between an object and the edge.
MIN_GAP = 2
EDGE_MARGIN = 1
BACKGROUND_LEVELS = (95, 135)
# Largest pixel noise: keeps every colour nearest its own palette entry
# and every noisy value inside [0, 255].
MAX_NOISE = 20
CAPTIONS_PER_SCENE = 4
MIN_IMAGE_SIZE = 32
# Layout draws before a scene too crowded to place its objects is redrawn.
_PLACEMENT_TRIES = 50
# Repeated layouts in a row after which `load_scenes` gives up.
_MAX_REPEATS = 10_000
# Scenes whose noise is drawn in one call: bounds the int16 working copy.
_NOISE_CHUNK = 256


class SceneObject(NamedTuple):
    """One shape of a scene.

    `box` is `(x0, y0, x1, y1)` in pixels, the tight box of the painted
    pixels: columns `x0 <= x < x1`, rows `y0 <= y < y1`.
    """

    shape: str
    colour: str
    size: str
    box: tuple


class Scenes(NamedTuple):
    """Generated scenes: images, objects, captions and noun boxes.

    Attributes:
        images: uint8 array `[num_scenes, image_size, image_size, 3]`.
        objects: per scene, a tuple of its `SceneObject`s (one or two).
        captions: per scene, a list of `CAPTIONS_PER_SCENE` reference
            captions.
        nouns: per scene, per caption, a list of `(word_index, box)`
            pairs: the index of each shape noun in `caption.split(" ")`
            and the box of the object it names.
    """

    images: np.ndarray
    objects: list
    captions: list
    nouns: list


def _check_count(name, value, minimum=0):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. "
            f"Received: {name}={value!r}"
        )


@functools.cache
def shape_mask(shape, side):
    """Returns the boolean `[side, side]` mask of a shape filling its box.

    Every shape touches all four edges of its box, so the tight box of
    the painted pixels is the whole square.

    Args:
        shape: one of `SHAPES`.
        side: the side of the box in pixels, >= 3.

    Returns:
        A read-only boolean NumPy array of shape `[side, side]`.

    Raises:
        ValueError: for an unknown shape or a side below 3.

    Example:

    >>> shape_mask("cross", 3).astype(int).tolist()
    [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    """
    if shape not in SHAPES:
        raise ValueError(
            f"`shape` must be one of {SHAPES}. Received: shape={shape!r}"
        )
    _check_count("side", side, minimum=3)
    rows, columns = np.mgrid[0:side, 0:side]
    centre = (side - 1) / 2
    if shape == "circle":
        # Radius side/2 around the centre pixel reaches every edge.
        mask = (rows - centre) ** 2 + (columns - centre) ** 2 <= (side / 2) ** 2
    elif shape == "square":
        mask = np.ones((side, side), dtype=bool)
    elif shape == "triangle":
        # Apex on the top row, base on the bottom row; the half-width
        # (row + 1) / 2 keeps at least one apex pixel for even sides.
        mask = np.abs(columns - centre) <= (rows + 1) / 2
    else:
        thickness = max(1, round(side / 3))
        start = (side - thickness) // 2
        band = (np.arange(side) >= start) & (
            np.arange(side) < start + thickness
        )
        mask = band[:, None] | band[None, :]
    mask = np.asarray(mask, dtype=bool)
    mask.setflags(write=False)
    return mask


def _apart(box, other):
    """Whether two boxes are at least MIN_GAP pixels apart on some axis."""
    return (
        box[2] + MIN_GAP <= other[0]
        or other[2] + MIN_GAP <= box[0]
        or box[3] + MIN_GAP <= other[1]
        or other[3] + MIN_GAP <= box[1]
    )


def _draw_objects(rng, image_size, num_objects):
    """Draws the objects of one scene, or None if they did not fit."""
    colours = rng.sample(list(COLOURS), num_objects)
    objects = []
    for colour in colours:
        shape = rng.choice(SHAPES)
        size = rng.choice(SIZES)
        low, high = SIZE_FRACTIONS[size]
        side = rng.randint(round(low * image_size), round(high * image_size))
        limit = image_size - EDGE_MARGIN - side
        for _ in range(_PLACEMENT_TRIES):
            x0 = rng.randint(EDGE_MARGIN, limit)
            y0 = rng.randint(EDGE_MARGIN, limit)
            box = (x0, y0, x0 + side, y0 + side)
            if all(_apart(box, other.box) for other in objects):
                break
        else:
            return None
        objects.append(SceneObject(shape, colour, size, box))
    return objects


def _relation(first, second):
    """Orders two objects and names the relation of the first to the second.

    Returns `(a, b, relation, inverse)` with `a` left of (or above) `b`.
    """
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = first.box, second.box
    apart_x = ax1 + MIN_GAP <= bx0 or bx1 + MIN_GAP <= ax0
    apart_y = ay1 + MIN_GAP <= by0 or by1 + MIN_GAP <= ay0
    dx = (bx0 + bx1 - ax0 - ax1) / 2
    dy = (by0 + by1 - ay0 - ay1) / 2
    if apart_x and (not apart_y or abs(dx) >= abs(dy)):
        ordered = (first, second) if dx > 0 else (second, first)
        return (*ordered, "to the left of", "to the right of")
    ordered = (first, second) if dy > 0 else (second, first)
    return (*ordered, "above", "below")


def _phrase(obj, index, with_size=True):
    """Words `a [size] colour shape`, each tagged with its object index."""
    words = ["a"] + ([obj.size] if with_size else []) + [obj.colour, obj.shape]
    return [(word, index) for word in words]


def _words(text):
    return [(word, None) for word in text.split(" ")]


def describe(objects):
    """Writes the reference captions of a scene and locates their nouns.

    Args:
        objects: a sequence of one or two `SceneObject`s. Two objects
            must be `MIN_GAP` pixels apart along some axis.

    Returns:
        A tuple `(objects, captions, nouns)`: the objects ordered left
        to right (or top to bottom) as the first caption names them, a
        list of `CAPTIONS_PER_SCENE` captions, and for each caption a list
        of `(word_index, box)` pairs, one per shape noun.

    Raises:
        ValueError: if there are not one or two objects, or two objects
            are not apart.

    Example:

    >>> circle = SceneObject("circle", "red", "small", (2, 20, 12, 30))
    >>> square = SceneObject("square", "blue", "large", (30, 10, 50, 30))
    >>> _, captions, nouns = describe([square, circle])
    >>> captions[0]
    'a small red circle to the left of a large blue square'
    >>> nouns[0]
    [(3, (2, 20, 12, 30)), (11, (30, 10, 50, 30))]
    """
    objects = tuple(objects)
    if len(objects) == 1:
        (only,) = objects
        tagged = [
            _phrase(only, 0),
            _phrase(only, 0, with_size=False),
            _words("there is") + _phrase(only, 0),
            _words(f"a {only.size}")
            + [(only.shape, 0)]
            + _words(f"that is {only.colour}"),
        ]
    elif len(objects) == 2:
        if not _apart(objects[0].box, objects[1].box):
            raise ValueError(
                f"Two objects must be at least {MIN_GAP} pixels apart. "
                f"Received: objects={objects!r}"
            )
        first, second, relation, inverse = _relation(*objects)
        objects = (first, second)
        tagged = [
            _phrase(first, 0) + _words(relation) + _phrase(second, 1),
            _phrase(second, 1) + _words(inverse) + _phrase(first, 0),
            _phrase(first, 0) + _words("and") + _phrase(second, 1),
            _phrase(first, 0, with_size=False)
            + _words(relation)
            + _phrase(second, 1, with_size=False),
        ]
    else:
        raise ValueError(
            f"A scene has one or two objects. Received: {len(objects)} objects"
        )
    captions = [" ".join(word for word, _ in words) for words in tagged]
    nouns = [
        [
            (position, objects[index].box)
            for position, (word, index) in enumerate(words)
            if index is not None and word == objects[index].shape
        ]
        for words in tagged
    ]
    return objects, captions, nouns


def scene_key(objects):
    """A hashable key of a scene's content: equal keys, equal layouts.

    Two scenes with the same objects (shape, colour, size, box) in any
    order have the same key; background and noise are not part of it.

    Example:

    >>> a = SceneObject("circle", "red", "small", (2, 2, 12, 12))
    >>> b = SceneObject("cross", "blue", "large", (30, 30, 50, 50))
    >>> scene_key([a, b]) == scene_key([b, a])
    True
    """
    return tuple(sorted(tuple(obj) for obj in objects))


def _draw_layouts(rng, count, image_size, max_objects, exclude=None):
    """Draws `count` (objects, background level) layouts.

    With `exclude` (a set of `scene_key`s, updated), the layouts are
    distinct and none is in it.
    """
    layouts = []
    repeats = 0
    while len(layouts) < count:
        objects = _draw_objects(rng, image_size, rng.randint(1, max_objects))
        if objects is None:
            continue
        if exclude is not None:
            key = scene_key(objects)
            if key in exclude:
                # Only small images with one object run out of layouts.
                repeats += 1
                if repeats > _MAX_REPEATS:
                    raise ValueError(
                        f"Could not draw {count} distinct scenes of "
                        f"{image_size} pixels with at most {max_objects} "
                        f"object(s): {len(exclude)} layouts drawn, then "
                        f"{_MAX_REPEATS} repeats in a row. Ask for fewer "
                        "scenes, larger images or two objects."
                    )
                continue
            exclude.add(key)
            repeats = 0
        layouts.append((objects, rng.randint(*BACKGROUND_LEVELS)))
    return layouts


def _render(layouts, image_size, noise, noise_seed):
    """Paints layouts on grey backgrounds and adds uniform noise."""
    backgrounds = np.array([level for _, level in layouts], np.uint8)
    images = np.empty((len(layouts), image_size, image_size, 3), np.uint8)
    images[...] = backgrounds[:, None, None, None]
    for image, (objects, _) in zip(images, layouts, strict=True):
        for obj in objects:
            x0, y0, x1, y1 = obj.box
            np.copyto(
                image[y0:y1, x0:x1],
                _COLOUR_VALUES[obj.colour],
                where=shape_mask(obj.shape, x1 - x0)[..., None],
            )
    if noise:
        # Every colour and background level lies in [MAX_NOISE,
        # 255 - MAX_NOISE], so the noise stays in uint8 without clipping.
        noise_rng = np.random.default_rng(noise_seed)
        for start in range(0, len(images), _NOISE_CHUNK):
            chunk = images[start : start + _NOISE_CHUNK]
            chunk -= np.uint8(noise)
            chunk += noise_rng.integers(
                0, 2 * noise + 1, size=chunk.shape, dtype=np.uint8
            )
    return images


def _check_options(image_size, max_objects, noise):
    _check_count("image_size", image_size, minimum=MIN_IMAGE_SIZE)
    if max_objects not in (1, 2) or isinstance(max_objects, bool):
        raise ValueError(
            "`max_objects` must be 1 or 2. "
            f"Received: max_objects={max_objects!r}"
        )
    if (
        not isinstance(noise, int)
        or isinstance(noise, bool)
        or not 0 <= noise <= MAX_NOISE
    ):
        raise ValueError(
            f"`noise` must be an integer in [0, {MAX_NOISE}]. "
            f"Received: noise={noise!r}"
        )


def _scenes(layouts, image_size, noise, noise_seed):
    images = _render(layouts, image_size, noise, noise_seed)
    objects, captions, nouns = [], [], []
    for layout, _ in layouts:
        ordered, scene_captions, scene_nouns = describe(layout)
        objects.append(ordered)
        captions.append(scene_captions)
        nouns.append(scene_nouns)
    return Scenes(images, objects, captions, nouns)


def generate_scenes(num_scenes, image_size=64, seed=0, max_objects=2, noise=8):
    """Generates captioned scenes of coloured shapes.

    Layouts are drawn with a Python `random.Random(seed)`, the noise with
    a NumPy generator seeded from `seed`: the same arguments always give
    the same scenes. Scenes may repeat; `load_scenes` gives splits
    without repeats.

    Args:
        num_scenes: number of scenes, >= 0.
        image_size: side of the square images in pixels, >= 32.
        seed: integer seed.
        max_objects: 1 or 2: each scene holds 1 to `max_objects` objects,
            the number drawn uniformly.
        noise: amplitude of the uniform integer noise added to every
            channel of every pixel, in [0, 20]; 0 for flat colours.

    Returns:
        A `Scenes` tuple `(images, objects, captions, nouns)`.

    Raises:
        ValueError: for an invalid argument.

    Example:

    >>> scenes = generate_scenes(2, seed=0)
    >>> scenes.images.shape
    (2, 64, 64, 3)
    >>> scenes.captions[0][0]
    'a small red triangle above a large yellow triangle'
    """
    _check_count("num_scenes", num_scenes)
    _check_options(image_size, max_objects, noise)
    rng = random.Random(seed)
    layouts = _draw_layouts(rng, num_scenes, image_size, max_objects)
    return _scenes(layouts, image_size, noise, [seed, 0])


def load_scenes(
    num_train=20_000,
    num_valid=1_000,
    num_test=1_000,
    seed=0,
    image_size=64,
    max_objects=2,
    noise=8,
):
    """Loads train/valid/test splits of generated scenes, no scene repeated.

    The test split is drawn first from its own seed, then the validation
    split, then the training split, each rejecting any layout already
    drawn (`scene_key`: same objects at the same places). So no scene
    repeats within or across splits, and the test scenes depend only on
    `seed`, `num_test` and the image options, not on the other sizes.

    Args:
        num_train: number of training scenes.
        num_valid: number of validation scenes.
        num_test: number of test scenes.
        seed: integer seed.
        image_size: side of the square images in pixels, >= 32.
        max_objects: 1 or 2 objects at most per scene.
        noise: amplitude of the uniform pixel noise, in [0, 20].

    Returns:
        A dict with keys `"train"`, `"valid"` and `"test"`, each a
        `Scenes` tuple (see `generate_scenes`).

    Raises:
        ValueError: for an invalid argument.

    Example:

    >>> splits = load_scenes(num_train=100, num_valid=10, num_test=10)
    >>> [len(splits[name].images) for name in ("train", "valid", "test")]
    [100, 10, 10]
    """
    sizes = {"test": num_test, "valid": num_valid, "train": num_train}
    for name, size in sizes.items():
        _check_count(f"num_{name}", size)
    _check_options(image_size, max_objects, noise)
    # One-object scenes have some 10**5 distinct layouts at 64 pixels;
    # rejection stays cheap well below the total number of layouts.
    max_total = 500_000
    if sum(sizes.values()) > max_total:
        raise ValueError(
            f"`num_train + num_valid + num_test` must be <= {max_total}. "
            f"Received: {sum(sizes.values())}"
        )
    seen = set()
    splits = {}
    for split_index, (name, size) in enumerate(sizes.items()):
        rng = random.Random(f"{seed}-{name}")
        layouts = _draw_layouts(rng, size, image_size, max_objects, seen)
        splits[name] = _scenes(
            layouts, image_size, noise, [seed, 1 + split_index]
        )
    return {name: splits[name] for name in ("train", "valid", "test")}


def box_to_grid_mask(box, image_size, grid_shape, min_overlap=0.0):
    """Turns a pixel box into a boolean mask over a feature grid.

    The image is divided into `grid_shape` equal cells (cell `(i, j)`
    covers rows `[i * H / h, (i + 1) * H / h)` and likewise columns), the
    cells of a convolutional feature map of the image. A cell is in the
    mask when the box covers more than `min_overlap` of its area.

    Args:
        box: `(x0, y0, x1, y1)` in pixels, `x1` and `y1` exclusive.
        image_size: the image's side, or its `(height, width)`.
        grid_shape: `(rows, columns)` of the feature grid, e.g. `(7, 7)`.
        min_overlap: fraction of a cell's area in [0, 1); the default 0
            keeps every cell the box touches.

    Returns:
        A boolean NumPy array of shape `grid_shape`.

    Raises:
        ValueError: if the box is empty or outside the image, or an
            argument is invalid.

    Example:

    >>> box_to_grid_mask((10, 10, 20, 30), 40, (4, 4)).astype(int).tolist()
    [[0, 0, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    """
    height, width = (
        (image_size, image_size) if np.isscalar(image_size) else image_size
    )
    rows, columns = grid_shape
    for name, value in (
        ("image_size", height),
        ("image_size", width),
        ("grid_shape", rows),
        ("grid_shape", columns),
    ):
        if not isinstance(value, (int, np.integer)) or value < 1:
            received = image_size if name == "image_size" else grid_shape
            raise ValueError(
                f"`{name}` must hold positive integers. "
                f"Received: {name}={received!r}"
            )
    if not 0.0 <= min_overlap < 1.0:
        raise ValueError(
            "`min_overlap` must be in [0, 1). "
            f"Received: min_overlap={min_overlap!r}"
        )
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ValueError(
            "`box` must be (x0, y0, x1, y1) with 0 <= x0 < x1 <= width and "
            f"0 <= y0 < y1 <= height ({height}x{width}). Received: box={box!r}"
        )
    row_overlap = _interval_overlaps(y0, y1, height, rows)
    column_overlap = _interval_overlaps(x0, x1, width, columns)
    coverage = np.outer(row_overlap, column_overlap)
    return coverage > min_overlap


def _interval_overlaps(start, end, length, cells):
    """Covered fraction of each of `cells` equal cells of [0, length)."""
    edges = np.arange(cells + 1) * (length / cells)
    covered = np.minimum(end, edges[1:]) - np.maximum(start, edges[:-1])
    return np.clip(covered, 0.0, None) / (length / cells)
