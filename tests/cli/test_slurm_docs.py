"""docs/slurm.md's job array script is the one ``mnist-tui sweep --slurm`` makes for the doc's own command
(only the Python, the directory it is submitted from and the cache are the reader's)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from mnist_tui.cli import sweep as sweep_cli
from mnist_tui.engine.data.catalogue import CACHE_ENV
from mnist_tui.engine.data.fetch import OFFLINE_ENV
from mnist_tui.runs import sweep as sw

DOC = Path(__file__).resolve().parents[2] / "docs" / "slurm.md"


def test_the_docs_script_is_what_slurm_submits_for_the_docs_command():
    text = DOC.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.DOTALL)
    (command,) = [b for b in blocks if "--slurm" in b and "#SBATCH" not in b]
    (script,) = [b for b in blocks if "#SBATCH --array" in b]
    words = shlex.split(command.replace("\\\n", " "))
    args = sweep_cli.parser().parse_args(words[words.index("sweep") + 1 :])
    plan = sweep_cli.plan_sweep(args)
    python = re.search(r"^exec (\S+) -m mnist_tui", script, re.MULTILINE).group(1)
    workdir = re.search(r"^#SBATCH --chdir=(\S+)$", script, re.MULTILINE).group(1)
    cache = re.search(rf"^export {CACHE_ENV}=(\S+)$", script, re.MULTILINE).group(1)
    made = sweep_cli.slurm_script(
        args,
        sw.SweepDirectory(args.run_dir),
        [r.index for r in plan.runs],
        sweep_cli._resources(args),
        {OFFLINE_ENV: "1", CACHE_ENV: cache},
        python=python,
        workdir=workdir,
    )
    assert made == script
