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
    assert header.split() == ["name", "plugin", "pretrained", "tags", "description"]
    assert row.split()[:2] == ["toy", "user"]


def test_help_and_list_import_no_torch():
    code = ("import sys; from genae.cli import main; main(['--help']); main(['list']); main(['list', '--pretrained']);"
            "print('torch' in sys.modules, sorted(m for m in sys.modules if m.startswith('genae_plugins.')"
            " and m.count('.') > 1))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "False []"


def test_list_pretrained_tells_missing_files(runner, toy_name):
    from genae.registry import PretrainedSpec

    if "toy-unshipped-16" not in REGISTRY.pretrained:
        REGISTRY.add_pretrained(PretrainedSpec("toy-unshipped-16", "toy", dataset="unshipped",
                                               package_files="genae.testing:pretrained/toy-unshipped-16"))
    result = runner.invoke(cli, ["list", "--pretrained", "*-16"])
    rows = {line.split()[0]: line for line in result.output.splitlines()[2:]}
    assert "missing: the installed package has no config.json or model.safetensors" in rows["toy-unshipped-16"]
    bundled = runner.invoke(cli, ["list", "--pretrained", "vae-fashion-mnist-32"]).output.splitlines()[2]
    assert bundled.split()[-1] == "bundled"
    with pytest.raises(FileNotFoundError, match="toy-unshipped-16.*missing"):
        genae.load("toy-unshipped-16")


def test_usage_errors_are_one_line(capsys):
    assert main(["list", "--bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: No such option '--bogus'. (see `genae list --help`)"]
    assert main(["nosuchcommand"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_sample_count_is_bounded_before_any_work(capsys, tmp_path):
    out = tmp_path / "x.png"
    assert main(["sample", "automodulator-fashion-mnist-32", "-n", "9223372036854775808", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1<=x<=10000" in err[0] and "-n" in err[0]
    assert not out.exists()


def test_failed_plugin_is_reported_once_by_list(tmp_path):
    (tmp_path / "genae_broken_demo").mkdir()
    (tmp_path / "genae_broken_demo" / "__init__.py").write_text("def register(registry):\n    raise ImportError('no libfoo')\n")
    dist = tmp_path / "genae_broken_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: genae-broken-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[genae.plugins]\nbroken = genae_broken_demo:register\n")
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); from genae.cli import main; sys.exit(main(['list']))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "vae" in out.stdout
    assert [line for line in out.stderr.splitlines() if "no libfoo" in line] == [out.stderr.strip()]


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
