"""Screens: the live training screen (training.py) and the modal ones on top of it: the quit confirmation, the
help, and the early-stopping and learning-rate forms (the error browser is errors.py)."""

from .early_stopping_form import EarlyStoppingForm
from .help import HelpScreen
from .learning_rate import LearningRateScreen
from .quit import QuitScreen
from .training import TrainingScreen

__all__ = ["EarlyStoppingForm", "HelpScreen", "LearningRateScreen", "QuitScreen", "TrainingScreen"]
