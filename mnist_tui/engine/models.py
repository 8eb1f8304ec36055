"""The networks. ``tutorial`` is the tutorial's network, layer for layer."""

from __future__ import annotations

from typing import Callable

from torch import nn


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


MODELS: dict[str, Callable[[], nn.Module]] = {
    "tutorial": TutorialNet,
}


def build_model(name: str) -> nn.Module:
    try:
        return MODELS[name]()
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
