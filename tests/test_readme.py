"""The README's generated parts are current."""

from conftest import REPO

from toolkit.problems import codes_markdown_table


def test_readme_problem_code_table_is_current():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert codes_markdown_table() in readme


def test_readme_gives_the_front_door_commands():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()
