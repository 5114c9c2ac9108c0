import subprocess
import sys
import textwrap
import warnings

import pytest

import genae
from genae.registry import ModelSpec, PretrainedSpec, Registry, RegistryError


def test_create_applies_overrides_and_stamps_names(toy_name):
    model = genae.create(toy_name, width=8, latent_dim=4)
    assert model.config.width == 8 and model.latent_dim == 4
    assert model.architecture == "toy" and model.plugin == "tests"


def test_unknown_override_is_an_error(toy_name):
    with pytest.raises(ValueError, match="resoluton"):
        genae.create(toy_name, resoluton=32)


def test_invalid_config_value_names_the_field(toy_name):
    with pytest.raises(ValueError, match="resolution must be a power of two"):
        genae.create(toy_name, resolution=30)


def test_unknown_name_lists_closest(toy_name):
    with pytest.raises(RegistryError, match="did you mean: toy"):
        genae.create("toyy")


def test_list_models_patterns(toy_name):
    assert "toy" in genae.list_models("*")
    assert genae.list_models("to?") == ["toy"]
    assert genae.list_models("zzz*") == []


def test_two_plugins_registering_one_name_names_both():
    registry = Registry(group="genae.none")
    registry.load_plugin("first", lambda r: r.add_model(ModelSpec("same", "x:y")))
    with pytest.raises(RegistryError, match="'first'.*'second'"):
        registry.load_plugin("second", lambda r: r.add_model(ModelSpec("same", "x:y")))


def test_broken_plugin_warns_and_others_still_work():
    registry = Registry(group="genae.none")

    def broken(_registry):
        raise ImportError("needs libfoo")

    with pytest.warns(RuntimeWarning, match="'broken'.*needs libfoo"):
        registry.load_plugin("broken", broken)
    registry.load_plugin("fine", lambda r: r.add_model(ModelSpec("ok", "genae.testing.toy:ToyAutoencoder")))
    assert registry.list_models() == ["ok"]
    with pytest.raises(RegistryError, match="plugins that failed to load: broken"):
        registry.model_spec("missing")


def test_aliases_resolve_in_registry():
    registry = Registry(group="genae.none")
    registry.add_model(ModelSpec("automodulator", "x:y"))
    registry.add_alias("automod", "automodulator")
    assert registry.model_spec("automod").name == "automodulator"
    with pytest.raises(RegistryError, match="registered twice"):
        registry.add_alias("automod", "other")


def test_pretrained_spec_needs_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one"):
        PretrainedSpec("a", "b")
    with pytest.raises(ValueError, match="exactly one"):
        PretrainedSpec("a", "b", hf_repo="o/r", package_files="p:d")


def test_pretrained_prefix_and_architecture_errors(toy_name, tmp_path):
    from genae.factory import resolve_pretrained
    from genae.registry import REGISTRY

    model = genae.create(toy_name)
    model.save_pretrained(tmp_path / "w")
    if "toy-demo-16" not in REGISTRY.pretrained:
        REGISTRY.add_pretrained(PretrainedSpec("toy-demo-16", "toy", resolver=lambda spec: tmp_path / "w"))
    assert resolve_pretrained("toy-demo").name == "toy-demo-16"
    with pytest.raises(RegistryError, match="is an architecture, not pretrained weights"):
        resolve_pretrained("toy")


def test_import_genae_is_light():
    code = "import sys, genae; print('torch' in sys.modules, 'genae_plugins' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_list_models_does_not_import_plugin_model_code():
    code = textwrap.dedent("""
        import sys, warnings, genae
        warnings.simplefilter("ignore")
        genae.list_models("*")
        heavy = [m for m in sys.modules if m.startswith("genae_plugins.") and m.count(".") > 1]
        print(heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_third_party_plugin_via_entry_points(tmp_path):
    """A stranger's package with its own dist-info entry point is discovered, created, saved and loaded."""
    package = tmp_path / "genae_thirdparty_demo"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent("""
        from genae.registry import ModelSpec

        def register(registry):
            registry.add_model(ModelSpec("thirdparty-ae", "genae.testing.toy:ToyAutoencoder",
                                         defaults={"width": 4}, description="a plugin from outside"))
    """))
    dist = tmp_path / "genae_thirdparty_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: genae-thirdparty-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[genae.plugins]\nthirdparty = genae_thirdparty_demo:register\n")
    code = textwrap.dedent(f"""
        import sys, warnings
        sys.path.insert(0, {str(tmp_path)!r})
        warnings.simplefilter("ignore")
        import genae
        assert "thirdparty-ae" in genae.list_models("*"), genae.list_models("*")
        model = genae.create("thirdparty-ae")
        assert model.plugin == "thirdparty" and model.config.width == 4
        model.save_pretrained({str(tmp_path / "saved")!r})
        again = genae.load({str(tmp_path / "saved")!r})
        print(type(again).__name__, again.architecture, again.plugin)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ToyAutoencoder", "thirdparty-ae", "thirdparty"]


def test_register_model_as_decorator():
    from genae.registry import REGISTRY
    from genae.testing.toy import ToyAutoencoder

    @genae.register_model("toy-decorated", plugin="tests")
    class Decorated(ToyAutoencoder):
        pass

    assert REGISTRY.model_spec("toy-decorated").model_class() is Decorated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert genae.create("toy-decorated").architecture == "toy-decorated"
