"""The captioner's commands of `keras-attention-zoo`: caption, evaluate,
cache-features (and `export`, in `zoo.captioning.export`)."""

import pathlib

import numpy as np

from zoo.captioning.options import EVALUATION_SPLITS

CAPTION_EPILOG = """examples:
  keras-attention-zoo caption runs/captioning/model.keras cat.jpg dog.png
  keras-attention-zoo caption runs/captioning/model.keras cat.jpg \\
      --beam-width 3 --attention-dir attention/
"""


def add_caption_command(commands, positive_int):
    """`caption MODEL IMAGE...`: prints captions, writes attention PNGs."""
    import argparse

    caption = commands.add_parser(
        "caption",
        help="caption image files with a trained captioner",
        description="Prints one caption per image. With --attention-dir, "
        "also writes IMAGE_NAME.png there: the picture and, per generated "
        "word, where the model looked (its attention upsampled and "
        "blended over the picture).",
        epilog=CAPTION_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    caption.add_argument("model")
    caption.add_argument("images", nargs="+", metavar="IMAGE")
    caption.add_argument("--beam-width", type=positive_int, default=3)
    caption.add_argument(
        "--length-penalty", type=float, default=0.7, help="beam search alpha"
    )
    caption.add_argument(
        "--attention-dir",
        default=None,
        help="folder for the per-word attention images",
    )
    caption.add_argument(
        "--features",
        default=None,
        help="for a model trained on features: the .npz holding the "
        "images' feature maps (IMAGE names their rows)",
    )


def add_evaluate_arguments(parser):
    """The captioner's flags of `evaluate` (`--data` is shared)."""
    parser.add_argument(
        "--image-dir", default=None, help="captioning: the image folder"
    )
    parser.add_argument(
        "--features",
        default=None,
        help="captioning: precomputed features (.npz) of the images",
    )
    parser.add_argument(
        "--instances",
        default=None,
        help="captioning: COCO instances_*.json, for attention correctness",
    )
    parser.add_argument(
        "--eval-splits",
        default="test",
        choices=EVALUATION_SPLITS,
        help="captioning: the images reported on",
    )


def add_cache_features_command(commands, positive_int):
    """`cache-features DATA OUTPUT --backbone NAME`."""
    cache = commands.add_parser(
        "cache-features",
        help="write the feature maps of captioned images for --features",
        description="Runs a keras.applications backbone over every image "
        "of DATA (any caption layout `train captioning --data` reads) and "
        "writes OUTPUT.npz ('features' [N, h, w, C] float16 and 'image' "
        "names), the file `train captioning --features` takes.",
    )
    cache.add_argument("data")
    cache.add_argument("output")
    cache.add_argument("--backbone", required=True)
    cache.add_argument(
        "--backbone-weights",
        default="imagenet",
        help='"imagenet" or a local weights file of the headless backbone',
    )
    cache.add_argument("--image-dir", default=None)
    cache.add_argument("--image-size", type=positive_int, default=None)
    cache.add_argument("--batch-size", type=positive_int, default=32)


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
    """Prints the test scores of a captioner (`evaluate MODEL`)."""
    from zoo.captioning import data as caption_data
    from zoo.captioning.inference import evaluate_split
    from zoo.captioning.model import FEATURES
    from zoo.captioning.model import PIXELS
    from zoo.captioning.task import SCORING
    from zoo.captioning.task import _concatenate
    from zoo.captioning.task import _load_pixels
    from zoo.captioning.task import format_scores

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
            _load_pixels(splits, model.image_size)
    if args.instances:
        caption_data.attach_instances(splits, args.instances)
    split = splits["test"]
    if args.eval_splits == "valid+test":
        split = _concatenate(splits["valid"], split)
    if args.max_examples is not None:
        count = min(args.max_examples, len(split))
        split = split.select(list(range(count)))
    print(f"test scores on {args.eval_splits} ({SCORING}):")
    for beam_width in sorted({1, args.beam_width}):
        scores, _, _ = evaluate_split(
            model,
            split,
            beam_width,
            0.7 if beam_width > 1 else 0.0,
            model.image_size,
        )
        print(format_scores(f"beam {beam_width}", scores))


def run_cache_features(args):
    """Writes the feature maps of every image of `args.data`."""
    from zoo.captioning.encoders import cache_features
    from zoo.data import load_caption_data

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
