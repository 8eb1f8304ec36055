"""A digit from anywhere made into what MNIST's digits are: the preprocessing the data set was made with.

MNIST's digits were cropped to their bounding box, scaled (keeping the aspect ratio) to fit a 20x20 box with
anti-aliasing, and placed in a 28x28 field so that their centre of mass falls on the field's centre. A digit
drawn on the canvas or read from an image file goes through the same steps (``digitize``) before the model
sees it; ``read_image`` turns a PNG or JPEG of any size, light-on-dark or dark-on-light, into the light-ink-
on-dark array ``digitize`` takes. numpy and torch only (Pillow, inside ``read_image``, to decode files).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from .errors import InputError

SIDE = 28  # the field
BOX = 20  # the box the digit is scaled to fit
CENTRE = SIDE / 2  # where MNIST's centres of mass fall (pixel i at i: a mean of 14.0 over its test digits)
INK_FLOOR = 0.1  # in a file, what is fainter than this share of the strongest ink is background
MAX_PIXELS = 50_000_000  # a file's image may have this many (a 48-megapixel photo); decoding costs ~20 bytes each


class ImageError(InputError):
    """An image file that holds no digit we can read: missing, not an image, or blank."""


def digitize(image: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """A light-on-dark grey image (2-D, any size, values 0..255) as MNIST made its digits: uint8 [28, 28].

    Pixels above ``threshold`` bound the digit; the crop is scaled so its longer side is 20 pixels
    (area-averaged with anti-aliasing when it shrinks, bilinear when it grows), its strongest pixel made 255,
    and it is placed in a 28x28 field with its centre of mass, to the nearest pixel, at the centre.
    ImageError when no pixel is above ``threshold``.
    """
    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 2 or not a.size:
        raise ImageError(f"expected a 2-D image, got shape {a.shape}")
    rows = np.flatnonzero((a > threshold).any(1))
    cols = np.flatnonzero((a > threshold).any(0))
    if not len(rows):
        raise ImageError("the image is blank: no digit in it")
    crop = a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    x = torch.from_numpy(np.ascontiguousarray(crop))[None, None]
    fitted = F.interpolate(x, size=size, mode="bilinear", antialias=scale < 1, align_corners=False)[0, 0].numpy()
    fitted = np.clip(fitted, 0, None)
    peak = float(fitted.max())
    if peak <= 0:
        raise ImageError("the image is blank: no digit in it")
    fitted *= 255.0 / peak
    ys, xs = np.indices(fitted.shape)
    mass = float(fitted.sum())
    cy, cx = float((ys * fitted).sum()) / mass, float((xs * fitted).sum()) / mass
    top = min(max(round(CENTRE - cy), 0), SIDE - size[0])
    left = min(max(round(CENTRE - cx), 0), SIDE - size[1])
    out = np.zeros((SIDE, SIDE), dtype=np.float32)
    out[top : top + size[0], left : left + size[1]] = fitted
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of an image's centre of mass; MNIST's digits have it at about (14, 14)."""
    a = np.asarray(image, dtype=np.float64)
    ys, xs = np.indices(a.shape)
    mass = a.sum()
    return float((ys * a).sum() / mass), float((xs * a).sum() / mass)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """A PNG or JPEG file as light ink on a dark ground, float32 0..255, background 0: ready for ``digitize``.

    Colour is made grey; a transparent background is laid under the ink on the contrasting shade. Whether the
    ink is dark on light (paper, a scan) or light on dark (MNIST) is read from the image's border: a bright
    border is inverted. The border's shade is then taken as the background (subtracted) and ink fainter than a
    tenth of the strongest is dropped (paper grain, JPEG noise). ImageError (one line) for a missing file,
    one that is not an image, one of more than MAX_PIXELS pixels (told by its header, before decoding), or
    an image without a digit.
    """
    from PIL import Image, UnidentifiedImageError  # only here: decoding files

    name = os.fspath(path)
    if not os.path.exists(name):
        raise ImageError(f"{name}: no such file")
    if os.path.isdir(name):
        raise ImageError(f"{name}: is a directory, not an image")
    if os.path.getsize(name) == 0:
        raise ImageError(f"{name}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # Pillow's own warning of a large image: MAX_PIXELS decides here
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(name)
        with img:
            if img.width * img.height > MAX_PIXELS:  # from the header, before a pixel is decoded
                raise ImageError(f"{name}: the image is too large ({img.width}x{img.height} pixels, at most "
                                 f"{MAX_PIXELS:,})")  # fmt: skip
            img.load()
            grey = _grey(img)
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (PNG or JPEG)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: the image is too large (more than {MAX_PIXELS:,} pixels)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageError(f"{name}: cannot read the image ({reason[:160]})") from None
    if grey.size == 0:
        raise ImageError(f"{name}: the image is empty (no pixels)")
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ground = float(np.median(border))
    if ground > 127.5:  # dark ink on a light ground
        grey, ground = 255.0 - grey, 255.0 - ground
    ink = np.clip(grey - ground, 0, None)
    peak = float(ink.max())
    if peak < 16:  # less contrast than this is not a digit: a blank or uniform image
        raise ImageError(f"{name}: the image is blank: no digit in it")
    ink[ink < INK_FLOOR * peak] = 0
    return ink


def _grey(img) -> np.ndarray:
    """Pillow image -> float32 grey levels; transparency laid over the shade that contrasts with the ink."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
        luminance = np.asarray(img.convert("RGBA").convert("L"), dtype=np.float32)
        alpha = rgba[..., 3] / 255.0
        opaque = alpha > 0.5
        dark_ink = not opaque.any() or float(luminance[opaque].mean()) < 127.5
        ground = 255.0 if dark_ink else 0.0
        return luminance * alpha + ground * (1 - alpha)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(img, dtype=np.float32)
        top = float(a.max()) if a.size else 0.0
        return a * (255.0 / top) if top > 255 else a
    return np.asarray(img.convert("L"), dtype=np.float32)
