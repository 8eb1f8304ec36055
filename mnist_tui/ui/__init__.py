"""The Textual interface: renders what the engine reports and sends it commands; no training logic here.

- ``live/``: the live app (``MnistApp``) that trains or watches one run, its mixins (steering, views,
  lifecycle, alerts), its commands and keymap, and how it is launched in a terminal or attached to a run.
- ``apps/``: the standalone apps: ``runs``, ``compare``, ``sweep``, ``inspect`` and ``draw``.
- ``screens/`` and ``widgets/``: what those apps show, one screen or widget a module (a widget's own styles
  in its ``DEFAULT_CSS``).
- ``common/``: display helpers the others share: number formats, pixels, chart history, the model's
  inference worker, the refresh rate, themes and screenshots.
- ``app.tcss``: the layout of the screens.

How the layers fit together: docs/architecture.md.
"""
