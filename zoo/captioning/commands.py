"""The captioning task's commands: evaluate, caption, export and
cache-features.

Declared once (`COMMANDS`, taken by `CaptioningTask.commands`): the
command line and `zoo.commands.run_command` derive from them.
"""

import pathlib

import numpy as np

from zoo.captioning.options import DATA_OPTIONS
from zoo.captioning.options import EVALUATION_SPLITS
from zoo.commands import Argument
from zoo.commands import Command
from zoo.decoding_options import SEED_OPTION
from zoo.decoding_options import beam_width_option
from zoo.decoding_options import max_examples_option
from zoo.decoding_options import max_length_option
from zoo.options import Option

CAPTION_EPILOG = """examples:
  keras-attention-zoo caption runs/captioning/model.keras cat.jpg dog.png
  keras-attention-zoo caption runs/captioning/model.keras cat.jpg \\
      --beam-width 3 --attention-dir attention/
"""


def run_caption(model, args):
    """Captions image files (or feature rows) and prints one per line."""
    from zoo.captioning.inference import caption_arrays
    from zoo.captioning.inference import caption_texts

    inputs, pictures = _caption_inputs(model, args)
    outputs = caption_arrays(
        model,
        inputs,
        beam_width=args.beam_width,
        length_penalty=args.length_penalty if args.beam_width > 1 else 0.0,
    )
    captions = caption_texts(model, outputs["sequences"])
    for image, caption in zip(args.images, captions, strict=True):
        print(f"{image}: {caption}")
    if args.attention_dir:
        written = write_attention_images(
            args.attention_dir, args.images, pictures, captions, outputs
        )
        print(f"attention images written to {written}")


def _caption_inputs(model, args):
    """What the model takes for `args.images`, and pictures to draw on."""
    from zoo.captioning.encoders import load_image
    from zoo.captioning.model import FEATURES

    if model.encoder_name == FEATURES:
        if not args.features:
            raise ValueError(
                "--features: this model was trained on feature maps; give "
                "the .npz holding the images' rows. Received: none"
            )
        from zoo.data import load_features

        features = load_features(args.features)
        names = [pathlib.Path(image).name for image in args.images]
        rows = []
        for image, name in zip(args.images, names, strict=True):
            if name not in features:
                raise ValueError(
                    f"IMAGE {image}: expected a row of {args.features}, "
                    f"received a name it does not hold ({name!r})"
                )
            rows.append(features.index[name])
        pictures = [
            load_image(image, 224) if pathlib.Path(image).is_file() else None
            for image in args.images
        ]
        return features.features[rows], pictures
    pictures = [load_image(image, model.image_size) for image in args.images]
    return np.stack(pictures), pictures


def write_attention_images(directory, images, pictures, captions, outputs):
    """Writes each image's per-word attention overlay as a PNG."""
    from keras_attention.visualization import image_attention_to_image

    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    import matplotlib.image

    from zoo.captioning.inference import reached_length_limit

    limit_reached = reached_length_limit(outputs["sequences"])
    for image, picture, caption, attention, at_limit in zip(
        images,
        pictures,
        captions,
        outputs["attention"],
        limit_reached,
        strict=True,
    ):
        words = caption.split() + ([] if at_limit else ["<end>"])
        if picture is None:
            picture = np.full((224, 224, 3), 128, np.uint8)
        rendered = image_attention_to_image(
            np.asarray(picture, np.uint8),
            attention[: len(words)],
            words,
            title=pathlib.Path(image).name,
        )
        matplotlib.image.imsave(
            directory / f"{pathlib.Path(image).stem}.png", rendered
        )
    return directory


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
            0.7 if beam_width > 1 else 0.0,
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
        model, config.output_dir, config.beam_width, config.max_length
    )


CAPTION_OPTIONS = (
    beam_width_option(3, "the captions"),
    Option("length_penalty", float, 0.7, "Beam search alpha.", minimum=0.0),
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
        4, "the evaluation's beam search (greedy is reported too)"
    ),
    max_examples_option("Evaluate the first N test images only."),
    SEED_OPTION,
)

EXPORT_OPTIONS = (
    beam_width_option(1, "the exported decoder"),
    max_length_option("caption"),
)

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
        description="Prints one caption per image. With --attention-dir, "
        "also writes IMAGE_NAME.png there: the picture and, per generated "
        "word, where the model looked (its attention upsampled and "
        "blended over the picture).",
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
        "captions and attention.",
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
