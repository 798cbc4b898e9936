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


def test_readme_cli_synopsis_is_generated_from_the_app():
    from toolkit.cli_doc import synopsis

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"```\n{synopsis()}\n```" in readme, "run: python -m toolkit.cli_doc, and paste it into README.md"


def test_every_command_help_has_an_example():
    import typer

    from toolkit.cli import app
    from toolkit.cli_doc import _commands

    for path, command in _commands(typer.main.get_command(app), ()):
        assert "Example: news-toolkit " + " ".join(path) in (command.help or ""), path


def test_the_cli_lists_every_registered_importer():
    from toolkit.cli import Tool
    from toolkit.ingest import importer_names

    assert [tool.value for tool in Tool] == list(importer_names())


def test_the_cli_choices_are_the_librarys():
    import typing

    from toolkit.cli import Annotators, Compression, Engine, ExportFormat
    from toolkit.engines import EngineOptions
    from toolkit.export import _formats
    from toolkit.export.jsonl import SUFFIX
    from toolkit.export.rows import ANNOTATORS

    assert [f.value for f in ExportFormat] == list(_formats())
    assert [c.value for c in Compression] == list(SUFFIX)
    assert [a.value for a in Annotators] == list(ANNOTATORS)
    engine_type = typing.get_type_hints(EngineOptions)["engine"]
    assert [e.value for e in Engine] == list(typing.get_args(engine_type))
