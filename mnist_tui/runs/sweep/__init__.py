"""Sweeps: many ordinary runs (seeds x a grid of settings) in one sweep directory, and what they add up to.

    SWEEP_DIR/
      sweep.json       the plan: every run's name, seed, setting, training options and the config it computes
      NAME/            one ordinary run directory per run of the plan (seed=0, lr=1e-3_seed=0, ...)
      logs/NAME.log    the output of the process that trains NAME (its flock: the run's claim, see runs.py)
      sweep.csv        one row per run: its setting, status, final test accuracy, time to the target, ...
      .lock            held by the sweep process (so a second one on the same directory is refused)
      .plan.lock       held while sweep.json is read and grown
      process.json     the sweep process (pid, start time, host); background.log when it is detached
      slurm/JOBID.sbatch   each job array submitted to Slurm (--slurm); its tasks' output in logs/slurm-*.out

Each run is its own process (``python -m mnist_tui ... --headless --run-dir SWEEP_DIR/NAME``), in a session
of its own: the sweep forwards one stop signal to it, and a killed sweep leaves it to finish. What to do with
a run is decided from its directory under its locks (``claim``): a finished run is kept, an interrupted or
crashed one resumes exactly from its last checkpoint (``--resume``), one that crashed before its first
checkpoint starts again, a missing one starts. So the same sweep command resumes a sweep, and a cluster's job
array can run one run per task (``only`` in the command line), on any node. Stdlib and psutil only (no
torch): planning, reporting and the sweep process itself never load it.

    plan.py       the plan, how it grows, the name of its directory
    grid.py       the plan from a command line: its seeds, its grid's options, every combination as a run
    directory.py  the sweep directory: its checks, sweep.json, the logs, the sweep's locks
    runs.py       each run's status, and the decision under its locks
    results.py    the rows, the statistics per setting, sweep.csv
    events.py     what the sweep process reports, and the tally of it
    runner.py     the sweep process and its runs' processes; a sweep in the background
    slurm.py      the sweep as a Slurm job array: the script, sbatch, the queue, where each run is
    slurm_submit.py  what --slurm submits: the resources, the data set, the runs not finished, each task's command
"""

from .directory import LOGS, RESULTS, SweepDirectory, default_sweep_dir, is_sweep
from .events import Progress, RunEnded, RunKept, RunLaunched, RunLeft, RunWaiting, SweepEvent, Tally
from .plan import MAX_RUNS, NOT_PLANNED, PLAN_VERSION, PlannedRun, SweepError, SweepPlan, planned_config, run_name
from .results import (
    CSV_COLUMNS,
    DEFAULT_TARGET,
    RunResult,
    SettingSummary,
    Stats,
    result_of,
    results,
    summarise,
    time_to_target,
    write_results,
)
from .runner import SweepRunner, check_devices, launch_detached, leave_terminal, train_command
from .runs import Claim, Status, claim, read_info, run_status

__all__ = [
    "CSV_COLUMNS", "DEFAULT_TARGET", "LOGS", "MAX_RUNS", "NOT_PLANNED", "PLAN_VERSION", "RESULTS", "Claim",
    "PlannedRun", "Progress", "RunEnded", "RunKept", "RunLaunched", "RunLeft", "RunResult", "RunWaiting",
    "SettingSummary", "Stats", "Status", "SweepDirectory", "SweepError", "SweepEvent", "SweepPlan",
    "SweepRunner", "Tally", "check_devices", "claim", "default_sweep_dir", "is_sweep", "launch_detached",
    "leave_terminal", "planned_config", "read_info", "result_of", "results", "run_name", "run_status",
    "summarise", "time_to_target", "train_command", "write_results",
]  # fmt: skip
