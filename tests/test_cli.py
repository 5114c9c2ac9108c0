import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import genae
from genae.cli import cli, main
from genae.registry import REGISTRY, CommandSpec


@pytest.fixture()
def runner():
    return CliRunner()


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and genae.__version__ in result.output


def test_every_command_has_help(runner):
    names = cli.list_commands(click.Context(cli))
    assert {"list", "info", "push", "train", "bench", "reconstruct", "sample", "mix", "interpolate", "demo"} <= set(names)
    for name in names:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_list_shows_table(runner, toy_name):
    result = runner.invoke(cli, ["list", "to*"])
    assert result.exit_code == 0, result.output
    header, _, row = result.output.splitlines()[:3]
    assert header.split() == ["name", "plugin", "parameters", "resolution", "pretrained"]
    assert row.split()[:2] == ["toy", "tests"] and row.split()[3] == "16"


def test_info_architecture(runner, toy_name):
    result = runner.invoke(cli, ["info", "toy"])
    assert result.exit_code == 0, result.output
    assert '"style_mixing": true' in result.output and '"width": 16' in result.output


def test_errors_are_one_line(capsys, toy_name):
    assert main(["info", "toyy"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: unknown model or pretrained name 'toyy'") and "did you mean: toy" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_debug_shows_traceback(toy_name):
    with pytest.raises(Exception, match="toyy"):
        main(["--debug", "info", "toyy"])


def test_plugin_subcommand_nests_under_group(runner):
    @click.command("toyconv")
    @click.argument("src")
    def toyconv(src):
        """Convert a toy file."""
        click.echo(f"converted {src}")

    if "convert.toyconv" not in REGISTRY.commands:
        REGISTRY.add_command(CommandSpec("convert.toyconv", toyconv, plugin="tests"))
    result = runner.invoke(cli, ["convert", "toyconv", "file.pth"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "converted file.pth"
    assert "toyconv" in runner.invoke(cli, ["convert", "--help"]).output


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "genae.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and genae.__version__ in out.stdout
