"""mnist-tui: train a convolutional network on handwritten digits and watch it in the terminal."""

__version__ = "0.1.0"
