"""Attention images replace nothing of the user's (issue 20, item 1).

`zoo.attention_images` names an input's image after its whole path and
writes only where there is nothing, or an attention image a zoo command
wrote; `caption` and `summarize` write through it.
"""

import os

import numpy as np
import pytest

from zoo.attention_images import SOFTWARE
from zoo.attention_images import check_targets
from zoo.attention_images import image_name
from zoo.attention_images import write_images

RGB = np.full((4, 6, 3), 200, np.uint8)


def test_names_are_unique_per_input_path_and_stable(tmp_path, monkeypatch):
    inputs = ["good.jpg", "good.png", "a/x.png", "b/x.png", "a/../b/x.png"]
    monkeypatch.chdir(tmp_path)
    names = [image_name(source) for source in inputs]
    assert len(set(names[:4])) == 4
    assert names[4] == names[3]  # One path, however it is spelled.
    assert names[0].startswith("good.jpg.") and names[0].endswith(".png")
    assert image_name(tmp_path / "a" / "x.png") == names[2]
    monkeypatch.chdir(tmp_path / "..")
    assert image_name(tmp_path / "a" / "x.png") == names[2]


def test_an_input_is_never_replaced(tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"the user's photo")
    with pytest.raises(ValueError, match="photo.png.*an input of this"):
        write_images(tmp_path, [("photo.png", RGB)], inputs=[str(photo)])
    assert photo.read_bytes() == b"the user's photo"
    # Not even one of ours, given as an input.
    ours = write_images(tmp_path, [("ours.png", RGB)])[0]
    with pytest.raises(ValueError, match="an input of this command"):
        write_images(tmp_path, [("ours.png", RGB)], inputs=[ours])


@pytest.mark.parametrize(
    "make, found",
    [
        (lambda path: path.write_bytes(b"notes"), "no zoo command wrote"),
        (lambda path: path.mkdir(), "not a file"),
        (lambda path: os.symlink(path.parent / "elsewhere", path), "symlink"),
    ],
)
def test_what_no_zoo_command_wrote_is_refused(tmp_path, make, found):
    make(tmp_path / "b.png")
    with pytest.raises(ValueError, match=found) as error:
        write_images(tmp_path, [("a.png", RGB), ("b.png", RGB)])
    assert str(tmp_path / "b.png") in str(error.value)
    assert "Received" in str(error.value)
    # Checked before anything is written.
    assert not (tmp_path / "a.png").exists()


def test_a_png_of_another_program_is_refused(tmp_path):
    import PIL.Image

    PIL.Image.fromarray(RGB).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="no zoo command wrote"):
        check_targets(tmp_path, ["a.png"])


def test_our_own_images_are_replaced_and_marked(tmp_path):
    import PIL.Image

    first = write_images(tmp_path / "out", [("a.png", RGB)])
    second = write_images(tmp_path / "out", [("a.png", RGB[:2])])
    assert first == second == [tmp_path / "out" / "a.png"]
    with PIL.Image.open(second[0]) as image:
        assert image.size == (6, 2) and image.info["Software"] == SOFTWARE
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png"]


def test_a_file_as_the_folder_and_repeated_names_are_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="expected a folder"):
        write_images(tmp_path / "file", [("a.png", RGB)])
    with pytest.raises(ValueError, match="'a.png' more than once"):
        write_images(tmp_path, [("a.png", RGB), ("a.png", RGB)])


def test_summarize_heatmaps_replace_nothing_of_the_users(tmp_path):
    pytest.importorskip("tensorflow")
    from zoo.summarization.commands import write_attention_images

    summary = {
        "attention": np.full((2, 3), 1 / 3, np.float32),
        "source_tokens": ["a", "b", "c"],
        "tokens": ["a", "c"],
        "p_gen": np.array([0.5, 0.2], np.float32),
        "coverage": np.array([0.1, 0.2, 0.3], np.float32),
        "copied": [False, True],
    }
    user_file = tmp_path / "summary_2.png"
    user_file.write_bytes(b"the user's own")
    with pytest.raises(ValueError, match="summary_2.png"):
        write_attention_images(tmp_path, [summary, summary])
    assert user_file.read_bytes() == b"the user's own"
    assert not (tmp_path / "summary_1.png").exists()
    written = write_attention_images(tmp_path / "maps", [summary] * 2)
    assert sorted(os.listdir(written)) == ["summary_1.png", "summary_2.png"]
    write_attention_images(tmp_path / "maps", [summary])  # Ours: replaced.
    document = tmp_path / "maps" / "summary_1.png"
    with pytest.raises(ValueError, match="an input of this command"):
        write_attention_images(tmp_path / "maps", [summary], [str(document)])
