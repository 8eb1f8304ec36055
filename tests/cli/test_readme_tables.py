"""The README's command table and the manual's key tables are made from the command registry and the app's
bindings (mnist_tui.cli.readme): they say what the program does, and leave nothing out."""

from __future__ import annotations

import shutil
from pathlib import Path

from mnist_tui.cli.common import USAGES
from mnist_tui.cli.readme import BLOCKS, COMMAND_PAGES, PAGES, blocks_in, main, updated
from mnist_tui.ui.live.app import MnistApp
from mnist_tui.ui.screens.help import key_name

ROOT = Path(__file__).resolve().parents[2]


def page(name: str, root: Path = ROOT) -> str:
    return (root / name).read_text(encoding="utf-8")


def block(name: str) -> str:
    """The generated block ``name`` as the page that holds it has it."""
    (holder,) = [p for p, names in PAGES.items() if name in names]
    return blocks_in(page(holder), [name])[name]


def copy_of_the_pages(tmp_path: Path) -> Path:
    for name in PAGES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, tmp_path / name)
    return tmp_path


def test_each_page_has_each_generated_block_as_the_program_makes_it():
    assert sorted(name for names in PAGES.values() for name in names) == sorted(BLOCKS)  # each block in one page
    for name, names in PAGES.items():
        found = blocks_in(page(name), names)
        for block_name in names:
            assert found[block_name] is not None, f"{name} has lost its {block_name!r} block's markers"
            assert found[block_name] == BLOCKS[block_name](), f"{name}'s {block_name!r} block is out of date"
        assert updated(page(name), names) == page(name)
    assert main([str(ROOT), "--check"]) == 0


def test_the_key_table_has_every_key_of_the_app():
    table = block("app-keys")
    rows = {line.split(" | ")[0].removeprefix("| ") for line in table.splitlines()[2:]}
    cells = {cell.strip("`") for row in rows for cell in row.split(", ")}
    for key, bindings in MnistApp._merged_bindings.key_to_bindings.items():
        if any(binding.id for binding in bindings):  # the app's commands (Textual's own have no id)
            assert key_name(key) in cells, f"the manual's key table leaves out {key_name(key)!r}"
    assert "t" in cells and "r" in cells  # the keys it once left out


def test_the_command_table_has_every_command_and_links_a_page_of_the_manual_on_it():
    table = block("commands")
    for usage in USAGES:
        target, _ = COMMAND_PAGES[usage.synopsis]
        assert f"| `mnist-tui {usage.synopsis}` | {usage.summary} | [" in table
        assert (ROOT / target).is_file(), f"the command table links {usage.synopsis!r} to {target}, which is missing"
    for name in ("sweep", "compare", "export", "predict", "draw"):
        assert f"`mnist-tui {name} " in table
    assert set(COMMAND_PAGES) == {usage.synopsis for usage in USAGES}  # no page named for a command that has gone


def test_a_stale_block_is_found_and_rewritten(tmp_path):
    root = copy_of_the_pages(tmp_path)
    app = root / "docs" / "app.md"
    app.write_text(page("docs/app.md").replace("| `t` |", "| `T` |"), encoding="utf-8")
    assert main([str(root), "--check"]) == 1
    assert app.read_text(encoding="utf-8") != page("docs/app.md")  # --check writes nothing
    assert main([str(root)]) == 0
    for name in PAGES:
        assert page(name, root) == page(name)


def test_a_page_without_its_markers_is_one_line_and_exit_2_and_no_page_is_written(tmp_path, capsys):
    root = copy_of_the_pages(tmp_path)
    stale = page("docs/app.md").replace("| `t` |", "| `T` |")
    (root / "docs" / "app.md").write_text(stale, encoding="utf-8")
    (root / "README.md").write_text("# nothing generated here\n", encoding="utf-8")
    assert main([str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "README.md" in err and "generated: commands" in err
    assert page("README.md", root) == "# nothing generated here\n"
    assert page("docs/app.md", root) == stale  # not rewritten either: nothing is written unless every page can be


def test_a_missing_page_is_one_line_and_exit_2(tmp_path, capsys):
    root = copy_of_the_pages(tmp_path)
    (root / "docs" / "model.md").unlink()
    assert main([str(root), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.md" in err and "Traceback" not in err


def test_the_draw_table_has_every_key_of_the_canvas():
    from mnist_tui.ui.apps.draw_app import StandaloneDrawScreen
    from mnist_tui.ui.widgets.canvas import Canvas

    table = block("draw-keys")
    for binding in [*Canvas.BINDINGS, *StandaloneDrawScreen.BINDINGS]:
        for key in binding.key.split(","):
            modifier, plus, base = key.rpartition("+")
            shown = f"| {modifier}{plus}arrows |" if base in ("up", "down", "left", "right") else f"`{key}`"
            assert shown in table, f"the manual's draw table leaves out {key!r}"
