"""``mnist-tui predict``: image files of any size and either polarity, one line (or JSON object) per file, one
line naming each file that cannot be read, exit code 2 then; and, on real MNIST, the test set's own digits
written out as PNG files predicted as the model predicts the digits themselves (at least 99% right)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mnist_tui.engine import data
from helpers.cli import mnist_tui
from helpers.engine import config, run_all
from helpers.trained import fast_run


@pytest.fixture(scope="module")
def synthetic_run(synthetic_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("predict") / "run"
    run_all(config(synthetic_dir, run_dir, epochs=1, model="fast"))
    return run_dir


def write_digits(directory, images, labels, n):
    """The first ``n`` digits as files: even ones as light-on-dark PNG, odd ones dark-on-light and 3x larger."""
    paths = []
    for i in range(min(n, len(images))):
        image = images[i]
        if i % 2:
            big = np.kron(255 - image, np.ones((3, 3), dtype=np.uint8))
            path = directory / f"{i:04d}-{labels[i]}.png"
            Image.fromarray(big).convert("RGB").save(path)
        else:
            path = directory / f"{i:04d}-{labels[i]}.png"
            Image.fromarray(image).save(path)
        paths.append(str(path))
    return paths


def test_each_file_gets_a_line_and_bad_ones_are_named(synthetic_run, synthetic_dir, tmp_path):
    arrays = data.load_arrays(data.resolve(str(synthetic_dir)))
    good = write_digits(tmp_path, arrays.test_images.numpy(), arrays.test_labels.tolist(), 2)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not a picture")
    Image.new("L", (40, 40), 0).save(tmp_path / "blank.png")
    bad = [str(tmp_path / n) for n in ("missing.png", "empty.png", "text.png", "blank.png")]
    result = mnist_tui("predict", str(synthetic_run), good[0], *bad, good[1])
    assert result.returncode == 2, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == good
    assert all("runner-up" in line and "%" in line for line in lines)
    errors = result.stderr.splitlines()
    assert len(errors) == 4 and all(path in line for path, line in zip(bad, errors)), errors
    assert "no such file" in errors[0] and "empty" in errors[1] and "not an image" in errors[2]
    assert "blank" in errors[3]


def test_json_one_object_per_file(synthetic_run, synthetic_dir, tmp_path):
    arrays = data.load_arrays(data.resolve(str(synthetic_dir)))
    paths = write_digits(tmp_path, arrays.test_images.numpy(), arrays.test_labels.tolist(), 3)
    result = mnist_tui("predict", str(synthetic_run), *paths, "--json")
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["file"] for o in objects] == paths
    for o in objects:
        assert set(o) >= {"file", "label", "confidence", "runner_up", "probabilities"}
        probabilities = o["probabilities"]
        assert len(probabilities) == 10 and abs(sum(probabilities) - 1) < 1e-4
        assert o["confidence"] == max(probabilities) and o["label"] == str(probabilities.index(max(probabilities)))
        assert o["runner_up"] != o["label"]


def test_show_draws_each_digit(synthetic_run, synthetic_dir, tmp_path):
    arrays = data.load_arrays(data.resolve(str(synthetic_dir)))
    paths = write_digits(tmp_path, arrays.test_images.numpy(), arrays.test_labels.tolist(), 2)
    result = mnist_tui("predict", str(synthetic_run), *paths, "--show")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 * (1 + 14)  # a line, then the 28x28 digit in 14 lines of characters
    assert any(set(line) & set("#%@") for line in lines[1:15])


def test_bad_run_directories_fail_in_one_line(tmp_path):
    Image.new("L", (28, 28), 0).save(tmp_path / "x.png")
    for args in (["predict", str(tmp_path / "nope"), str(tmp_path / "x.png")], ["predict", str(tmp_path)]):
        result = mnist_tui(*args)
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.slow
def test_the_test_sets_own_digits_as_files(monkeypatch, tmp_path_factory, tmp_path):
    """1,000 test digits, every tenth (the test set's first half is written by other people than its second),
    half of them inverted and enlarged: read from files, as right as the model is on the digits themselves
    (which is at least 99%), within 3 of 1,000, and mostly with the same answers."""
    from mnist_tui.engine.predictor import Predictor
    from mnist_tui.runs.rundir import RunDirectory

    run_dir = fast_run(monkeypatch, tmp_path_factory)
    arrays = data.load_arrays(data.resolve("mnist"))
    images, labels = arrays.test_images.numpy()[::10], arrays.test_labels.numpy()[::10].tolist()
    paths = write_digits(tmp_path, images, labels, 1000)
    result = mnist_tui("predict", str(run_dir), *paths, "--json", env_extra={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(objects) == 1000
    right = sum(o["label"] == str(labels[i]) for i, o in enumerate(objects))
    run = RunDirectory(run_dir)
    direct = Predictor.from_checkpoint(run.final_weights(), run.read_config().model).probabilities(images).argmax(1)
    agree = sum(o["label"] == str(direct[i]) for i, o in enumerate(objects))
    right_direct = sum(int(direct[i]) == labels[i] for i in range(1000))
    assert right_direct >= 990, f"the model itself gets {right_direct} of 1000 right"
    assert right >= right_direct - 3, f"{right} of 1000 right from files, {right_direct} from the digits themselves"
    assert agree >= 995, f"the files' predictions agree with the digits' own on {agree} of 1000"
