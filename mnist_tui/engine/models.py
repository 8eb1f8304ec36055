"""The networks. ``tutorial`` is the tutorial's network, layer for layer."""

from __future__ import annotations

from typing import Callable

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


class TutorialNet(nn.Module):
    """The tutorial's CNN: four 3x3 convolutions with batch norm, two max-pools, three linear layers."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 5, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(5, 10, 3, 1, 1),
            nn.MaxPool2d(2, 2),
            nn.ReLU(),
            nn.BatchNorm2d(10),
            nn.Conv2d(10, 20, 3, 1, 1),
            nn.ReLU(),
            nn.BatchNorm2d(20),
            nn.Conv2d(20, 40, 3, 1, 1),
            nn.MaxPool2d(2, 2),
            nn.ReLU(),
            nn.BatchNorm2d(40),
        )
        self.classifier = nn.Sequential(
            nn.Linear(40 * 7 * 7, 200),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(200, 500),
            nn.ReLU(),
            nn.Linear(500, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def conv_bn(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def conv_pool_bn(c_in: int, c_out: int) -> list[nn.Module]:
    """conv_bn with a 2x2 max-pool between the convolution and the batch norm, which then (with the ReLU)
    works on a quarter of the values."""
    conv, norm, relu = conv_bn(c_in, c_out)
    return [conv, nn.MaxPool2d(2), norm, relu]


class FastNet(nn.Sequential):
    """The `fast` preset's first network (runs made with it still load): four 3x3 conv-BN-ReLU blocks and a linear
    head, 38k parameters.

    Chosen by measurement on a 2-core CPU: with one-cycle Adam at batch 256 it passes 99% test accuracy
    within one epoch at about a third fewer multiply-adds per image than the tutorial network's, whose
    200k-parameter first linear layer it drops in favour of a third max-pool.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(
            *conv_bn(1, 16),
            nn.MaxPool2d(2),  # 14x14
            *conv_bn(16, 32),
            *conv_bn(32, 32),
            nn.MaxPool2d(2),  # 7x7
            *conv_bn(32, 64),
            nn.MaxPool2d(2),  # 3x3
            nn.Flatten(),
            nn.Linear(64 * 3 * 3, num_classes),
        )


class LeanNet(nn.Sequential):
    """The `fast` preset's second network (runs made with it still load): the 28x28 digit folded into a 14x14
    image of 4 channels (each 2x2 block of pixels as 4 values, nothing lost), then three 3x3 conv-BN-ReLU
    blocks and a linear head; 49k parameters, 2.26M multiply-adds per image (FastNet: 3.73M).

    No layer works at 28x28, where a CPU spends its time moving activations rather than multiplying: a training
    step costs about a third of FastNet's on 2 CPU cores, and 1.2 epochs of it (the fast preset) pass 99.0%
    test accuracy on every seed tried, sooner than one epoch of FastNet.
    """

    def __init__(self, num_classes: int = 10, widths: tuple[int, int, int] = (32, 48, 64)) -> None:
        c1, c2, c3 = widths
        super().__init__(
            nn.PixelUnshuffle(2),  # 4 x 14x14
            *conv_bn(4, c1),
            nn.MaxPool2d(2),  # 7x7
            *conv_bn(c1, c2),
            *conv_bn(c2, c3),
            nn.MaxPool2d(2),  # 3x3
            nn.Flatten(),
            nn.Linear(c3 * 3 * 3, num_classes),
        )


class QuickNet(nn.Sequential):
    """The `fast` preset's network: LeanNet with each max-pool moved ahead of its block's batch norm and ReLU;
    the same convolutions (2.26M multiply-adds per image) and the same 49k parameters.

    The batch norms and ReLUs then work on a quarter of the values: on 2 CPU cores they cost LeanNet's 14x14
    block more time than its convolution did, and a training step takes about 30% less time.
    """

    def __init__(self, num_classes: int = 10, widths: tuple[int, int, int] = (32, 48, 64)) -> None:
        c1, c2, c3 = widths
        super().__init__(
            nn.PixelUnshuffle(2),  # 4 x 14x14
            *conv_pool_bn(4, c1),  # 7x7
            *conv_bn(c1, c2),
            *conv_pool_bn(c2, c3),  # 3x3
            nn.Flatten(),
            nn.Linear(c3 * 3 * 3, num_classes),
        )


class BestNet(nn.Sequential):
    """The `best` preset's network: five 3x3 conv-BN-ReLU blocks, three max-pools, dropout, 289k parameters.

    Twice the width of FastNet and one more block at 7x7; sized so that an epoch takes about a minute on a
    2-core CPU, with room to learn the rotated, scaled and shifted digits the `best` preset trains on.
    """

    def __init__(self, num_classes: int = 10, dropout: float = 0.25) -> None:
        super().__init__(
            *conv_bn(1, 32),
            nn.MaxPool2d(2),  # 14x14
            *conv_bn(32, 64),
            *conv_bn(64, 64),
            nn.MaxPool2d(2),  # 7x7
            *conv_bn(64, 128),
            *conv_bn(128, 128),
            nn.MaxPool2d(2),  # 3x3
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(128 * 3 * 3, num_classes),
        )


MODELS: dict[str, Callable[[], nn.Module]] = {
    "tutorial": TutorialNet,
    "fast": FastNet,
    "lean": LeanNet,
    "quick": QuickNet,
    "best": BestNet,
}


def build_model(name: str) -> nn.Module:
    try:
        return MODELS[name]()
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """For inference: each conv followed by a batch norm in ``model`` (a Sequential, in eval mode) made
    one conv with the norm folded into its weights; the same function, about a third less work on a CPU.

    Other modules are shared with ``model``, not copied; a model of another shape is returned as it is.
    """
    if not isinstance(model, nn.Sequential) or model.training:
        return model
    mods, out, i = list(model), [], 0
    while i < len(mods):
        if isinstance(mods[i], nn.Conv2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d):
            out.append(fuse_conv_bn_eval(mods[i], mods[i + 1]))
            i += 2
        else:
            out.append(mods[i])
            i += 1
    if len(out) == len(mods):
        return model
    return nn.Sequential(*out).eval()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
