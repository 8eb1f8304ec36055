"""Modal screens: the quit confirmation, the help, and the early-stopping and learning-rate forms."""

from .early_stopping_form import EarlyStoppingForm
from .help import HelpScreen
from .learning_rate import LearningRateScreen
from .quit import QuitScreen

__all__ = ["EarlyStoppingForm", "HelpScreen", "LearningRateScreen", "QuitScreen"]
