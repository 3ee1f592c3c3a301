"""The captioner's data: splits of images, captions and boxes, and batches.

Three kinds of input, chosen by the options:

- **scenes** (no `data`): generated scenes of coloured shapes
  (`zoo.data.load_scenes`), as uint8 pixels, with the box of every object;
- **features** (`features`): precomputed feature maps of the captioned
  images (`zoo.data.load_features`), kept dequantized in memory;
- **images** (`data` alone, or with `backbone`): image files, decoded,
  resized and batched by `tf.data` (pixels in 0..255; the backbone
  normalises them with its own `preprocess_input`).
"""

import dataclasses
import math

import numpy as np

from zoo.captioning.vocabulary import PAD_ID
from zoo.data import box_to_grid_mask
from zoo.data import filter_by_features
from zoo.data import load_caption_data
from zoo.data import load_features
from zoo.data import load_scenes
from zoo.data.scenes import SHAPES

SPLITS = ("train", "valid", "test")
# Widths of caption batches are rounded up to a multiple of this, so that
# a compiled training step is reused across batches of similar lengths.
_WIDTH_MULTIPLE = 4
SCENE_SPLIT_SIZES = {"valid": 300, "test": 500}


@dataclasses.dataclass
class CaptionSplit:
    """The images of one split and their reference captions.

    Attributes:
        names: image names (file names; `scene_<i>` for scenes).
        references: per image, a tuple of reference captions.
        pixels: uint8 `[N, S, S, 3]` images, or `None`.
        features: float `[N, h, w, C]` feature maps, or `None`.
        paths: per image its file (`pathlib.Path`) or `None`.
        objects: for scenes, per image the tuple of its `SceneObject`s.
        instances: with COCO instances, per image its `ImageInstances`
            (or `None` for an image the instances file does not hold).
    """

    names: list
    references: list
    pixels: np.ndarray | None = None
    features: np.ndarray | None = None
    paths: list | None = None
    objects: list | None = None
    instances: list | None = None

    @property
    def has_boxes(self):
        """Whether the named objects' boxes are known (scenes, COCO)."""
        return self.objects is not None or self.instances is not None

    def __len__(self):
        return len(self.names)

    def select(self, indices):
        """The split restricted to the images at `indices`."""

        def pick(values):
            if values is None:
                return None
            if isinstance(values, np.ndarray):
                return values[indices]
            return [values[index] for index in indices]

        return CaptionSplit(
            **{
                field.name: pick(getattr(self, field.name))
                for field in dataclasses.fields(self)
            }
        )


def load_scene_splits(num_train, image_size, seed):
    """Generated scenes as `CaptionSplit`s, with their objects."""
    scenes = load_scenes(
        num_train=num_train,
        num_valid=SCENE_SPLIT_SIZES["valid"],
        num_test=SCENE_SPLIT_SIZES["test"],
        seed=seed,
        image_size=image_size,
    )
    return {
        name: CaptionSplit(
            names=[f"scene_{name}_{index}" for index in range(len(split[0]))],
            references=[tuple(captions) for captions in split.captions],
            pixels=split.images,
            objects=list(split.objects),
        )
        for name, split in scenes.items()
    }


def load_image_splits(data, image_dir, seed):
    """Captioned image files of any supported layout, as `CaptionSplit`s."""
    splits = load_caption_data(data, image_dir=image_dir, seed=seed)
    return {name: _from_records(splits[name]) for name in SPLITS}


def load_feature_splits(data, image_dir, features_path, seed):
    """Captioned images with precomputed feature maps, as `CaptionSplit`s.

    Raises:
        ValueError: If no training image has features.
    """
    features = load_features(features_path)
    splits = filter_by_features(
        load_caption_data(data, image_dir=image_dir, seed=seed), features
    )
    if not splits["train"]:
        raise ValueError(
            f"features {features_path}: no training image of {data} has a "
            "row (the 'image' names must be the images' file names)"
        )
    result = {}
    for name in SPLITS:
        split = _from_records(splits[name])
        split.features = features.features[features.rows(split.names)]
        result[name] = split
    return result


def _from_records(records):
    return CaptionSplit(
        names=[record.image for record in records],
        references=[tuple(record.captions) for record in records],
        paths=[record.path for record in records],
    )


def image_captions(split, caption_encoder):
    """The captions of every image as one array, images with fewer cycled.

    Returns:
        int32 `[N, K, W]`: the `K` (the most any image has) encoded
        captions of each image, padded with 0 to the longest. An image
        with fewer captions repeats its own, so that every row is a real
        caption.
    """
    encoded = [
        [caption_encoder.encode(caption) for caption in references]
        for references in split.references
    ]
    per_image = max((len(captions) for captions in encoded), default=1)
    cycled = [
        [captions[k % len(captions)] for k in range(per_image)]
        for captions in encoded
    ]
    flat = _pad([ids for captions in cycled for ids in captions])
    return flat.reshape(len(encoded), per_image, -1)


def _pad(sequences):
    width = max((len(ids) for ids in sequences), default=2)
    padded = np.full((len(sequences), width), PAD_ID, np.int32)
    for row, ids in enumerate(sequences):
        padded[row, : len(ids)] = ids
    return padded


def make_dataset(split, caption_encoder, batch_size, image_size, shuffle, seed):
    """Batches `((images, caption_inputs), caption_targets)` of a split.

    A batch holds `batch_size // K` images with all their `K` captions
    (`image_captions`): `images` `[B, ...]`, caption inputs and targets
    `[B, K, W]`. Each image is encoded once for its `K` captions, which
    makes encoding pixels (or fine-tuning a backbone) `K` times cheaper
    than batching (image, caption) pairs. Images are shuffled every epoch
    (with `shuffle`); the caption ids of a batch are cut to its longest
    caption, rounded up to a multiple of 4. Images come from
    `split.pixels`, `split.features` or, decoded and resized, from
    `split.paths`.
    """
    import tensorflow as tf

    captions = image_captions(split, caption_encoder)
    images_per_batch = max(1, batch_size // captions.shape[1])
    dataset = tf.data.Dataset.from_tensor_slices(
        (np.arange(len(captions), dtype=np.int32), captions)
    )
    if shuffle:
        dataset = dataset.shuffle(
            len(captions), seed=seed, reshuffle_each_iteration=True
        )
    dataset = dataset.batch(images_per_batch)
    load_images = image_loader(split, image_size)

    def to_example(indices, ids):
        lengths = tf.reduce_sum(tf.cast(ids != PAD_ID, tf.int32), axis=-1)
        width = _WIDTH_MULTIPLE * (
            (tf.reduce_max(lengths) + _WIDTH_MULTIPLE - 1) // _WIDTH_MULTIPLE
        )
        width = tf.minimum(width, tf.shape(ids)[-1])
        ids = ids[..., :width]
        # The inputs drop the last position and the targets the first.
        return (load_images(indices), ids[..., :-1]), ids[..., 1:]

    return dataset.map(
        to_example, num_parallel_calls=tf.data.AUTOTUNE
    ).prefetch(tf.data.AUTOTUNE)


def image_loader(split, image_size):
    """A TensorFlow function from image indices `[n]` to a batch of images."""
    import tensorflow as tf

    array = split.features if split.features is not None else split.pixels
    if array is not None:
        shape = array.shape[1:]
        dtype = tf.as_dtype(array.dtype)

        def gather(indices):
            return array[indices]

        def load(indices):
            images = tf.numpy_function(gather, [indices], dtype)
            images.set_shape((None,) + shape)
            return tf.cast(images, tf.float32)

        return load
    from zoo.captioning.encoders import decode_image

    if any(path is None for path in split.paths):
        raise ValueError(
            "Training on images needs the image files: give --image-dir "
            "(or --features for precomputed features)"
        )
    paths = tf.constant([str(path) for path in split.paths])

    def load_files(indices):
        return tf.map_fn(
            lambda index: decode_image(
                tf.io.read_file(paths[index]), image_size
            ),
            indices,
            fn_output_signature=tf.TensorSpec(
                (image_size, image_size, 3), tf.float32
            ),
        )

    return load_files


def scene_alignment(objects, words, image_size, grid_shape):
    """Reference cells of the shape nouns of a generated scene caption.

    A noun ("circle") names the object of the scene with that shape whose
    colour is the word before it or the one before that ("a red circle",
    "a small red circle"): colours are unique within a scene, so the
    colour picks the object. Its box covers the reference cells of that
    word's attention.

    Args:
        objects: the scene's `SceneObject`s.
        words: the generated words.
        image_size: the scene's side in pixels.
        grid_shape: `(rows, columns)` of the attention grid.

    Returns:
        A bool `[len(words), rows * columns]` array; rows of words that
        name no object of the scene are all False.
    """
    cells = grid_shape[0] * grid_shape[1]
    alignment = np.zeros((len(words), cells), bool)
    for position, word in enumerate(words):
        if word not in SHAPES:
            continue
        colours = [w for w in words[max(0, position - 2) : position]]
        for obj in objects:
            if obj.shape == word and obj.colour in colours:
                alignment[position] = box_to_grid_mask(
                    obj.box, image_size, grid_shape
                ).reshape(-1)
    return alignment


def model_inputs(split, image_size):
    """What the model takes for the images of a split, as one array.

    The feature maps or pixels held in memory; for a split of image files
    (a backbone model), the files decoded and resized to `image_size`.
    """
    if split.features is not None:
        return split.features
    if split.pixels is not None:
        return split.pixels
    from zoo.captioning.encoders import load_image

    return np.stack([load_image(path, image_size) for path in split.paths])


def reference_alignment(split, index, words, image_size, grid_shape):
    """The reference cells of each generated word of one image.

    Scenes: the shape nouns (`scene_alignment`); COCO with instances: the
    words naming a category present in the image (`instance_alignment`).

    Returns:
        A bool `[len(words), rows * columns]` array, or `None` when the
        image's boxes are unknown.
    """
    if split.objects is not None:
        return scene_alignment(
            split.objects[index], words, image_size, grid_shape
        )
    if split.instances is not None and split.instances[index] is not None:
        from zoo.captioning.coco_instances import instance_alignment

        return instance_alignment(words, split.instances[index], grid_shape)
    return None


def attach_instances(splits, instances_path):
    """Gives every image of the splits its COCO boxes, warning once.

    Args:
        splits: the `CaptionSplit`s.
        instances_path: a COCO `instances_*.json`.
    """
    import warnings

    from zoo.captioning.coco_instances import load_coco_instances

    table = load_coco_instances(instances_path)
    missing = 0
    for split in splits.values():
        split.instances = [table.get(name) for name in split.names]
        missing += sum(entry is None for entry in split.instances)
    if missing:
        warnings.warn(
            f"{instances_path}: no boxes for {missing:,} captioned images "
            "(not scored for attention correctness)",
            stacklevel=2,
        )


def grid_side(num_cells):
    """The side of a square grid of `num_cells` cells, or `None`."""
    side = math.isqrt(num_cells)
    return side if side * side == num_cells else None
