"""Modal screens: the quit confirmation and the help."""

from .help import HelpScreen
from .quit import QuitScreen

__all__ = ["HelpScreen", "QuitScreen"]
