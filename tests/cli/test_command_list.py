"""Every command can be found: ``mnist-tui --help`` lists each subcommand from the registry that dispatches them
(common.USAGES), and every subcommand module is in it."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import mnist_tui.cli as cli
from mnist_tui.cli.common import COMMANDS, USAGES, command_list


def subcommand_modules() -> set[str]:
    """The modules of cli/ that are a command (a ``parser()`` and a ``run(args)``), training aside."""
    found = set()
    for info in pkgutil.iter_modules(cli.__path__):
        module = importlib.import_module(f"mnist_tui.cli.{info.name}")
        if callable(getattr(module, "parser", None)) and callable(getattr(module, "run", None)):
            found.add(info.name)
    return found - {"train"}


def test_every_subcommand_module_is_in_the_registry_that_dispatches_them():
    assert subcommand_modules() == set(COMMANDS)
    assert len(COMMANDS) == len(set(COMMANDS))


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_is_its_own_module_and_parser(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([name, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: mnist-tui {name}")


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in command_list().splitlines() if not line.startswith("   ")]
    assert listed == list(COMMANDS)
    for usage in USAGES:
        if usage.command:
            assert f"  {usage.synopsis}" in out, f"mnist-tui --help leaves out {usage.command!r}"
    assert command_list() in out
    for name in ("sweep", "compare", "export", "predict", "draw"):  # the ones it used to leave out
        assert f"\n  {name} " in out


def test_the_command_list_fits_80_columns():
    assert all(len(line) <= 80 for line in command_list(80).splitlines())


def test_help_names_every_binding_id_a_keymap_may_use(capsys):
    from mnist_tui.ui.live.commands import BINDING_IDS

    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert all(f" {binding_id}," in out or out.endswith(f" {binding_id}") for binding_id in BINDING_IDS)
