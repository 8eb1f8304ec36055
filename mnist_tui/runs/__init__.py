"""Runs as things on disk and as processes (see docs/architecture.md).

``rundir`` (one run's directory: config, metrics, checkpoints, summary, process), ``start`` (the one
function that makes a trainer for a config or a resumed run), ``catalogue`` (every run and its state:
``mnist-tui runs``), ``protocol``, ``server`` and ``client`` (a run's Unix socket: its events out, commands
in), ``background`` (a run in a detached process), ``signals`` (process signals, for every front end) and
``devstats`` (CPU, memory and GPU readings of a training process).
"""
