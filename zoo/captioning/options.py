"""The options of the captioning task, declared once.

`keras-attention-zoo train captioning` (flags and `--help`) and
`zoo.trainer.train("captioning", ...)` (keyword checks) come from
`OPTIONS`.
"""

from zoo.decoding_options import beam_width_option
from zoo.decoding_options import length_penalty_option
from zoo.options import Option

EVALUATION_SPLITS = ("test", "valid+test")
# One beam search for every command: what training reports, `evaluate`
# scores, `caption` prints and `export` serves by default.
BEAM_WIDTH = 3
LENGTH_PENALTY = 0.7

DATA_OPTIONS = (
    Option(
        "data",
        str,
        None,
        "Captioned images: a Flickr8k/Flickr30k folder or token file, a "
        "COCO captions_*.json or a Karpathy dataset_*.json (local path or "
        "URL). Default: generated scenes of coloured shapes, whose object "
        "boxes are known.",
    ),
    Option(
        "image_dir",
        str,
        None,
        "The image folder, where the data's own is elsewhere (COCO, Karpathy).",
    ),
    Option(
        "features",
        str,
        None,
        "Train from precomputed feature maps [N, H, W, C] (.npz with "
        "'features' and 'image', float16/32 or uint8 with scale and "
        "zero_point; see `cache-features`) instead of images.",
    ),
    Option(
        "instances",
        str,
        None,
        "COCO instances_*.json: boxes of the named objects, for attention "
        "correctness on COCO.",
    ),
)

OPTIONS = DATA_OPTIONS + (
    Option(
        "backbone",
        str,
        None,
        "A keras.applications backbone for images, e.g. mobilenet_v2, "
        "inception_v3, resnet50, efficientnet_b0. Default: a small CNN "
        "from pixels for the generated scenes.",
    ),
    Option(
        "backbone_weights",
        str,
        "imagenet",
        'The backbone\'s weights: "imagenet" (downloaded) or a local '
        "weights file of the headless backbone.",
    ),
    Option(
        "fine_tune_from",
        str,
        None,
        "Train the backbone from this layer name on (default: frozen).",
    ),
    Option(
        "image_size",
        int,
        None,
        "Image side in pixels; default: the backbone's, 64 for scenes.",
        positive=True,
    ),
    Option(
        "attention",
        str,
        "soft",
        "Soft (deterministic) or hard (stochastic, REINFORCE) attention.",
        choices=("soft", "hard"),
    ),
    Option("embedding_dim", int, None, "Word embedding size.", positive=True),
    Option("units", int, None, "LSTM size.", positive=True),
    Option(
        "attention_units",
        int,
        None,
        "Hidden size of the attention MLP; default: units.",
        positive=True,
    ),
    Option(
        "dropout",
        float,
        None,
        "Dropout of the deep output layer.",
        minimum=0.0,
        maximum=0.99,
    ),
    Option(
        "doubly_stochastic_weight",
        float,
        None,
        "Lambda of the doubly stochastic regularization (eq. 14).",
        minimum=0.0,
    ),
    Option(
        "entropy_weight",
        float,
        0.01,
        "Hard attention's entropy bonus.",
        minimum=0.0,
    ),
    Option(
        "max_caption_length",
        int,
        None,
        "Longest caption in words (longer ones are cut, and counted); "
        "default 20, 14 for scenes.",
        positive=True,
    ),
    Option(
        "min_word_count",
        int,
        None,
        "Words seen fewer times in the training captions become <unk>; "
        "default 5, 1 for scenes.",
        positive=True,
    ),
    Option(
        "num_scenes",
        int,
        6000,
        "Generated training scenes (without --data).",
        positive=True,
    ),
    Option(
        "eval_splits",
        str,
        "test",
        'Images the evaluation reports on: "test" or "valid+test" (e.g. '
        "Flickr8k's official dev and test lists).",
        choices=EVALUATION_SPLITS,
    ),
    Option(
        "max_eval_images",
        int,
        None,
        "Evaluate on the first N images of the evaluation splits only "
        "(quick runs); default: all.",
        positive=True,
    ),
    beam_width_option(
        BEAM_WIDTH, "the evaluation's beam search (greedy is reported too)"
    ),
    length_penalty_option(LENGTH_PENALTY),
    Option(
        "epochs",
        int,
        None,
        "Maximum number of epochs; default 20 for images, 30 for scenes.",
        positive=True,
    ),
    Option(
        "max_minutes",
        float,
        None,
        "Training time budget in minutes (see the trainer's); default "
        "4.2 for the generated scenes, none for images.",
        positive=True,
    ),
    Option(
        "learning_rate",
        float,
        None,
        "Adam's learning rate; default 3e-3 for scenes, 1e-3 for images.",
        positive=True,
    ),
)
