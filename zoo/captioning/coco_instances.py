"""COCO object boxes for attention correctness of captions of COCO images.

COCO's `instances_*.json` (the detection annotations of the captioned
images) gives the box of every object of a known category. A generated
word that names a category present in the image ("man" for `person`,
"bike" for `bicycle`) should attend to the cells of its boxes:
`instance_alignment` gives those cells, the reference of
`keras_attention.metrics.attention_correctness`, as `scene_alignment`
does for generated scenes.

A word is matched to a category through `CATEGORY_WORDS`, a small
hand-written table: each category's name, its plural and a few common
synonyms. A category of several words ("traffic light", "hot dog") is
named by the whole sequence, whose last word (the head noun) takes the
reference; its last word alone names it only where that word is not
generic: "hydrant", "phone" and "table" do, "light", "sign", "dog" (a
dog, not a hot dog) and "bear" (the animal, not a teddy bear) do not.
Phrases are matched longest first, so "hot dog" never names a dog.

References:
    Liu et al. (2017), "Attention Correctness in Neural Image Captioning"
    (AAAI), score attention correctness on COCO through a mapping of
    caption words to COCO categories; Lu et al. (2018), "Neural Baby
    Talk" (CVPR), map caption words to COCO categories for their visual
    words. Such mappings are where lists like `CATEGORY_WORDS` come from;
    this one is written for this module, not copied from theirs.
"""

import math
from typing import NamedTuple

import numpy as np

from zoo.data.scenes import box_to_grid_mask
from zoo.files import json_field
from zoo.files import read_json
from zoo.files import resolve_path


class ImageInstances(NamedTuple):
    """The size of one COCO image and its named objects.

    Attributes:
        width: the image's width in pixels.
        height: the image's height in pixels.
        objects: a tuple of `(category_name, box)`, `box` being
            `(x0, y0, x1, y1)` in pixels (floats, `x1`/`y1` exclusive),
            clipped to the image, in the order of the annotations.
    """

    width: int
    height: int
    objects: tuple


# The phrases a caption uses for each of the 80 COCO categories. A phrase
# of several words names its category only as that whole sequence, and
# marks its last word (the head noun: "light" of "traffic light").
# Generic head nouns are left out on their own ("light", "sign", "bear"
# stays the animal), and so is "orange" (more often a colour than the
# fruit in captions: only "oranges" counts). Each phrase names one
# category.
CATEGORY_WORDS = {
    "person": (
        "person", "persons", "people", "man", "men", "woman", "women",
        "boy", "boys", "girl", "girls", "child", "children", "kid", "kids",
        "guy", "guys", "lady", "ladies",
    ),
    "bicycle": ("bicycle", "bicycles", "bike", "bikes"),
    "car": ("car", "cars"),
    "motorcycle": ("motorcycle", "motorcycles", "motorbike", "motorbikes"),
    "airplane": (
        "airplane", "airplanes", "plane", "planes", "jet", "jets",
    ),
    "bus": ("bus", "buses"),
    "train": ("train", "trains"),
    "truck": ("truck", "trucks"),
    "boat": ("boat", "boats"),
    "traffic light": ("traffic light", "traffic lights"),
    "fire hydrant": ("fire hydrant", "fire hydrants", "hydrant", "hydrants"),
    "stop sign": ("stop sign", "stop signs"),
    "parking meter": (
        "parking meter", "parking meters", "meter", "meters",
    ),
    "bench": ("bench", "benches"),
    "bird": ("bird", "birds"),
    "cat": ("cat", "cats", "kitten", "kittens"),
    "dog": ("dog", "dogs", "puppy", "puppies"),
    "horse": ("horse", "horses"),
    "sheep": ("sheep",),
    "cow": ("cow", "cows"),
    "elephant": ("elephant", "elephants"),
    "bear": ("bear", "bears"),
    "zebra": ("zebra", "zebras"),
    "giraffe": ("giraffe", "giraffes"),
    "backpack": ("backpack", "backpacks"),
    "umbrella": ("umbrella", "umbrellas"),
    "handbag": ("handbag", "handbags", "purse", "purses"),
    "tie": ("tie", "ties"),
    "suitcase": ("suitcase", "suitcases", "luggage"),
    "frisbee": ("frisbee", "frisbees"),
    "skis": ("ski", "skis"),
    "snowboard": ("snowboard", "snowboards"),
    "sports ball": (
        "ball", "balls", "soccer ball", "tennis ball", "football",
    ),
    "kite": ("kite", "kites"),
    "baseball bat": ("baseball bat", "baseball bats", "bat", "bats"),
    "baseball glove": (
        "baseball glove", "baseball gloves", "glove", "gloves", "mitt",
    ),
    "skateboard": ("skateboard", "skateboards"),
    "surfboard": ("surfboard", "surfboards"),
    "tennis racket": (
        "tennis racket", "tennis rackets", "racket", "rackets", "racquet",
    ),
    "bottle": ("bottle", "bottles"),
    "wine glass": ("wine glass", "wine glasses"),
    "cup": ("cup", "cups", "mug", "mugs"),
    "fork": ("fork", "forks"),
    "knife": ("knife", "knives"),
    "spoon": ("spoon", "spoons"),
    "bowl": ("bowl", "bowls"),
    "banana": ("banana", "bananas"),
    "apple": ("apple", "apples"),
    "sandwich": ("sandwich", "sandwiches"),
    "orange": ("oranges",),
    "broccoli": ("broccoli",),
    "carrot": ("carrot", "carrots"),
    "hot dog": ("hot dog", "hot dogs"),
    "pizza": ("pizza", "pizzas"),
    "donut": ("donut", "donuts", "doughnut", "doughnuts"),
    "cake": ("cake", "cakes"),
    "chair": ("chair", "chairs"),
    "couch": ("couch", "couches", "sofa", "sofas"),
    "potted plant": (
        "potted plant", "potted plants", "plant", "plants",
    ),
    "bed": ("bed", "beds"),
    "dining table": ("dining table", "dining tables", "table", "tables"),
    "toilet": ("toilet", "toilets"),
    "tv": ("tv", "tvs", "television", "televisions"),
    "laptop": ("laptop", "laptops"),
    "mouse": ("mouse",),
    "remote": ("remote", "remotes"),
    "keyboard": ("keyboard", "keyboards"),
    "cell phone": (
        "cell phone", "cell phones", "phone", "phones", "cellphone",
        "cellphones",
    ),
    "microwave": ("microwave", "microwaves"),
    "oven": ("oven", "ovens"),
    "toaster": ("toaster", "toasters"),
    "sink": ("sink", "sinks"),
    "refrigerator": ("refrigerator", "refrigerators", "fridge"),
    "book": ("book", "books"),
    "clock": ("clock", "clocks"),
    "vase": ("vase", "vases"),
    "scissors": ("scissors",),
    "teddy bear": ("teddy bear", "teddy bears", "teddy"),
    "hair drier": ("hair drier", "hair dryer", "hairdryer"),
    "toothbrush": ("toothbrush", "toothbrushes"),
}  # fmt: skip

_PHRASE_CATEGORIES = {
    tuple(phrase.split()): category
    for category, phrases in CATEGORY_WORDS.items()
    for phrase in phrases
}
_LONGEST_PHRASE = max(len(phrase) for phrase in _PHRASE_CATEGORIES)


def load_coco_instances(path, cache_dir=None):
    """Reads the object boxes of a COCO `instances_*.json` file.

    The file holds `images` (`id`, `file_name`, `width`, `height`),
    `categories` (`id`, `name`) and `annotations` (`image_id`,
    `category_id`, `bbox` `[x, y, width, height]` in pixels, optional
    `iscrowd`). Behaviour: crowd annotations (`iscrowd: 1`, one box
    around a crowd of objects rather than one object) are skipped, as are
    boxes with no area inside their image; the others are clipped to
    the image. Every image is kept, even one without any object.

    Args:
        path: the JSON file, a local path or a URL (downloaded once with
            `keras.utils.get_file`).
        cache_dir: download cache for URLs; `None` for Keras' default.

    Returns:
        A dict from each image's `file_name` to its `ImageInstances`.

    Raises:
        FileNotFoundError: if a local `path` does not exist.
        ValueError: naming the file and the record (e.g.
            `annotations[3]`) for invalid JSON, a missing key or a value
            of the wrong type, a repeated image id, file name or category
            id, an annotation of an unknown image or category, a `bbox`
            that is not 4 numbers or has a negative side, or an image
            size that is not positive.

    Example:

    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "instances_val2017.json"
    >>> _ = path.write_text(json.dumps({
    ...     "images": [
    ...         {"id": 7, "file_name": "7.jpg", "width": 64, "height": 48}
    ...     ],
    ...     "categories": [{"id": 18, "name": "dog"}],
    ...     "annotations": [
    ...         {"image_id": 7, "category_id": 18, "bbox": [8, 4, 60, 20]}
    ...     ],
    ... }))
    >>> instances = load_coco_instances(path)
    >>> instances["7.jpg"].width, instances["7.jpg"].height
    (64, 48)
    >>> instances["7.jpg"].objects
    (('dog', (8.0, 4.0, 64.0, 24.0)),)
    """
    path = resolve_path(path, cache_dir)
    data = read_json(path)
    images = _read_images(json_field(data, "images", path, "", list), path)
    categories = _read_categories(
        json_field(data, "categories", path, "", list), path
    )
    objects = {image_id: [] for image_id in images}
    annotations = json_field(data, "annotations", path, "", list)
    for index, annotation in enumerate(annotations):
        where = f"annotations[{index}]"
        image_id = json_field(annotation, "image_id", path, where, (int, str))
        category_id = json_field(
            annotation, "category_id", path, where, (int, str)
        )
        for key, value, known in (
            ("image_id", image_id, images),
            ("category_id", category_id, categories),
        ):
            if value not in known:
                table = "images" if key == "image_id" else "categories"
                raise ValueError(
                    f"{path}: {where} has {key}={value!r}, which no entry "
                    f"of {table!r} has."
                )
        _, width, height = images[image_id]
        box = _read_box(annotation, path, where, width, height)
        crowd = _is_crowd(annotation, path, where)
        if box is not None and not crowd:
            objects[image_id].append((categories[category_id], box))
    return {
        file_name: ImageInstances(width, height, tuple(objects[image_id]))
        for image_id, (file_name, width, height) in images.items()
    }


def _read_images(images, path):
    """`{id: (file_name, width, height)}` of the `images` records."""
    result, file_names = {}, set()
    for index, image in enumerate(images):
        where = f"images[{index}]"
        image_id = json_field(image, "id", path, where, (int, str))
        file_name = json_field(image, "file_name", path, where, str)
        if image_id in result:
            raise ValueError(f"{path}: {where} repeats id {image_id!r}.")
        if file_name in file_names:
            raise ValueError(
                f"{path}: {where} repeats file_name {file_name!r}."
            )
        size = []
        for key in ("width", "height"):
            value = json_field(image, key, path, where, int)
            if value < 1:
                raise ValueError(
                    f"{path}: {where}[{key!r}] must be positive, found {value}."
                )
            size.append(value)
        file_names.add(file_name)
        result[image_id] = (file_name, *size)
    return result


def _read_categories(categories, path):
    """`{id: name}` of the `categories` records."""
    result = {}
    for index, category in enumerate(categories):
        where = f"categories[{index}]"
        category_id = json_field(category, "id", path, where, (int, str))
        if category_id in result:
            raise ValueError(f"{path}: {where} repeats id {category_id!r}.")
        result[category_id] = json_field(category, "name", path, where, str)
    return result


def _read_box(annotation, path, where, width, height):
    """The annotation's box clipped to the image, or `None` if empty."""
    bbox = json_field(annotation, "bbox", path, where, list)
    numbers = all(
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        for value in bbox
    )
    if len(bbox) != 4 or not numbers:
        raise ValueError(
            f"{path}: {where}['bbox'] must be 4 numbers [x, y, width, "
            f"height], found {bbox!r:.80}."
        )
    x, y, box_width, box_height = (float(value) for value in bbox)
    if box_width < 0 or box_height < 0:
        raise ValueError(
            f"{path}: {where}['bbox'] has a negative width or height: {bbox!r}."
        )
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1 = min(x + box_width, float(width))
    y1 = min(y + box_height, float(height))
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


def _is_crowd(annotation, path, where):
    if "iscrowd" not in annotation:
        return False
    crowd = annotation["iscrowd"]
    if crowd not in (0, 1) or isinstance(crowd, float):
        raise ValueError(
            f"{path}: {where}['iscrowd'] must be 0 or 1, found {crowd!r:.80}."
        )
    return bool(crowd)


def named_categories(words):
    """The category each generated word names, by `CATEGORY_WORDS`.

    Phrases are matched left to right, the longest first, so "hot dog"
    names `hot dog` (not `dog`); a phrase of several words is assigned to
    its last word.

    Args:
        words: the generated words, lowercase.

    Returns:
        A list of `(position, category_name)`, in word order.

    Example:

    >>> named_categories("a man holding a hot dog".split())
    [(1, 'person'), (5, 'hot dog')]
    """
    named = []
    position = 0
    while position < len(words):
        for length in range(_LONGEST_PHRASE, 0, -1):
            phrase = tuple(words[position : position + length])
            if len(phrase) == length and phrase in _PHRASE_CATEGORIES:
                end = position + length - 1
                named.append((end, _PHRASE_CATEGORIES[phrase]))
                position = end + 1
                break
        else:
            position += 1
    return named


def instance_alignment(words, instances, grid_shape):
    """Reference cells of the words of a caption that name COCO objects.

    A word that names a category (`named_categories`) present in the
    image refers to all its objects of that category ("two dogs", or "a
    dog" when it is not said which): its reference cells are the union of
    the cells of all their boxes. The encoders resize every image to a
    square, so the grid spans the whole image whatever its aspect ratio:
    boxes map to cells in proportion to the image's width and height
    (`box_to_grid_mask` with `(height, width)`).

    Args:
        words: the generated words, lowercase.
        instances: the image's `ImageInstances`.
        grid_shape: `(rows, columns)` of the attention grid.

    Returns:
        A bool `[len(words), rows * columns]` array; rows of words that
        name no category present in the image are all False.

    Raises:
        ValueError: if `grid_shape` is not two positive integers.

    Example:

    >>> instances = ImageInstances(80, 40, (("dog", (0, 0, 40, 20)),))
    >>> instance_alignment(["a", "dog"], instances, (2, 2)).astype(int)
    array([[0, 0, 0, 0],
           [1, 0, 0, 0]])
    """
    if len(grid_shape) != 2 or not all(
        isinstance(side, (int, np.integer)) and side >= 1 for side in grid_shape
    ):
        raise ValueError(
            "`grid_shape` must be two positive integers (rows, columns). "
            f"Received: grid_shape={grid_shape!r}"
        )
    rows, columns = grid_shape
    alignment = np.zeros((len(words), rows * columns), bool)
    category_cells = {}
    for category, box in instances.objects:
        mask = box_to_grid_mask(
            box, (instances.height, instances.width), grid_shape
        ).reshape(-1)
        if category in category_cells:
            category_cells[category] = category_cells[category] | mask
        else:
            category_cells[category] = mask
    for position, category in named_categories(words):
        if category in category_cells:
            alignment[position] = category_cells[category]
    return alignment
