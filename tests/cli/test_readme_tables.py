"""The README's command list and key tables are made from the command registry and the app's bindings
(mnist_tui.cli.readme): they say what the program does, and leave nothing out."""

from __future__ import annotations

from pathlib import Path

from mnist_tui.cli.common import USAGES
from mnist_tui.cli.readme import BLOCKS, blocks_in, main, updated
from mnist_tui.ui.app import MnistApp
from mnist_tui.ui.screens.help import key_name

README = Path(__file__).resolve().parents[2] / "README.md"


def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_the_readme_has_each_generated_block_as_the_program_makes_it():
    found = blocks_in(readme())
    for name, make in BLOCKS.items():
        assert found[name] is not None, f"README.md has lost its {name!r} block's markers"
        assert found[name] == make(), f"README.md's {name!r} block is out of date: python -m mnist_tui.cli.readme"
    assert updated(readme()) == readme()
    assert main([str(README), "--check"]) == 0


def test_the_key_table_has_every_key_of_the_app():
    table = blocks_in(readme())["app-keys"]
    rows = {line.split(" | ")[0].removeprefix("| ") for line in table.splitlines()[2:]}
    cells = {cell.strip("`") for row in rows for cell in row.split(", ")}
    for key, bindings in MnistApp._merged_bindings.key_to_bindings.items():
        if any(binding.id for binding in bindings):  # the app's commands (Textual's own have no id)
            assert key_name(key) in cells, f"the README's key table leaves out {key_name(key)!r}"
    assert "t" in cells and "r" in cells  # the keys it once left out


def test_the_command_list_has_every_command():
    block = blocks_in(readme())["commands"]
    for usage in USAGES:
        assert f"mnist-tui {usage.synopsis} " in block
    for name in ("sweep", "compare", "export", "predict", "draw"):
        assert f"mnist-tui {name} " in block


def test_a_stale_block_is_found_and_rewritten(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(readme().replace("| `t` |", "| `T` |"), encoding="utf-8")
    assert main([str(path), "--check"]) == 1
    assert main([str(path)]) == 0
    assert path.read_text(encoding="utf-8") == readme()


def test_a_readme_without_the_markers_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "README.md"
    path.write_text("# nothing generated here\n", encoding="utf-8")
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "generated: commands" in err
    assert path.read_text(encoding="utf-8") == "# nothing generated here\n"


def test_the_draw_table_has_every_key_of_the_canvas():
    from mnist_tui.ui.draw_app import StandaloneDrawScreen
    from mnist_tui.ui.widgets.canvas import Canvas

    table = blocks_in(readme())["draw-keys"]
    for binding in [*Canvas.BINDINGS, *StandaloneDrawScreen.BINDINGS]:
        for key in binding.key.split(","):
            modifier, plus, base = key.rpartition("+")
            shown = f"| {modifier}{plus}arrows |" if base in ("up", "down", "left", "right") else f"`{key}`"
            assert shown in table, f"the README's draw table leaves out {key!r}"
