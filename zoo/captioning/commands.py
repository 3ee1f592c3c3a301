"""The captioning task's commands: evaluate, caption, export and
cache-features.

Declared once (`COMMANDS`, taken by `CaptioningTask.commands`): the
command line and `zoo.commands.run_command` derive from them.
"""

import pathlib

import numpy as np

from zoo.captioning.options import BEAM_WIDTH
from zoo.captioning.options import DATA_OPTIONS
from zoo.captioning.options import EVALUATION_SPLITS
from zoo.captioning.options import LENGTH_PENALTY
from zoo.commands import Argument
from zoo.commands import Command
from zoo.commands import ItemErrors
from zoo.commands import first_line
from zoo.decoding_options import SEED_OPTION
from zoo.decoding_options import beam_width_option
from zoo.decoding_options import length_penalty_option
from zoo.decoding_options import max_examples_option
from zoo.decoding_options import max_length_option
from zoo.options import Option

CAPTION_EPILOG = """examples:
  keras-attention-zoo caption runs/captioning/model.keras cat.jpg dog.png
  keras-attention-zoo caption runs/captioning/model.keras cat.jpg \\
      --beam-width 3 --attention-dir attention/
"""


def run_caption(model, args):
    """Captions image files (or feature rows) and prints one per line.

    An image that cannot be read or decoded (or, for a model on feature
    maps, has no row) is reported and the others are captioned; the
    command then ends with one error line per such image (`ItemErrors`,
    exit status 2).
    """
    from zoo.attention_images import check_targets
    from zoo.attention_images import image_name
    from zoo.captioning.inference import caption_arrays
    from zoo.captioning.inference import caption_texts

    images, inputs, errors = _caption_inputs(model, args)
    if args.attention_dir:
        # Refused before captioning: nothing of the user's is replaced.
        names = dict.fromkeys(image_name(image) for image in images)
        check_targets(args.attention_dir, names, args.images)
    if images:
        outputs = caption_arrays(
            model,
            inputs,
            beam_width=args.beam_width,
            length_penalty=args.length_penalty if args.beam_width > 1 else 0.0,
            max_length=args.max_length,
        )
        captions = caption_texts(model, outputs["sequences"])
        for image, caption in zip(images, captions, strict=True):
            print(f"{image}: {caption}")
        if args.attention_dir:
            pictures = _pictures(model, images, inputs)
            written = write_attention_images(
                args.attention_dir,
                images,
                pictures,
                captions,
                outputs,
                inputs=args.images,
            )
            for image, path in written.items():
                print(f"attention image of {image} written to {path}")
    if errors:
        raise ItemErrors(errors)


def _caption_inputs(model, args):
    """What the model takes for those of `args.images` it can take.

    Returns:
        `(images, inputs, errors)`: the images kept, in order, what the
        model takes for them (pixels or feature maps, stacked), and one
        line per image left out, naming it and why.
    """
    from zoo.captioning.encoders import load_image
    from zoo.captioning.model import FEATURES

    if model.encoder_name == FEATURES:
        return _feature_inputs(model, args)
    images, pixels, errors = [], [], []
    for image in args.images:
        try:
            pixels.append(load_image(image, model.image_size))
        except (ValueError, OSError) as error:
            errors.append(f"IMAGE {image}: {first_line(error)}")
            continue
        images.append(image)
    return images, np.stack(pixels) if pixels else None, errors


def _feature_inputs(model, args):
    """`_caption_inputs` of a model on feature maps: rows of --features."""
    if not args.features:
        raise ValueError(
            "--features: this model was trained on feature maps; give "
            "the .npz holding the images' rows. Received: none"
        )
    from zoo.data import load_features

    features = load_features(args.features)
    shape = tuple(features.features.shape[1:])
    if model.feature_shape is not None and shape != model.feature_shape:
        raise ValueError(
            f"--features: expected feature maps of shape "
            f"{model.feature_shape} (the model's). Received: {shape} in "
            f"{args.features}"
        )
    images, rows, errors = [], [], []
    for image in args.images:
        name = pathlib.Path(image).name
        if name not in features:
            errors.append(
                f"IMAGE {image}: expected a row of {args.features}, "
                f"received a name it does not hold ({name!r})"
            )
            continue
        images.append(image)
        rows.append(features.index[name])
    return images, features.features[rows] if rows else None, errors


def _pictures(model, images, inputs):
    """The pictures to draw the attention on: the images as decoded, or,
    for a model on feature maps, the image files where they can be read
    (`None`, a grey square, where not)."""
    from zoo.captioning.encoders import load_image
    from zoo.captioning.model import FEATURES

    if model.encoder_name != FEATURES:
        return list(inputs)
    pictures = []
    for image in images:
        try:
            pictures.append(load_image(image, 224))
        except (ValueError, OSError):
            pictures.append(None)
    return pictures


def write_attention_images(
    directory, images, pictures, captions, outputs, inputs=()
):
    """Writes each image's per-word attention overlay as a PNG.

    Named by `zoo.attention_images.image_name` (unique per input path) and
    written by `zoo.attention_images.write_images`: an input, or a file
    that no zoo command wrote, is never replaced.

    Returns:
        A dict from each image (as given) to the path of its overlay.
    """
    from keras_attention.visualization import image_attention_to_image
    from zoo.attention_images import image_name
    from zoo.attention_images import write_images
    from zoo.captioning.inference import reached_length_limit

    limit_reached = reached_length_limit(outputs["sequences"])
    rendered, paths = {}, {}
    for image, picture, caption, attention, at_limit in zip(
        images,
        pictures,
        captions,
        outputs["attention"],
        limit_reached,
        strict=True,
    ):
        name = image_name(image)
        paths[image] = pathlib.Path(directory) / name
        if name in rendered:  # The same input given twice.
            continue
        words = caption.split() + ([] if at_limit else ["<end>"])
        if picture is None:
            picture = np.full((224, 224, 3), 128, np.uint8)
        rendered[name] = image_attention_to_image(
            np.asarray(picture, np.uint8),
            attention[: len(words)],
            words,
            title=pathlib.Path(image).name,
        )
    write_images(directory, list(rendered.items()), inputs=inputs)
    return paths


def evaluate_captioner(model, args):
    """Prints the test scores of a captioner (`evaluate MODEL`).

    Returns:
        A dict from beam width to its scores.
    """
    from zoo.captioning import data as caption_data
    from zoo.captioning.inference import evaluate_split
    from zoo.captioning.model import FEATURES
    from zoo.captioning.model import PIXELS
    from zoo.captioning.task import SCORING
    from zoo.captioning.task import concatenate_splits
    from zoo.captioning.task import format_scores
    from zoo.captioning.task import load_pixels

    if args.data is None:
        splits = caption_data.load_scene_splits(0, model.image_size, args.seed)
    elif model.encoder_name == FEATURES:
        if not args.features:
            raise ValueError(
                "--features: this model was trained on feature maps; give "
                "the .npz of the images. Received: none"
            )
        splits = caption_data.load_feature_splits(
            args.data, args.image_dir, args.features, args.seed
        )
    else:
        splits = caption_data.load_image_splits(
            args.data, args.image_dir, args.seed
        )
        if model.encoder_name == PIXELS:
            load_pixels(splits, model.image_size)
    if args.instances:
        caption_data.attach_instances(splits, args.instances)
    split = splits["test"]
    if args.eval_splits == "valid+test":
        split = concatenate_splits(splits["valid"], split)
    if args.max_examples is not None:
        count = min(args.max_examples, len(split))
        split = split.select(list(range(count)))
    print(f"test scores on {args.eval_splits} ({SCORING}):")
    results = {}
    for beam_width in sorted({1, args.beam_width}):
        scores, _, _ = evaluate_split(
            model,
            split,
            beam_width,
            args.length_penalty if beam_width > 1 else 0.0,
            model.image_size,
        )
        results[beam_width] = scores
        print(format_scores(f"beam {beam_width}", scores))
    return results


def run_cache_features(args):
    """Writes the feature maps of every image of `args.data`."""
    from zoo.captioning.encoders import cache_features
    from zoo.data import load_caption_data

    if not args.backbone:
        raise ValueError(
            "--backbone: expected a keras.applications backbone such as "
            "mobilenet_v2, received none"
        )
    splits = load_caption_data(args.data, image_dir=args.image_dir)
    images = [image for split in splits.values() for image in split]
    missing = [image.image for image in images if image.path is None]
    if missing:
        raise ValueError(
            f"DATA {args.data}: expected image files, received captions "
            f"without an image folder (e.g. {missing[0]!r}); give "
            "--image-dir"
        )
    path = cache_features(
        images,
        args.output,
        args.backbone,
        weights=args.backbone_weights,
        image_size=args.image_size,
        batch_size=args.batch_size,
    )
    print(f"features of {len(images):,} images written to {path}")
    print(f"train on them with: --data {args.data} --features {path}")


def export_captioner_command(model, config):
    """Writes the SavedModel of `export MODEL OUTPUT_DIR`; returns its path."""
    from zoo.captioning.export import export_captioner

    return export_captioner(
        model,
        config.output_dir,
        config.beam_width,
        config.max_length,
        config.length_penalty,
    )


# What `caption` decodes with, and so what `export` serves: a default
# export captions as a default `caption` does.
CAPTION_DECODING_OPTIONS = (
    beam_width_option(BEAM_WIDTH, "the captions"),
    length_penalty_option(LENGTH_PENALTY),
    max_length_option("caption"),
)

CAPTION_OPTIONS = CAPTION_DECODING_OPTIONS + (
    Option(
        "attention_dir",
        str,
        None,
        "Folder for the per-word attention images.",
    ),
    Option(
        "features",
        str,
        None,
        "For a model trained on features: the .npz holding the images' "
        "feature maps (IMAGE names their rows).",
    ),
)

EVALUATE_OPTIONS = DATA_OPTIONS + (
    Option(
        "eval_splits",
        str,
        "test",
        "The images reported on.",
        choices=EVALUATION_SPLITS,
    ),
    beam_width_option(
        BEAM_WIDTH, "the evaluation's beam search (greedy is reported too)"
    ),
    length_penalty_option(LENGTH_PENALTY),
    max_examples_option("Evaluate the first N test images only."),
    SEED_OPTION,
)

EXPORT_OPTIONS = CAPTION_DECODING_OPTIONS

CACHE_FEATURES_OPTIONS = (
    Option(
        "backbone",
        str,
        None,
        "The keras.applications backbone, e.g. mobilenet_v2 (required).",
    ),
    Option(
        "backbone_weights",
        str,
        "imagenet",
        '"imagenet" or a local weights file of the headless backbone.',
    ),
    Option("image_dir", str, None, "The image folder, if not the data's."),
    Option(
        "image_size", int, None, "Side of the resized images.", positive=True
    ),
    Option("batch_size", int, 32, "Images per batch.", positive=True),
)

COMMANDS = (
    Command(
        "evaluate",
        help="score a saved model on its task's test split",
        run=evaluate_captioner,
        options=EVALUATE_OPTIONS,
        description="Prints BLEU-1..4 and CIDEr-D against all references, "
        "caption accuracy, the share of captions at the length limit and, "
        "on the generated scenes or with --instances, attention "
        "correctness, greedy and with beam search.",
    ),
    Command(
        "caption",
        help="caption image files with a trained captioner",
        run=run_caption,
        arguments=(
            Argument("images", "image files", nargs="+", metavar="IMAGE"),
        ),
        options=CAPTION_OPTIONS,
        description="Prints one caption per image. An image that cannot "
        "be read or decoded is named on one error line at the end, after "
        "the others' captions, and the exit status is then 2. With "
        "--attention-dir, also writes IMAGE_NAME.DIGEST.png there (DIGEST "
        "from the image's whole path) and says where: the picture and, "
        "per generated word, where the model looked (its attention "
        "upsampled and blended over the picture). An input, or a file "
        "there that no zoo command wrote, is never replaced: the command "
        "refuses it before captioning.",
        epilog=CAPTION_EPILOG,
    ),
    Command(
        "export",
        help="write a TensorFlow SavedModel of a saved model",
        run=export_captioner_command,
        arguments=(
            Argument("output_dir", "folder to write the SavedModel to"),
        ),
        options=EXPORT_OPTIONS,
        description="Writes a SavedModel that maps encoded images to "
        "captions and attention, with an 'ok' flag per image (False, and "
        "an empty caption, for one it cannot decode).",
    ),
    Command(
        "cache-features",
        help="write the feature maps of captioned images for --features",
        run=run_cache_features,
        arguments=(
            Argument("data", "captioned images, as `train captioning --data`"),
            Argument("output", "the .npz file to write"),
        ),
        options=CACHE_FEATURES_OPTIONS,
        description="Runs a keras.applications backbone over every image "
        "of DATA (any caption layout `train captioning --data` reads) and "
        "writes OUTPUT.npz ('features' [N, h, w, C] float16 and 'image' "
        "names), the file `train captioning --features` takes.",
        takes_model=False,
    ),
)
