"""The command line: help for every command, one-line errors and exit codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scenescout_cli.cli import app, main, parse_duration
from scenescout_cli.errors import ConfigError

README = Path(__file__).parents[2] / "README.md"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:
        code = 0
    out, err = capsys.readouterr()
    return code, out, err


def _commands() -> list[list[str]]:
    import typer.main

    group = typer.main.get_command(app)
    found: list[list[str]] = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        if subcommands:
            found.extend([name, sub] for sub in subcommands)
        else:
            found.append([name])
    return found


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Each command answers --help with exit 0 and a description."""
    commands = _commands()
    for expected in (["crawl"], ["db", "migrate"], ["sandbox", "serve"]):
        assert expected in commands
    for command in commands:
        code, out, _ = run_cli([*command, "--help"], capsys)
        assert code == 0, command
        assert "Usage:" in out, command


def test_every_command_is_documented_in_the_readme() -> None:
    """The README names every command."""
    text = README.read_text(encoding="utf-8")
    for command in _commands():
        assert f"scenescout {' '.join(command)}" in text, command


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["crawl", "--city", "atlantis"], "unknown city 'atlantis'"),
        (["crawl", "--city", "nyc", "--bogus"], "No such option: --bogus"),
        (["crawl", "--city", "nyc", "--days", "0"], "--days"),
        (["crawl", "--city", "nyc", "--max-duration", "soon"], "--max-duration must look like"),
        (["crawl", "--city", "nyc", "--source", "myspace"], "unknown source 'myspace'"),
        (["crawl", "--near", "95,10"], "is not a point on Earth"),
        (["crawl", "--near", "40.7,-74", "--city", "nyc"], "either --city or --near"),
        (["crawl", "--city", "nyc", "--progress", "fancy"], "--progress"),
        (["crawl"], "--city is required"),
        (["events", "--format", "xml"], "--format"),
        (["events", "--category", "opera"], "unknown category 'opera'"),
        (["events", "--from", "next week"], "--from must be a date"),
    ],
)
def test_bad_flags_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad flag or value exits 2 with a one-line message naming the problem."""
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("scenescout: ")


def test_a_bad_environment_value_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad environment variable is a configuration error naming the variable."""
    monkeypatch.setenv("SCENESCOUT_ALLOW_PRIVATE_NETWORK", "perhaps")
    code, _, err = run_cli(["crawl", "--city", "nyc"], capsys)
    assert code == 2
    assert "SCENESCOUT_ALLOW_PRIVATE_NETWORK" in err


def test_a_crawl_without_any_key_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no key and no --sandbox there is nothing to crawl: exit 2, saying how to fix it."""
    monkeypatch.setenv("SCENESCOUT_DATA_DIR", str(tmp_path))
    code, _, err = run_cli(["crawl", "--city", "nyc", "--progress", "none"], capsys)
    assert code == 2
    assert "TICKETMASTER_API_KEY" in err
    assert "--sandbox" in err


def test_an_unreachable_database_exits_4(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database that refuses connections is exit 4 with a one-line message and no password."""
    monkeypatch.setenv("SCENESCOUT_DATABASE_URL", "postgresql://scout:hunter2@127.0.0.1:9/none")
    code, _, err = run_cli(["db", "info"], capsys)
    assert code == 4
    assert "cannot connect" in err
    assert "hunter2" not in err
    assert len(err.strip().splitlines()) == 1


def test_cities_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    """`scenescout cities` lists the presets with their zones."""
    code, out, _ = run_cli(["cities"], capsys)
    assert code == 0
    for slug in ("nyc", "la", "chicago", "sf", "london", "berlin", "paris", "toronto"):
        assert re.search(rf"\b{slug}\b", out)


@pytest.mark.parametrize(
    ("text", "seconds"), [("25m", 1500), ("1h30m", 5400), ("90s", 90), ("45", 45), ("2h", 7200)]
)
def test_durations_parse(text: str, seconds: float) -> None:
    """--max-duration accepts h/m/s forms and plain seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "10x", "m", "-5"])
def test_bad_durations_are_config_errors(text: str) -> None:
    """Nonsense durations are rejected."""
    with pytest.raises(ConfigError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "--sizes", "ten"], "--sizes must be event counts"),
        (["bench", "--sizes", "2000,-5"], "--sizes must be event counts"),
        (["bench", "--sizes", "0"], "--sizes must be positive"),
        (["bench", "--sizes", "2000", "--only", "speed"], "--only takes scenarios"),
    ],
)
def test_bench_with_bad_values_exits_2_before_running(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bench` with a bad --sizes or --only exits 2 with one line and writes nothing."""
    code, out, err = run_cli([*args, "--results", str(tmp_path / "results")], capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("scenescout: ")
    assert not (tmp_path / "results").exists()
    assert out == ""


def test_help_imports_no_crawl_machinery_and_no_markdown() -> None:
    """``scenescout --help`` loads the command line only (issue #7: under 0.3 s): not
    the pipeline, the database driver, HTTP, Trio, nor rich's markdown renderer."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from scenescout_cli.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('markdown_it', 'rich.markdown', 'psycopg', 'httpx', 'trio',\n"
        "         'scenescout_cli.pipeline')\n"
        "print(' '.join(name for name in heavy if name in sys.modules) or 'none')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert "Find every public event" in done.stdout
    assert done.stdout.split()[-1] == "none"
