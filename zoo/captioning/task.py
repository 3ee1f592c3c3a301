"""The captioning task of the zoo: what it gives `zoo.trainer.train`.

Data (generated scenes, or captioned images as files or precomputed
features), the word vocabulary, `tf.data` batches, the Show-Attend-Tell
model, the `AttentionSummary` samples (the picture with each word's
attention; for scenes with the named objects' boxes), and the evaluation:
BLEU-1..4 and CIDEr-D against all references, caption accuracy, the share
of captions that run to the length limit and, for scenes, attention
correctness, for greedy and beam-search decoding.
"""

import keras
import numpy as np

from zoo.captioning import data as caption_data
from zoo.captioning.commands import COMMANDS
from zoo.captioning.inference import caption_arrays
from zoo.captioning.inference import caption_texts
from zoo.captioning.inference import evaluate_split
from zoo.captioning.inference import reached_length_limit
from zoo.captioning.model import FEATURES
from zoo.captioning.model import PIXELS
from zoo.captioning.model import ShowAttendTell
from zoo.captioning.options import OPTIONS
from zoo.captioning.vocabulary import CaptionEncoder
from zoo.captioning.vocabulary import build_vocabulary
from zoo.fingerprints import fingerprint
from zoo.trainer import Task
from zoo.trainer import TrainingData
from zoo.trainer import training_summary

SCORING = "lowercased, sacreBLEU 13a tokenization, all references"
# Model settings per kind of input: the generated scenes are small and
# simple; real images get the sizes of Xu et al. scaled to 2 CPU cores.
MODEL_DEFAULTS = {
    "scenes": {
        "embedding_dim": 64,
        "units": 128,
        "dropout": 0.2,
        "doubly_stochastic_weight": 0.0,
        "max_caption_length": 14,
        "min_word_count": 1,
        "epochs": 30,
        "image_size": 64,
        # The default job trains for a fixed time, the learning rate
        # falling to zero over its last 40%: at most 5 minutes in all on
        # two CPU cores, whatever their speed.
        "max_minutes": 4.2,
        "learning_rate": 3e-3,
    },
    "images": {
        "embedding_dim": 256,
        "units": 512,
        "dropout": 0.5,
        "doubly_stochastic_weight": 1.0,
        "max_caption_length": 20,
        "min_word_count": 5,
        "epochs": 20,
        "image_size": None,
        "max_minutes": None,
        "learning_rate": 1e-3,
    },
}
# Images of the summaries shown without their file (features mode).
_PLACEHOLDER_SIDE = 224
_DISPLAY_SIDE = 224


class CaptioningTask(Task):
    """Show, Attend and Tell: image captioning with visual attention.

    Trains on generated scenes of coloured shapes from pixels unless
    `data` names captioned images; with `features` it trains from
    precomputed feature maps, with `backbone` from image files through a
    `keras.applications` backbone.

    Args:
        config: The resolved options (`OPTIONS` and the trainer's); the
            model settings left `None` get the defaults of the input kind
            (`MODEL_DEFAULTS`).

    Raises:
        ValueError: For contradicting or unknown settings, before any data
            is read.
    """

    description = (
        "Trains a Show-Attend-Tell image captioner (soft or hard "
        "attention), saves it and evaluates it like `evaluate`: BLEU-1..4 "
        "and CIDEr-D against all references (lowercased, sacreBLEU 13a), "
        "the share of captions that run to the length limit and, on the "
        "generated scenes, caption accuracy and attention correctness, "
        "for greedy and beam-search decoding."
    )
    options = OPTIONS
    model_class = ShowAttendTell
    commands = COMMANDS

    def __init__(self, config):
        super().__init__(config)
        self.scenes = config.data is None
        if self.scenes and (config.features or config.image_dir):
            raise ValueError(
                "--features and --image-dir need --data (the captions). "
                f"Received: features={config.features!r}, "
                f"image_dir={config.image_dir!r}"
            )
        if config.features and config.backbone:
            raise ValueError(
                "Give --features (precomputed maps) or --backbone (images), "
                f"not both. Received: features={config.features!r}, "
                f"backbone={config.backbone!r}"
            )
        if config.backbone:
            from zoo.captioning.encoders import BACKBONES

            if config.backbone not in BACKBONES:
                raise ValueError(
                    f"`backbone` must be one of {sorted(BACKBONES)}. "
                    f"Received: backbone={config.backbone!r}"
                )
        defaults = MODEL_DEFAULTS["scenes" if self.scenes else "images"]
        for name, value in defaults.items():
            if getattr(config, name) is None:
                setattr(config, name, value)
        if config.image_size is None and not config.features:
            config.image_size = (
                _backbone_size(config.backbone) if config.backbone else 128
            )
        self.encoder = (
            FEATURES if config.features else (config.backbone or PIXELS)
        )

    def definition(self):
        config = self.config
        return {
            "encoder": self.encoder,
            "model": self._model_settings(),
            "data": {
                "data": config.data,
                "features": config.features,
                "instances": config.instances,
                "num_scenes": config.num_scenes if self.scenes else None,
                "min_word_count": config.min_word_count,
            },
        }

    def _model_settings(self):
        config = self.config
        return {
            "encoder": self.encoder,
            "image_size": config.image_size,
            "backbone_weights": (
                config.backbone_weights if config.backbone else None
            ),
            "fine_tune_from": config.fine_tune_from,
            "embedding_dim": config.embedding_dim,
            "units": config.units,
            "attention_units": config.attention_units,
            "attention": config.attention,
            "dropout": config.dropout,
            "doubly_stochastic_weight": config.doubly_stochastic_weight,
            "entropy_weight": config.entropy_weight,
            "max_caption_length": config.max_caption_length,
        }

    def load_data(self):
        config = self.config
        if self.scenes:
            splits = caption_data.load_scene_splits(
                config.num_scenes, config.image_size, config.seed
            )
        elif config.features:
            splits = caption_data.load_feature_splits(
                config.data, config.image_dir, config.features, config.seed
            )
        else:
            splits = caption_data.load_image_splits(
                config.data, config.image_dir, config.seed
            )
            if config.backbone is None:
                load_pixels(splits, config.image_size)
        _check_split_sizes(splits, config.data)
        if config.instances:
            caption_data.attach_instances(splits, config.instances)
        self.splits = splits
        self.define(data_fingerprint=_fingerprint(splits))
        self.vocabulary = build_vocabulary(
            (c for refs in splits["train"].references for c in refs),
            min_count=config.min_word_count,
        )
        self.define(vocabulary_fingerprint=_fingerprint(self.vocabulary))
        self.caption_encoder = CaptionEncoder(
            self.vocabulary, config.max_caption_length
        )
        train = self._dataset("train", shuffle=True)
        truncated = self.caption_encoder.num_truncated
        if truncated and config.verbose:
            print(
                f"{truncated:,} training captions longer than "
                f"{config.max_caption_length} words were cut"
            )
        return TrainingData(
            train=train,
            valid=self._dataset("valid", shuffle=False),
            num_examples=sum(map(len, splits["train"].references)),
        )

    def _dataset(self, name, shuffle):
        return caption_data.make_dataset(
            self.splits[name],
            self.caption_encoder,
            self.config.batch_size,
            self.config.image_size,
            shuffle=shuffle,
            seed=self.config.seed,
        )

    def build_model(self):
        settings = self._model_settings()
        settings.pop("encoder")
        features = self.splits["train"].features
        return ShowAttendTell(
            self.vocabulary,
            encoder=self.encoder,
            feature_shape=None if features is None else features.shape[1:],
            **settings,
        )

    def optimizer(self):
        # Gradient clipping as in the authors' code: the LSTM and the
        # REINFORCE term can spike early on.
        return keras.optimizers.Adam(self.config.learning_rate, clipnorm=5.0)

    def loss(self):
        # `ShowAttendTell.compute_loss` holds the whole objective.
        return None

    def attention_summary(self, model):
        """Validation images with each word's attention, and references."""
        split = self.splits["valid"]
        count = min(self.config.num_summary_samples, len(split))
        indices = np.random.default_rng(self.config.seed).choice(
            len(split), count, replace=False
        )
        samples = split.select(sorted(indices.tolist()))
        return {
            "decode_fn": summary_decode_fn(model, self.config.image_size),
            "samples": samples,
            "references": [list(refs) for refs in samples.references],
            "metric": [bleu4, cider],
        }

    def evaluate(self, model):
        """Greedy and beam-search scores on the evaluation images.

        Returns:
            A dict with `"greedy"` and `f"beam{beam_width}"` (the scores of
            `evaluate_split`), `"samples"` (five greedy captions with their
            references), `"vocabulary_size"`, `"eval_splits"` and
            `"scoring"`.
        """
        config = self.config
        split = self.splits["test"]
        if config.eval_splits == "valid+test":
            split = concatenate_splits(self.splits["valid"], split)
        if config.max_eval_images is not None:
            count = min(config.max_eval_images, len(split))
            split = split.select(list(range(count)))
        results = {
            "eval_splits": config.eval_splits,
            "vocabulary_size": len(self.vocabulary),
            "scoring": SCORING,
        }
        for name, beam_width in (
            ("greedy", 1),
            (f"beam{config.beam_width}", config.beam_width),
        ):
            results[name], captions, _ = evaluate_split(
                model,
                split,
                beam_width,
                config.length_penalty if beam_width > 1 else 0.0,
                config.image_size,
            )
            if name == "greedy":
                greedy = captions
        results["samples"] = [
            {
                "image": split.names[index],
                "caption": greedy[index],
                "references": list(split.references[index]),
            }
            for index in range(min(5, len(split)))
        ]
        return results

    @classmethod
    def print_results(cls, results):
        """Prints the scores, training speed and sample captions."""
        print(f"test scores on {results['eval_splits']} ({SCORING}):")
        for name, scores in results.items():
            if name == "greedy" or name.startswith("beam"):
                print(format_scores(name, scores))
        print(training_summary(results).replace("pairs/s", "captions/s"))
        print("sample captions (greedy):")
        for sample in results["samples"]:
            print(f"  {sample['image']}: {sample['caption']}")
            print(f"    reference: {sample['references'][0]}")


def format_scores(name, scores):
    """One line of a decoding's scores, as the command line prints it."""
    line = (
        f"{name}: BLEU-1/2/3/4 {scores['bleu1']:.1f}/{scores['bleu2']:.1f}/"
        f"{scores['bleu3']:.1f}/{scores['bleu4']:.1f}, CIDEr-D "
        f"{scores['cider']:.3f}, caption accuracy "
        f"{scores['caption_accuracy']:.1%}, at length limit "
        f"{scores['length_limit_share']:.1%} ({scores['num_images']} images)"
    )
    if "attention_correctness" in scores:
        value = scores["attention_correctness"]
        line += ", attention correctness " + (
            "n/a (no caption names an object of its scene)"
            if value is None
            else f"{value:.2f}"
        )
    return line


def bleu4(hypotheses, references):
    """Corpus BLEU-4 against all references (`caption_scores`)."""
    from keras_attention.metrics import caption_scores

    return caption_scores(hypotheses, references)["bleu4"]


def cider(hypotheses, references):
    """CIDEr-D against all references (`caption_scores`)."""
    from keras_attention.metrics import caption_scores

    return caption_scores(hypotheses, references)["cider"]


def summary_decode_fn(model, image_size):
    """`AttentionSummary`'s `decode_fn`: picture and attention per word.

    Where boxes are known (scenes, COCO with instances) every sample also
    carries the reference cells of the words that name an object
    (`reference_alignment`), so TensorBoard shows attention correctness
    and outlines the named object's box.
    """

    def decode(split):
        outputs = caption_arrays(
            model, caption_data.model_inputs(split, image_size)
        )
        captions = caption_texts(model, outputs["sequences"])
        samples = []
        limit_reached = reached_length_limit(outputs["sequences"])
        for index, caption in enumerate(captions):
            words = caption.split()
            # The end token's step is drawn too, where there is one.
            tokens = words if limit_reached[index] else words + ["<end>"]
            attention = outputs["attention"][index]
            side = caption_data.grid_side(attention.shape[-1])
            sample = {
                "image": _picture(split, index),
                "output_tokens": tokens,
                "attention": attention[: len(tokens)],
                "hypothesis": caption,
                "source": split.names[index],
            }
            if side is not None:
                sample["grid_shape"] = (side, side)
            alignment = None
            if side is not None:
                alignment = caption_data.reference_alignment(
                    split, index, words, image_size, (side, side)
                )
            if alignment is not None:
                sample["alignment"] = np.concatenate(
                    [
                        alignment,
                        np.zeros(
                            (len(tokens) - len(words), alignment.shape[1]), bool
                        ),
                    ]
                )
            samples.append(sample)
        return samples

    return decode


def _picture(split, index):
    """The image of a sample as uint8 pixels, for display."""
    if split.pixels is not None:
        return np.asarray(split.pixels[index], np.uint8)
    path = split.paths[index] if split.paths else None
    if path is not None and path.exists():
        from zoo.captioning.encoders import load_image

        return load_image(path, _DISPLAY_SIDE).astype(np.uint8)
    return np.full((_PLACEHOLDER_SIDE, _PLACEHOLDER_SIDE, 3), 128, np.uint8)


def load_pixels(splits, image_size):
    """Decodes every image of the splits into memory (small CNN on pixels)."""
    from zoo.captioning.encoders import load_image

    for split in splits.values():
        if any(path is None for path in split.paths):
            raise ValueError(
                "Training on pixels needs the image files: give --image-dir "
                "(or --features for precomputed features)"
            )
        pictures = [load_image(path, image_size) for path in split.paths]
        split.pixels = (
            np.clip(np.rint(np.stack(pictures)), 0, 255).astype(np.uint8)
            if pictures
            else np.zeros((0, image_size, image_size, 3), np.uint8)
        )


def _check_split_sizes(splits, data):
    """Refuses data with a split that holds no captioned image."""
    sizes = {name: len(splits[name]) for name in caption_data.SPLITS}
    if not all(sizes.values()):
        raise ValueError(
            f"--data {data}: expected captioned images in the train, valid "
            f"and test splits, received {sizes} (images whose file is "
            "absent or that have no caption are skipped; see the warning)"
        )


def concatenate_splits(first, second):
    """Two splits as one (e.g. Flickr8k's dev and test images)."""
    merged = caption_data.CaptionSplit(names=[], references=[])
    for field in ("names", "references", "paths", "objects", "instances"):
        a, b = getattr(first, field), getattr(second, field)
        setattr(merged, field, None if a is None else list(a) + list(b))
    for field in ("pixels", "features"):
        a, b = getattr(first, field), getattr(second, field)
        setattr(merged, field, None if a is None else np.concatenate([a, b]))
    return merged


def _backbone_size(name):
    from zoo.captioning.encoders import BACKBONES

    return BACKBONES[name]["image_size"]


def _fingerprint(value):
    """A short SHA-256 of the names and captions (or of a word list)."""
    if isinstance(value, dict):
        value = {
            name: [split.names, split.references]
            for name, split in sorted(value.items())
        }
    return fingerprint(value)
