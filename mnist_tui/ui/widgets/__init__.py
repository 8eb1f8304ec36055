"""One widget a module; the app composes them and routes events to them."""

from .accuracy_chart import AccuracyChart
from .device_panel import DevicePanel
from .early_stopping import EarlyStoppingPanel
from .loss_chart import LossChart
from .predictions import PredictionStrip
from .run_log import RunLog
from .status import StatusPanel
from .train_digits import TrainDigits

__all__ = [
    "AccuracyChart",
    "DevicePanel",
    "EarlyStoppingPanel",
    "LossChart",
    "PredictionStrip",
    "RunLog",
    "StatusPanel",
    "TrainDigits",
]
