"""The live app: ``MnistApp`` (app.py), which trains or watches one run, its mixins, commands and keymap, and
its launch in a terminal (launch.py) or as a viewer of another process's run (viewer.py)."""
