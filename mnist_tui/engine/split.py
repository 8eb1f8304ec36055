"""The validation split: images held out of the training set, so that every decision a run makes (early
stopping, the best weights, the plateau schedule) is made on images it neither trains on nor reports.

The split is drawn from the run's seed and balanced across classes: each class gives its share, in
proportion to its count (the remainders go to the classes with the largest fractions, ties to the lower
label). The same config gives the same split on any machine, so a resumed run holds out exactly the
images it held out before; its digest, recorded in the run's events and checkpoints, proves it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from .errors import InputError

SPLIT_SEED_OFFSET = 104_729  # the split's generator is seeded with the run's seed plus this


@dataclass(frozen=True)
class Split:
    train: torch.Tensor  # int64 indices into the training set, ascending
    validation: torch.Tensor  # int64 indices into the training set, ascending (empty without a split)

    @property
    def digest(self) -> str:
        """A short fingerprint of the held-out indices ("" without a split)."""
        if not len(self.validation):
            return ""
        return hashlib.sha256(self.validation.numpy().astype("<i8").tobytes()).hexdigest()[:16]


def validation_size(val_split: float, n_train: int) -> int:
    """How many images ``--val-split`` holds out of ``n_train``: a count as it is, a fraction of the set."""
    n = int(val_split) if val_split >= 1 else round(val_split * n_train)
    if val_split > 0 and not 0 < n < n_train:
        raise InputError(
            f"--val-split {val_split:g} would hold out {n:,} of the {n_train:,} training images: "
            "give a count or a fraction that leaves both sets some images"
        )
    return n


def split_training_set(labels: torch.Tensor, val_split: float, seed: int) -> Split:
    """Hold ``val_split`` (see ``validation_size``) of the images with ``labels`` out, balanced by class."""
    n_train = len(labels)
    n_val = validation_size(val_split, n_train)
    if n_val == 0:
        return Split(torch.arange(n_train), torch.empty(0, dtype=torch.long))
    labels = labels.cpu().long()
    classes = torch.unique(labels)
    counts = torch.stack([(labels == c).sum() for c in classes]).double()
    shares = counts * n_val / n_train
    quota = shares.floor().long()
    short = n_val - int(quota.sum())
    if short:  # the largest remainders first; a stable sort keeps ties in label order
        order = torch.sort(shares - quota.double(), descending=True, stable=True).indices
        quota[order[:short]] += 1
    generator = torch.Generator().manual_seed(seed + SPLIT_SEED_OFFSET)
    held_out = []
    for c, k in zip(classes.tolist(), quota.tolist()):
        members = torch.nonzero(labels == c).flatten()
        held_out.append(members[torch.randperm(len(members), generator=generator)[:k]])
    validation = torch.sort(torch.cat(held_out)).values
    keep = torch.ones(n_train, dtype=torch.bool)
    keep[validation] = False
    return Split(torch.nonzero(keep).flatten(), validation)
