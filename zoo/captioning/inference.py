"""Captioning with a trained `ShowAttendTell`: batches, text and scores."""

import time

import keras
import numpy as np

from keras_attention.metrics import attention_correctness
from keras_attention.metrics import caption_scores
from zoo import length_limit
from zoo.captioning.data import grid_side
from zoo.captioning.data import model_inputs
from zoo.captioning.data import reference_alignment
from zoo.captioning.vocabulary import END_ID
from zoo.captioning.vocabulary import PAD_ID
from zoo.captioning.vocabulary import normalize_caption
from zoo.compiled import compile_padded_batches
from zoo.compiled import compiled
from zoo.compiled import padded_batch_size


def _decoder(model, beam_width, length_penalty, max_length, num_rows):
    def decode(images):
        return model.caption_ids(
            images,
            beam_width=beam_width,
            max_length=max_length,
            length_penalty=length_penalty,
        )

    key = ("caption", beam_width, length_penalty, max_length)
    return compiled(model, key, decode, num_rows)


def caption_arrays(
    model,
    images,
    beam_width=1,
    length_penalty=0.0,
    batch_size=64,
    max_length=None,
):
    """Decodes captions of an array of images or feature maps.

    Args:
        model: A `ShowAttendTell`.
        images: `[N, ...]` pixels (0..255) or feature maps, as the model
            takes them.
        beam_width: 1 for greedy decoding.
        length_penalty: GNMT alpha of beam search.
        batch_size: images decoded at once; a smaller (last) batch is
            padded to a power of two, so that a few compiled programs
            serve every batch.
        max_length: The most words of a caption, `<end>` not counted;
            default: the model's.

    Returns:
        A dict of NumPy arrays: `"sequences"` `[N, max_length + 1]`,
        `"lengths"` `[N]` and `"attention"` `[N, max_length + 1, L]`
        (`ShowAttendTell.caption_ids`).
    """
    decode = _decoder(
        model, beam_width, length_penalty, max_length, len(images)
    )
    outputs = {"sequences": [], "lengths": [], "attention": []}
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start : start + batch_size], np.float32)
        count = len(batch)
        padded_size = padded_batch_size(count, batch_size)
        if count < padded_size:
            padding = np.repeat(batch[-1:], padded_size - count, axis=0)
            batch = np.concatenate([batch, padding])
        results = decode(batch)
        for name in outputs:
            outputs[name].append(
                np.asarray(keras.ops.convert_to_numpy(results[name]))[:count]
            )
    return {
        name: np.concatenate(values) if values else np.zeros((0,))
        for name, values in outputs.items()
    }


def compile_decoder(
    model, images, beam_width=1, length_penalty=0.0, batch_size=64
):
    """Compiles `caption_arrays`' decoder for the batches of `images`.

    Call it before timing `caption_arrays` with the same settings: each
    batch shape seen for the first time compiles (seconds). One image per
    shape is decoded, repeated to the padded batch size.
    """
    decode = _decoder(model, beam_width, length_penalty, None, len(images))
    first_rows = [np.asarray(images[:1], np.float32)]
    compile_padded_batches(decode, first_rows, len(images), batch_size)


def caption_texts(model, sequences):
    """The words of each decoded id sequence, as strings."""
    vocabulary = model.vocabulary
    texts = []
    for ids in sequences:
        words = []
        for token_id in ids:
            if token_id in (END_ID, PAD_ID):
                break
            words.append(vocabulary[int(token_id)])
        texts.append(" ".join(words))
    return texts


def reached_length_limit(sequences):
    """Whether each caption ran to the length limit without `<end>`."""
    return length_limit.reached_length_limit(sequences, END_ID, PAD_ID)


def evaluate_split(model, split, beam_width, length_penalty, image_size):
    """Caption scores of one decoding of a split's images.

    Returns:
        `(scores, captions, outputs)`: the scores (BLEU-1..4 and CIDEr-D of
        `caption_scores`, `caption_accuracy` (the share of captions equal to
        one of their references, words compared), `length_limit_share`,
        `captions_per_second`, `num_images` and, where boxes are known
        (scenes, COCO with instances), `attention_correctness`), the
        caption strings, and the decoder's arrays.
    """
    images = model_inputs(split, image_size)
    # Compiling is not timed.
    compile_decoder(model, images, beam_width, length_penalty)
    start = time.perf_counter()
    outputs = caption_arrays(model, images, beam_width, length_penalty)
    seconds = time.perf_counter() - start
    captions = caption_texts(model, outputs["sequences"])
    references = [list(references) for references in split.references]
    scores = caption_scores(captions, references)
    scores["caption_accuracy"] = float(
        np.mean(
            [
                normalize_caption(caption)
                in {normalize_caption(r) for r in refs}
                for caption, refs in zip(captions, references, strict=True)
            ]
        )
    )
    scores["length_limit_share"] = float(
        np.mean(reached_length_limit(outputs["sequences"]))
    )
    scores["captions_per_second"] = len(captions) / max(seconds, 1e-9)
    scores["num_images"] = len(captions)
    if split.has_boxes:
        scores["attention_correctness"] = box_correctness(
            split, captions, outputs["attention"], image_size
        )
    return scores, captions, outputs


def box_correctness(split, captions, attention, image_size):
    """Attention correctness of the words that name a boxed object.

    The share of each such word's attention inside the box (cells) of the
    object it names (`reference_alignment`: shape nouns of scenes, COCO
    category words), averaged over those words; `None` when no caption
    names one.
    """
    grid = _grid_shape(attention.shape[-1])
    alignment = np.zeros(attention.shape, bool)
    for index, caption in enumerate(captions):
        words = caption.split()[: attention.shape[1]]
        cells = reference_alignment(split, index, words, image_size, grid)
        if cells is not None:
            alignment[index, : len(words)] = cells
    if not alignment.any():
        return None
    return float(
        keras.ops.convert_to_numpy(attention_correctness(attention, alignment))
    )


def _grid_shape(num_cells):
    side = grid_side(num_cells)
    if side is None:
        raise ValueError(
            "Attention correctness needs attention over a square grid. "
            f"Received: {num_cells} locations"
        )
    return side, side
