"""The headless training engine: pure PyTorch, no UI imports (see DESIGN.md).

Modules: config lives one level up; ``models`` (networks), ``data`` (finding, checking and loading data
sets), ``trainer`` (the loop, as a generator of ``events``), ``control`` (pause/resume/stop/save from
another thread), ``checkpoints``, ``rundir`` (the run directory), ``device`` and ``devstats``.
"""
