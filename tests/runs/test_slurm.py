"""A sweep on a real Slurm: Debian's slurm-wlm and munge (installed with apt-get where the tests run as root,
skipped with the reason elsewhere), a one-node cluster of its own in a temporary directory (tests/helpers/slurm.py).

``mnist-tui sweep --slurm`` submits a small sweep as a job array; one task is cancelled (scancel: SIGTERM) and
one is told that its time limit is near (SIGUSR1, as --signal=B:USR1@N sends it) while their runs train; the
first ends interrupted, the second saves and requeues itself; ``--slurm`` again submits only the run that is
neither finished nor queued; the sweep's results then equal those of the same sweep trained here without
interruption. Tiny synthetic digits, a few hundred steps a run.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from helpers.cli import mnist_tui
from helpers.slurm import LocalSlurm, install, missing

from mnist_tui.runs import sweep as sw

TRAINING = ("--threads", "1", "--batch-size", "50", "--eval-every", "10", "--epochs", "50", "--max-steps", "300",
            "--no-early-stopping")  # fmt: skip
WAIT = 150  # seconds: the whole sweep on two CPUs takes well under a minute


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    install()
    why = missing()
    if why:
        pytest.skip(why)
    slurm = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        slurm.start()
        yield slurm
    finally:
        slurm.stop()


def until(ok, what: str, timeout: float = WAIT, cluster: LocalSlurm | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = ok()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {timeout} s\n{cluster.logs() if cluster else ''}")
        time.sleep(0.1)


def queue(cluster: LocalSlurm, job: str) -> dict[str, str]:
    """The job's array tasks in the queue: index -> state."""
    out = cluster.run("squeue", "--noheader", "--array", f"--jobs={job}", "--format=%i %T", check=False).stdout
    return {line.split()[0].split("_")[1]: line.split()[1] for line in out.splitlines() if "_" in line}


def submitted(result) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    found = re.search(r"submitted job array (\d+)", result.stdout)
    assert found, result.stdout
    return found.group(1)


def run_log(sweep: Path, name: str) -> str:
    return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted((sweep / "logs").glob("*")))


def iteration(run_dir: Path) -> int:
    info = sw.read_info(run_dir)
    return (info.iteration or 0) if info is not None else 0


def test_cancelled_and_requeued_tasks_resume_to_the_table_of_an_uninterrupted_sweep(cluster, synthetic_dir, tmp_path):
    env = cluster.env()
    sweep = tmp_path / "sweep"
    command = ("sweep", "--dataset", str(synthetic_dir), *TRAINING, "--seeds", "0-1", "--run-dir", str(sweep))
    job = submitted(mnist_tui(*command, "--slurm", "--time", "10", env_extra=env))
    script = (sweep / "slurm" / f"{job}.sbatch").read_text()
    assert "--gres" not in script and "--gpus" not in script and "--cpus-per-task" not in script  # a CPU partition
    assert "#SBATCH --signal=B:USR1@" in script and f"--output={sweep}/logs/slurm-%A_%a.out" in script

    runs = [sweep / "seed=0", sweep / "seed=1"]
    until(lambda: all(iteration(r) >= 20 for r in runs), "both runs training past their first checkpoint")
    status = mnist_tui("sweep", "--status", str(sweep), env_extra=env)
    assert status.returncode == 0 and status.stdout.count("training") >= 2, status.stdout
    cluster.run("scancel", f"{job}_0")  # SIGTERM: the run saves and ends interrupted
    cluster.run("scancel", "--signal=USR1", "--batch", f"{job}_1")  # the time limit is near: save and requeue
    until(lambda: queue(cluster, job) == {"1": "PENDING"}, "task 0 gone and task 1 requeued", cluster=cluster)
    for run in runs:
        until(lambda run=run: sw.run_status(run)[0] != sw.Status.RUNNING, f"{run.name} ended", cluster=cluster)
        assert sw.run_status(run)[0] == sw.Status.INTERRUPTED, (sw.run_status(run), run_log(sweep, run.name))
        assert iteration(run) < 300
    assert "the task is requeued" in (sweep / "logs" / f"slurm-{job}_1.out").read_text()
    status = mnist_tui("sweep", "--status", str(sweep), env_extra=env)
    lines = {line.split("│")[2].strip(): line for line in status.stdout.splitlines() if "seed=" in line}
    assert "interrupted" in lines["seed=0"] and "queued" in lines["seed=1"], status.stdout

    again = mnist_tui(*command, "--slurm", env_extra=env)  # only the run that is neither finished nor queued
    second = submitted(again)
    assert "1 run of 2" in again.stdout and "--array=0;" in again.stdout, again.stdout
    cluster.run("scontrol", "update", f"JobId={job}_1", "StartTime=now")  # skip Slurm's 2-minute requeue delay
    for run in runs:
        until(lambda run=run: sw.run_status(run)[0] == sw.Status.FINISHED, f"{run.name} finished", cluster=cluster)
    until(lambda: not queue(cluster, job) and not queue(cluster, second), "the queue empty")
    for run in runs:
        assert "resume" in (sweep / "logs" / f"{run.name}.log").read_text()  # resumed, not started again

    reference = tmp_path / "reference"
    trained = mnist_tui(*command[:-1], str(reference), "--devices", "cpu", "--headless")
    assert trained.returncode == 0, trained.stderr
    plan = sw.SweepDirectory(sweep).read_plan()
    got = sw.results(sw.SweepDirectory(sweep), plan, 0.99)
    expected = sw.results(sw.SweepDirectory(reference), sw.SweepDirectory(reference).read_plan(), 0.99)
    assert [(r.run.name, r.status, r.reason, r.final_test_accuracy) for r in got] == [
        (r.run.name, r.status, r.reason, r.final_test_accuracy) for r in expected
    ]
    assert [s.accuracy for s in sw.summarise(got)] == [s.accuracy for s in sw.summarise(expected)]
    report = mnist_tui("sweep", "--report", str(sweep), env_extra=env)
    title = " ".join(report.stdout.split())  # the table's title wraps where the sweep's path is long
    assert report.returncode == 0 and "2 of 2 runs finished" in title, report.stdout

    nothing = mnist_tui(*command, "--slurm", env_extra=env)
    assert nothing.returncode == 0 and "nothing to submit: 2 of 2 runs finished" in nothing.stdout, nothing.stdout

    # Another seed extends the sweep: its task is number 0 of its own command, run 2 of the grown sweep.
    extended = [*command]
    extended[extended.index("0-1")] = "2"
    held = submitted(mnist_tui(*extended, "--slurm", "--sbatch-arg=--hold", env_extra=env))
    try:
        assert "--only" in (sweep / "slurm" / f"{held}.sbatch").read_text()
        status = mnist_tui("sweep", "--status", str(sweep), env_extra=env)
        lines = {line.split("│")[2].strip(): line for line in status.stdout.splitlines() if "seed=" in line}
        assert "queued" in lines["seed=2"] and f"{held}_0" in lines["seed=2"], status.stdout
        assert "finished" in lines["seed=0"] and "finished" in lines["seed=1"], status.stdout
    finally:
        cluster.run("scancel", held)


def test_a_task_uses_the_cpus_slurm_gives_it_and_no_gpu_unless_asked(cluster, synthetic_dir, tmp_path):
    sweep = tmp_path / "sweep"
    result = mnist_tui(
        "sweep", "--dataset", str(synthetic_dir), "--max-steps", "5", "--seeds", "0-2", "--run-dir", str(sweep),
        "--slurm", "--cpus-per-task", "2", "--max-parallel", "1", "--sbatch-arg=--hold", env_extra=cluster.env(),
    )  # fmt: skip
    job = submitted(result)
    try:
        assert "3 runs of 3 (--array=0-2%1;" in result.stdout, result.stdout
        script = (sweep / "slurm" / f"{job}.sbatch").read_text()
        assert "#SBATCH --cpus-per-task=2" in script and "#SBATCH --array=0-2%1" in script
        assert "--devices cpu --threads 2 --only" in script and "--gpus" not in script
        assert queue(cluster, job) == {"0": "PENDING", "1": "PENDING", "2": "PENDING"}
    finally:
        cluster.run("scancel", job)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--cpus-per-task", "4096"), "the tasks would wait forever"),
        (("--gpus-per-task", "1"), "no node of the default partition has GPUs"),
        (("--gpus-per-task", "2"), "a run trains on one GPU"),
        (("--partition", "nowhere"), "nowhere"),
        (("--time", "ten"), "--time ten: expected minutes"),
    ],
)
def test_a_task_that_could_never_run_is_refused_before_submitting(cluster, synthetic_dir, tmp_path, options, expected):
    sweep = tmp_path / "sweep"
    result = mnist_tui(
        "sweep", "--dataset", str(synthetic_dir), *TRAINING, "--run-dir", str(sweep), "--slurm", *options,
        env_extra=cluster.env(),
    )  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and expected in lines[0], result.stderr
    assert not (sweep / "slurm").exists()  # nothing submitted


def test_the_data_set_is_checked_on_the_login_node_before_submitting(cluster, tmp_path):
    result = mnist_tui(
        "sweep", "--dataset", str(tmp_path / "no-data"), *TRAINING, "--run-dir", str(tmp_path / "sweep"), "--slurm",
        env_extra=cluster.env(),
    )  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "checked here before submitting" in lines[0], lines[0]
    assert not (tmp_path / "sweep" / "slurm").exists()


def test_slurm_options_need_slurm(synthetic_dir, tmp_path):
    result = mnist_tui("sweep", "--dataset", str(synthetic_dir), "--run-dir", str(tmp_path / "s"), "--time", "5")
    assert result.returncode == 2 and "--time is an option of --slurm" in result.stderr, result.stderr
    assert not (tmp_path / "s").exists()
