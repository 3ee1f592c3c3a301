"""Caption loaders open no file outside the data folder (issue 20, item 16).

A path named inside a data file (a Flickr token line, a COCO `file_name`,
a Karpathy `filepath`) or a symlink in the image folder that leads
elsewhere is skipped and counted by reason, like an absent image; the
user's own paths on the command line are not restricted.
"""

import json
import os

import pytest

from zoo.data import captions
from zoo.files import path_inside


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8 not really a jpeg")
    return path


@pytest.fixture
def layout(tmp_path):
    """`root/data/Images/good.jpg` and a secret `root/secret/outside.jpg`."""
    data = tmp_path / "data"
    _image(data / "Images" / "good.jpg")
    _image(tmp_path / "secret" / "outside.jpg")
    return data


def _skip_warning(recwarn):
    messages = [str(w.message) for w in recwarn if "skipped" in str(w.message)]
    assert len(messages) == 1, messages
    return messages[0]


def test_path_inside_refuses_what_leads_out(tmp_path):
    inside = _image(tmp_path / "data" / "a" / "b.jpg")
    folder = tmp_path / "data"
    assert path_inside(folder, "a/b.jpg") == inside
    assert path_inside(folder, "a/../a/b.jpg") == folder / "a/../a/b.jpg"
    for relative in ("../x.jpg", "a/../../x.jpg", "/etc/passwd"):
        with pytest.raises(ValueError, match="must lead to a path inside"):
            path_inside(folder, relative)
    os.symlink(tmp_path, folder / "up")
    with pytest.raises(ValueError, match=r"'up/x.jpg'.*Received"):
        path_inside(folder, "up/x.jpg")
    # The folder itself may be a link: both sides are resolved.
    os.symlink(folder, tmp_path / "link")
    assert path_inside(tmp_path / "link", "a/b.jpg").is_file()


def test_flickr_token_line_leading_out_is_skipped(layout, recwarn):
    (layout / "Flickr8k.token.txt").write_text(
        "good.jpg#0\ta dog\n../../secret/outside.jpg#0\ta secret\n"
        "../secret/outside.jpg#0\tanother secret\n"
    )
    splits = captions.load_flickr(layout, valid_fraction=0, test_fraction=0)
    assert [image.image for image in splits["train"]] == ["good.jpg"]
    message = _skip_warning(recwarn)
    assert "skipped 2 of 3 listed images" in message
    assert "2 leading outside" in message


def test_coco_file_names_leading_out_are_skipped(layout, recwarn):
    names = ["good.jpg", "../../secret/outside.jpg", "/etc/passwd"]
    path = layout / "captions.json"
    path.write_text(
        json.dumps(
            {
                "images": [
                    {"id": i, "file_name": name} for i, name in enumerate(names)
                ],
                "annotations": [
                    {"image_id": i, "caption": "x"} for i in range(3)
                ],
            }
        )
    )
    images = captions.load_coco(path, layout / "Images")
    assert [image.image for image in images] == ["good.jpg"]
    assert "2 leading outside" in _skip_warning(recwarn)
    splits = captions.load_caption_data(
        path, image_dir=layout / "Images", valid_fraction=0, test_fraction=0
    )
    assert [image.path for image in splits["train"]] == [
        layout / "Images" / "good.jpg"
    ]


def test_karpathy_filepath_leading_out_is_skipped(layout, recwarn):
    def record(filename, filepath):
        return {
            "filename": filename,
            "filepath": filepath,
            "split": "train",
            "sentences": [{"raw": "a thing"}],
        }

    path = layout / "dataset_coco.json"
    path.write_text(
        json.dumps(
            {
                "images": [
                    record("good.jpg", "Images"),
                    record("outside.jpg", "../../secret"),
                ]
            }
        )
    )
    splits = captions.load_karpathy(path, layout)
    assert [image.path for image in splits["train"]] == [
        layout / "Images" / "good.jpg"
    ]
    assert "1 leading outside" in _skip_warning(recwarn)


def test_symlinks_in_the_image_folder_must_stay_inside(layout, recwarn):
    images = layout / "Images"
    os.symlink(layout.parent / "secret" / "outside.jpg", images / "evil.jpg")
    os.symlink(images / "good.jpg", images / "alias.jpg")
    os.symlink(layout.parent / "secret", images / "folder")
    (layout / "Flickr8k.token.txt").write_text(
        "good.jpg#0\ta\nevil.jpg#0\tb\nalias.jpg#0\tc\nfolder/outside.jpg#0\td\n"
    )
    splits = captions.load_flickr(layout, valid_fraction=0, test_fraction=0)
    assert [image.image for image in splits["train"]] == [
        "good.jpg",
        "alias.jpg",
    ]
    message = _skip_warning(recwarn)
    assert "skipped 2 of 4" in message and "2 leading outside" in message


def test_every_image_leading_out_is_an_error(layout):
    (layout / "Flickr8k.token.txt").write_text(
        "../../secret/outside.jpg#0\ta secret\n"
    )
    with pytest.raises(ValueError, match=r"Flickr8k.token.txt: every .*inside"):
        captions.load_flickr(layout)


def test_without_an_image_folder_names_are_only_keys(tmp_path):
    # Nothing is opened: the names are the keys of precomputed features.
    token_file = tmp_path / "Flickr8k.token.txt"
    token_file.write_text("../x.jpg#0\ta caption\n")
    splits = captions.load_flickr(token_file, valid_fraction=0, test_fraction=0)
    assert splits["train"][0].path is None
