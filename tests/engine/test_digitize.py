"""The MNIST preprocessing (crop, fit 20x20, centre of mass at the centre), image files of either polarity, the
CPU predictor's own copy of the weights, the latest-weights holder, and the attribution map's class."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_tui.engine.attribution import BLANK, gradient_x_input
from mnist_tui.engine.control import Control
from mnist_tui.engine.digitize import ImageError, centre_of_mass, digitize, read_image
from mnist_tui.engine.latest_weights import LatestWeights
from mnist_tui.engine.models import build_model
from mnist_tui.engine.predictor import Predictor


def stroke(shape=(28, 28), rows=(2, 12), cols=(1, 4)) -> np.ndarray:
    """A bar of ink, 255, in the given rows and columns (end excluded) of an empty image."""
    a = np.zeros(shape, dtype=np.float32)
    a[rows[0] : rows[1], cols[0] : cols[1]] = 255
    return a


def bounding_box(image: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero(image.any(1))
    cols = np.flatnonzero(image.any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_an_off_centre_stroke_is_scaled_to_20_and_centred_by_its_mass():
    out = digitize(stroke())  # 10 high, 3 wide, in the top left corner
    assert out.shape == (28, 28) and out.dtype == np.uint8
    height, width = bounding_box(out)
    assert height == 20 and width == 6  # the longer side fits 20; the aspect ratio kept
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.52 and abs(cx - 14) <= 0.52
    assert out.max() == 255


def test_an_l_shape_is_placed_by_its_centre_of_mass_not_its_box():
    a = np.zeros((40, 40), dtype=np.float32)
    a[5:35, 5:9] = 255  # a long upright
    a[31:35, 5:35] = 255  # and a foot: the mass sits low and left in the box
    out = digitize(a)
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.52 and abs(cx - 14) <= 0.52  # to the nearest pixel, then rounded to uint8
    rows = np.flatnonzero(out.any(1))
    assert rows[0] < 28 - 1 - rows[-1]  # the mass sits low in the box, so the box sits high in the field
    assert bounding_box(out) == (20, 20)


def test_a_large_image_shrinks_with_anti_aliasing():
    ys, xs = np.indices((300, 300))
    ring = np.abs(np.hypot(ys - 150, xs - 150) - 100) < 12  # a zero, 224 pixels across
    out = digitize(ring.astype(np.float32) * 255)
    assert bounding_box(out) == (20, 20)
    values = set(np.unique(out).tolist())
    assert values - {0, 255}, "anti-aliasing leaves grey edges"


def test_an_mnist_digit_stays_what_it_was(synthetic_dir):
    from mnist_tui.engine import data

    arrays = data.load_arrays(data.resolve(str(synthetic_dir)))
    digit = arrays.test_images[0].numpy()
    out = digitize(digit)
    assert np.abs(out.astype(int) - digit.astype(int)).mean() < 40


def test_blank_images_raise():
    with pytest.raises(ImageError, match="blank"):
        digitize(np.zeros((28, 28)))


def test_files_of_either_polarity_and_any_size_read_alike(tmp_path):
    light_on_dark = stroke((280, 200), rows=(40, 240), cols=(80, 120))
    Image.fromarray(light_on_dark.astype(np.uint8)).save(tmp_path / "light.png")
    Image.fromarray((255 - light_on_dark).astype(np.uint8)).convert("RGB").save(tmp_path / "dark.jpg", quality=90)
    light = digitize(read_image(tmp_path / "light.png"))
    dark = digitize(read_image(tmp_path / "dark.jpg"))
    assert np.abs(light.astype(int) - dark.astype(int)).max() <= 40  # JPEG noise, nothing more
    assert bounding_box(light) == bounding_box(dark)


def test_a_transparent_png_with_dark_ink(tmp_path):
    rgba = np.zeros((60, 60, 4), dtype=np.uint8)
    rgba[10:50, 25:32] = (0, 0, 0, 255)  # black ink, the rest fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "ink.png")
    assert bounding_box(digitize(read_image(tmp_path / "ink.png")))[0] == 20


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("hello, not a picture"), "not an image"),
        (lambda p: Image.new("L", (30, 30), 255).save(p, format="PNG"), "blank"),
    ],
)
def test_unreadable_files_are_named_in_one_line(tmp_path, make, message):
    path = tmp_path / "input.png"
    make(path)
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert str(path) in str(info.value) and message in str(info.value) and "\n" not in str(info.value)


def test_the_predictor_keeps_its_own_copy_of_the_weights():
    torch.manual_seed(0)
    model = build_model("fast").eval()
    image = digitize(stroke())
    predictor = Predictor("fast", model.state_dict())
    before = predictor.predict(image)
    assert len(before) == 10 and abs(sum(before) - 1) < 1e-6
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # the training model moves on
    assert predictor.predict(image) == before
    assert not any(p.requires_grad for p in predictor.model.parameters())


def test_weights_that_do_not_fit_are_refused_in_one_line():
    from mnist_tui.engine.errors import CheckpointError

    with pytest.raises(CheckpointError, match="do not fit the fast model"):
        Predictor("fast", build_model("tutorial").state_dict(), source="x.pt")


def test_the_holder_copies_only_while_someone_wants_weights():
    holder = LatestWeights()
    model = build_model("fast")
    assert not holder.offer(model, 50, "fast") and holder.latest() is None  # nobody asked: nothing copied
    holder.want()
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(holder.wait_newer(None, timeout=30)))
    waiter.start()
    assert holder.offer(model, 100, "fast")
    waiter.join(30)
    copy = got[0]
    assert copy is not None and copy.iteration == 100 and copy.model == "fast"
    name, tensor = next(iter(model.state_dict().items()))
    assert copy.state[name].device.type == "cpu"
    assert copy.state[name].data_ptr() != tensor.data_ptr()  # a copy, not the training model's tensor
    assert holder.wait_newer(100, timeout=0.01) is None
    holder.release()
    assert not holder.offer(model, 150, "fast") and holder.latest().iteration == 100
    assert isinstance(Control().latest_weights, LatestWeights)


def test_the_attribution_map_is_of_the_class_asked_for():
    """On a linear model the map of class c is exactly its weights for c times (x - blank): per class, not a sum."""
    torch.manual_seed(0)
    predictor = Predictor("fast", build_model("fast").state_dict())
    linear = torch.nn.Linear(784, 10, bias=False)
    predictor.model = torch.nn.Sequential(torch.nn.Flatten(), linear).eval()
    image = digitize(stroke())
    x = predictor.inputs(image)[0, 0].double()
    maps = gradient_x_input(predictor, image, [3, 7])
    assert maps.shape == (2, 28, 28)
    for m, c in zip(maps, (3, 7)):
        expected = linear.weight[c].detach().double().reshape(28, 28) * (x - BLANK)
        assert np.allclose(m, expected.numpy(), atol=1e-6)
    assert not np.allclose(maps[0], maps[1])
    assert np.all(maps[0][image == 0] == 0)  # no ink, no attribution
    with pytest.raises(ValueError):
        gradient_x_input(predictor, image, [10])
