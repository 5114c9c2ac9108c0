import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

import genae
from genae.registry import ModelSpec, PretrainedSpec, Registry, RegistryError


def test_create_applies_overrides_and_stamps_names(toy_name):
    model = genae.create(toy_name, width=8, latent_dim=4)
    assert model.config.width == 8 and model.latent_dim == 4
    assert model.architecture == "toy" and model.plugin == "user"


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


def test_clash_is_reported_once_builtin_keeps_name_newcomer_reachable_qualified():
    registry = Registry(group="genae.none")
    registry.load_plugin("first", lambda r: r.add_model(ModelSpec("same", "x:first")), distribution="genae")

    def second(r):
        r.add_model(ModelSpec("same", "x:second"))
        r.add_model(ModelSpec("other", "x:other"))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert registry.load_plugin("second", second)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "'second'" in messages[0] and "'first'" in messages[0], messages
    assert "'second:same'" in messages[0] and registry.problems == messages
    assert registry.model_spec("same").model == "x:first"
    assert registry.model_spec("second:same").model == "x:second"
    assert registry.model_spec("first:same").model == "x:first"
    assert registry.model_spec("other").plugin == "second"
    assert registry.list_models() == ["other", "same"]


def _third_party_clash(order):
    """Plugins 'alpha' and 'zeta' (third-party) both register model 'same' and alias 'ae', loaded in ``order``."""
    registry = Registry(group="genae.none")
    plugins = {
        "alpha": lambda r: [r.add_model(ModelSpec("same", "x:alpha")), r.add_model(ModelSpec("alpha-ae", "x:a")),
                            r.add_alias("ae", "alpha-ae")],
        "zeta": lambda r: [r.add_model(ModelSpec("same", "x:zeta")), r.add_model(ModelSpec("ae", "x:z"))],
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in order:
            assert registry.load_plugin(name, plugins[name], distribution=f"{name}-models")
    return registry, [str(w.message) for w in caught]


@pytest.mark.parametrize("order", [("alpha", "zeta"), ("zeta", "alpha")])
def test_third_party_clash_is_refused_whatever_the_order(order):
    """Neither third-party plugin outranks the other: the bare name is an error naming the plugin:name choices."""
    registry, messages = _third_party_clash(order)
    assert registry.ambiguous == {"same": ("alpha:same", "zeta:same"), "ae": ("alpha:alpha-ae", "zeta:ae")}
    assert len(messages) == 2 and all("none of them outranks the others" in m for m in messages), messages
    assert "use 'alpha:same' or 'zeta:same'" in " ".join(messages)
    with pytest.raises(RegistryError, match=r"^'Same' is ambiguous: third-party plugins 'alpha' and 'zeta' each "
                                            r"register it; pick one: alpha:same, zeta:same$"):
        registry.model_spec("Same")
    with pytest.raises(RegistryError, match="'ae' is ambiguous.*pick one: alpha:alpha-ae, zeta:ae"):
        registry.model_spec("ae")
    assert registry.model_spec("alpha:same").model == "x:alpha" and registry.model_spec("zeta:same").model == "x:zeta"
    assert registry.model_spec("zeta:ae").model == "x:z" and registry.model_spec("alpha-ae").plugin == "alpha"
    assert registry.list_models() == ["alpha-ae"]


def test_a_third_plugin_joins_the_ambiguity_and_run_time_cannot_take_it():
    registry, _ = _third_party_clash(("alpha", "zeta"))
    with pytest.warns(RuntimeWarning, match=r"'mid' registers 'same', as do third-party plugins 'alpha', 'zeta'"):
        registry.load_plugin("mid", lambda r: r.add_model(ModelSpec("same", "x:mid")), distribution="mid-models")
    assert registry.ambiguous["same"] == ("alpha:same", "mid:same", "zeta:same")
    with pytest.raises(RegistryError, match=r"registered twice: by third-party plugins, ambiguously \(alpha:same, "
                                            r"mid:same, zeta:same\) and by plugin 'user'"):
        registry.add_model(ModelSpec("same", "x:run-time"))
    builtin = Registry(group="genae.none")
    builtin.load_plugin("core", lambda r: r.add_model(ModelSpec("same", "x:core")), distribution="genae")
    for name in ("alpha", "zeta"):
        with pytest.warns(RuntimeWarning, match=f"'{name}' registers model 'same', already registered by plugin "
                                                f"'core', which keeps it; '{name}:same' names the model of plugin '{name}'"):
            builtin.load_plugin(name, lambda r, n=name: r.add_model(ModelSpec("same", f"x:{n}")), distribution=name)
    assert builtin.ambiguous == {} and builtin.model_spec("same").plugin == "core"


def test_a_failed_plugin_leaves_no_ambiguity_behind():
    registry = Registry(group="genae.none")
    registry.load_plugin("alpha", lambda r: r.add_model(ModelSpec("same", "x:alpha")), distribution="a")

    def broken(r):
        r.add_model(ModelSpec("same", "x:broken"))
        raise RuntimeError("after claiming 'same'")

    with pytest.warns(RuntimeWarning, match="failed to load"):
        assert not registry.load_plugin("broken", broken, distribution="b")
    assert registry.ambiguous == {} and registry.model_spec("same").model == "x:alpha"
    with pytest.raises(RegistryError, match="registered twice"):
        registry.add_model(ModelSpec("same", "x:run-time"))


def test_clash_inside_one_plugin_or_at_run_time_is_an_error():
    registry = Registry(group="genae.none")
    with pytest.warns(RuntimeWarning, match="'twice'.*registered twice"):
        registry.load_plugin("twice", lambda r: [r.add_model(ModelSpec("a", "x:y")) for _ in range(2)])
    assert registry.list_models() == []
    registry.add_model(ModelSpec("a", "x:y", plugin="mine"))
    with pytest.raises(RegistryError, match="'mine'.*'user'"):
        registry.add_model(ModelSpec("A", "x:z"))


def test_failed_plugin_registers_nothing_and_is_reported_once():
    registry = Registry(group="genae.none")

    def half(r):
        r.add_model(ModelSpec("half-a", "x:y"))
        r.add_pretrained(PretrainedSpec("half-a-data-8", "half-a", resolver="x:y", aliases=("half-alias",)))
        raise RuntimeError("crashed after two names")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not registry.load_plugin("half", half)
    assert len(caught) == 1 and "none of its names were registered" in str(caught[0].message)
    assert registry.list_models() == [] and registry.list_models(pretrained=True) == []
    assert registry.aliases == {} and registry.failed_plugins == {"half": "RuntimeError: crashed after two names"}
    with pytest.raises(RegistryError, match="unknown model 'half-a'"):
        registry.model_spec("half-a")


def test_names_are_case_insensitive_and_colon_is_reserved():
    registry = Registry(group="genae.none")
    registry.add_model(ModelSpec("My-AE", "x:y"))
    assert registry.list_models() == ["my-ae"] and registry.model_spec("MY-ae").name == "my-ae"
    assert registry.list_models("MY-*") == ["my-ae"]
    with pytest.raises(ValueError, match="may not contain ':'"):
        ModelSpec("a:b", "x:y")


def test_weights_resolve_by_architecture_and_dataset_pairs_not_prefixes():
    registry = Registry(group="genae.none")
    registry.add_model(ModelSpec("vae", "x:y"))
    registry.add_model(ModelSpec("vae-adain", "x:y"))
    registry.add_pretrained(PretrainedSpec("vae-adain-fashion-mnist-32", "vae-adain", dataset="fashion-mnist",
                                           resolver="x:y"))
    assert registry.find_pretrained("VAE-ADAIN-fashion-mnist").name == "vae-adain-fashion-mnist-32"
    assert registry.find_pretrained("vae-adain-fashion") is None          # no prefix guessing
    assert registry.weights_of("vae") == []
    with pytest.raises(RegistryError, match="'vae' has no pretrained weights registered"):
        registry.pretrained_for("vae")
    with pytest.raises(RegistryError, match="no pretrained weights for dataset 'fashion-mnist'; weights of 'vae': none"):
        registry.pretrained_for("vae", "fashion-mnist")
    assert registry.pretrained_for("vae-adain", "Fashion-MNIST").name == "vae-adain-fashion-mnist-32"
    with pytest.raises(RegistryError, match="names pretrained weights.*genae.load.*pretrained=True"):
        registry.model_spec("vae-adain-fashion-mnist-32")


def test_packaged_weights_whose_files_are_missing_are_not_available():
    present = PretrainedSpec("p", "a", package_files="genae_plugins.baselines:pretrained/vae-fashion-mnist-32")
    absent = PretrainedSpec("q", "a", package_files="genae_plugins.baselines:pretrained/not-shipped")
    gone = PretrainedSpec("r", "a", package_files="genae_no_such_package:weights")
    assert present.availability() == (True, "bundled")
    assert absent.availability()[0] is False and "model.safetensors" in absent.availability()[1]
    assert gone.availability() == (False, "missing: package 'genae_no_such_package' is not installed")


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


def test_pretrained_names_and_architecture_errors(toy_name, tmp_path):
    from genae.factory import resolve_pretrained
    from genae.registry import REGISTRY

    model = genae.create(toy_name)
    model.save_pretrained(tmp_path / "w")
    if "toy-demo-16" not in REGISTRY.pretrained:
        REGISTRY.add_pretrained(PretrainedSpec("toy-demo-16", "toy", dataset="demo", resolver=lambda spec: tmp_path / "w"))
    assert resolve_pretrained("toy-demo").name == "toy-demo-16"
    assert resolve_pretrained("TOY-DEMO-16").name == "toy-demo-16"
    with pytest.raises(RegistryError, match="is an architecture, not pretrained weights.*pretrained=True"):
        resolve_pretrained("toy")


def test_bundled_names_resolve_like_a_user_types_them():
    """The newcomer's cases: create('VAE'), load('vae'), create(weights name), pretrained=True, bench aliases."""
    from genae.bench.runner import resolve_model_name

    assert genae.create("VAE", latent_dim=8).architecture == "vae"
    with pytest.raises(RegistryError, match="'vae' is an architecture") as error:
        genae.load("vae")
    assert "vae-adain" not in str(error.value) and "vae-fashion-mnist-32" in str(error.value)
    with pytest.raises(RegistryError, match=r"genae.load\('automodulator-fashion-mnist-32'\)"):
        genae.create("automodulator-fashion-mnist-32")
    weights = genae.create("vae", pretrained=True)
    assert weights.card["load_name"] == "vae-fashion-mnist-32"
    same = genae.load("vae-fashion-mnist-32")
    assert all(torch.equal(v, same.state_dict()[k]) for k, v in weights.state_dict().items())
    with pytest.raises(ValueError, match="overrides"):
        genae.create("vae", pretrained=True, latent_dim=4)
    assert resolve_model_name("automod", "fashion-mnist") == "automodulator-fashion-mnist-32"
    assert resolve_model_name("AutoMod", "Fashion-MNIST") == "automodulator-fashion-mnist-32"
    assert resolve_model_name("vae-adain", "fashion-mnist") == "vae-adain-fashion-mnist-32"
    assert resolve_model_name("wae", "fashion-mnist-mini") == "wae-fashion-mnist-32"  # a subset of its test split


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


def _install_fake_plugin(root, package, distribution, entry_name, register_body, requires=()):
    """A stranger's package with its own dist-info entry point, importable once ``root`` is on sys.path."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text(
        "from genae.registry import ModelSpec\n\ndef register(registry):\n" + textwrap.indent(register_body, "    "))
    dist = root / f"{distribution.replace('-', '_')}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n"
                                   + "".join(f"Requires-Dist: {line}\n" for line in requires))
    (dist / "entry_points.txt").write_text(f"[genae.plugins]\n{entry_name} = {package}:register\n")


def _python(code, *paths):
    prelude = "import sys, warnings\n" + "".join(f"sys.path.insert(0, {str(p)!r})\n" for p in paths)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True)


def test_third_party_plugin_via_entry_points(tmp_path):
    """Discovered, created, saved (with its distribution recorded) and loaded; without it, the error names it."""
    _install_fake_plugin(tmp_path / "site", "genae_thirdparty_demo", "genae-thirdparty-demo", "thirdparty",
                         'registry.add_model(ModelSpec("thirdparty-ae", "genae.testing.toy:ToyAutoencoder",\n'
                         '                             defaults={"width": 4}, description="a plugin from outside"))\n')
    saved = tmp_path / "saved"
    out = _python(f"""
        warnings.simplefilter("ignore")
        import genae, json
        assert "thirdparty-ae" in genae.list_models("*"), genae.list_models("*")
        model = genae.create("thirdparty-ae")
        assert model.plugin == "thirdparty" and model.config.width == 4
        model.save_pretrained({str(saved)!r})
        again = genae.load({str(saved)!r})
        print(type(again).__name__, again.architecture, again.plugin)
        print(json.load(open({str(saved / "config.json")!r}))["distribution"])
    """, tmp_path / "site")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["ToyAutoencoder", "thirdparty-ae", "thirdparty"]
    assert lines[1] == "{'name': 'genae-thirdparty-demo', 'version': '1.0'}"
    missing = _python(f"import genae; genae.load({str(saved)!r})")
    assert missing.returncode == 1
    assert ("plugin 'thirdparty' of the package 'genae-thirdparty-demo' 1.0, which is not installed: "
            "pip install genae-thirdparty-demo") in missing.stderr.splitlines()[-1]


def test_impostor_plugin_cannot_take_builtin_names(tmp_path):
    """A plugin sorting before genae's own that registers `vae`: genae's keeps it, the clash is one line."""
    _install_fake_plugin(tmp_path / "site", "genae_impostor", "genae-impostor", "aaa-impostor",
                         'registry.add_model(ModelSpec("vae", "genae.testing.toy:ToyAutoencoder"))\n'
                         'registry.add_model(ModelSpec("impostor-ae", "genae.testing.toy:ToyAutoencoder"))\n')
    out = _python("""
        from genae.cli import main
        code = main(["list"])
        import genae
        print("models", genae.create("vae", latent_dim=8).plugin, genae.create("aaa-impostor:vae").plugin,
              genae.create("impostor-ae").plugin)
        sys.exit(code)
    """, tmp_path / "site")
    assert out.returncode == 0, out.stderr
    assert "models baselines aaa-impostor aaa-impostor" in out.stdout
    rows = {line.split()[0]: line.split()[1] for line in out.stdout.splitlines()[2:] if line.strip()}
    assert rows["vae"] == "baselines" and rows["impostor-ae"] == "aaa-impostor" and "automodulator" in rows
    clash = [line for line in out.stderr.splitlines() if "'vae'" in line]
    assert len(clash) == 1 and "'aaa-impostor'" in clash[0] and "'baselines'" in clash[0], out.stderr


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


def test_status_says_exactly_what_loading_will_do(tmp_path, monkeypatch):
    """Built from the spec's fields: download (url, size, checksum) and convert, a manual step, or the cache."""
    monkeypatch.setenv("GENAE_HOME", str(tmp_path))
    monkeypatch.delenv("GENAE_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    url = "https://example.org/weights/g.pkl"
    checked = PretrainedSpec("g", "a", resolver="x:y", download_url=url, download_mb=363.9,
                             checksum="sha256:" + "0" * 64)
    unchecked = PretrainedSpec("u", "a", resolver="x:y", download_url=url)
    manual = PretrainedSpec("m", "a", resolver="x:y", manual_step="convert the pickle with TensorFlow")
    hub = PretrainedSpec("h", "a", hf_repo="org/repo")
    assert checked.availability() == (True, f"downloads {url} (364 MB, checks sha256) on first use and converts it "
                                            f"into {tmp_path / 'cache' / 'official' / 'g'}")
    assert "(size not recorded, no checksum recorded)" in unchecked.availability()[1]
    assert manual.availability() == (False, "needs a manual step: convert the pickle with TensorFlow")
    assert hub.availability() == (True, "downloads hf-hub:org/repo on first use (into the Hugging Face cache)")
    monkeypatch.setenv("GENAE_OFFLINE", "1")
    assert checked.availability()[0] is False and checked.availability()[1].startswith("offline, so it fails")
    (tmp_path / "cache" / "official" / "m").mkdir(parents=True)
    (tmp_path / "cache" / "official" / "m" / "config.json").write_text("{}")
    assert manual.availability() == (True, f"cached at {tmp_path / 'cache' / 'official' / 'm'}")
    with pytest.raises(ValueError, match="checksum must be 'sha256:<hex>'"):
        PretrainedSpec("c", "a", resolver="x:y", checksum="crc32:1")


def test_official_weights_status_names_their_download_or_manual_step(tmp_path, monkeypatch):
    from genae.registry import REGISTRY

    monkeypatch.setenv("GENAE_HOME", str(tmp_path))
    monkeypatch.delenv("GENAE_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    REGISTRY.discover()
    usable, status = REGISTRY.pretrained["automodulator-ffhq-256"].availability()
    assert usable and status.startswith("downloads https://zenodo.org/record/4298894/files/34740000_state.pth")
    usable, status = REGISTRY.pretrained["stylegan2-ffhq-1024"].availability()
    assert not usable and "needs a manual step" in status and "TensorFlow" in status


def test_model_registered_at_run_time_loads_in_a_new_process(tmp_path):
    """config.json records the class as module:qualname; a new process imports it when the name is unknown."""
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "runtime_models.py").write_text(
        "from genae.testing.toy import ToyAutoencoder\n\nclass Outer:\n    class RunTimeAE(ToyAutoencoder):\n"
        "        pass\n")
    saved = tmp_path / "saved"
    made = _python(f"""
        import genae, runtime_models, torch
        genae.register_model("run-time-ae", runtime_models.Outer.RunTimeAE)
        torch.manual_seed(3)
        genae.create("run-time-ae", width=4).save_pretrained({str(saved)!r})
    """, tmp_path / "code")
    assert made.returncode == 0, made.stderr
    assert '"model_class": "runtime_models:Outer.RunTimeAE"' in (saved / "config.json").read_text()
    loaded = subprocess.run(
        [sys.executable, "-c", f"import genae; m = genae.load({str(saved)!r}); "
                               "print(type(m).__qualname__, m.architecture, m.config.width)"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path / "code")})
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["Outer.RunTimeAE", "run-time-ae", "4"]
    missing = _python(f"import genae; genae.load({str(saved)!r})")
    assert missing.returncode == 1
    assert missing.stderr.splitlines()[-1] == (
        "genae.registry.RegistryError: architecture 'run-time-ae' is not registered and its recorded class "
        "'runtime_models:Outer.RunTimeAE' cannot be imported: no module named 'runtime_models'; put the module "
        "that defines it on the Python path (PYTHONPATH) or install the package that provides it")


def test_class_defined_in_main_is_not_recorded(tmp_path):
    saved = tmp_path / "saved"
    made = _python(f"""
        import genae, json
        from genae.testing.toy import ToyAutoencoder
        class Local(ToyAutoencoder):
            pass
        genae.register_model("main-ae", Local)
        genae.create("main-ae", width=4).save_pretrained({str(saved)!r})
        print("model_class" in json.load(open({str(saved / "config.json")!r})))
    """)
    assert made.returncode == 0 and made.stdout.split() == ["False"], made.stderr


def test_plugin_needing_a_newer_genae_is_skipped_with_the_upgrade_to_make(tmp_path):
    """Requires-Dist is read from the plugin's installed metadata at discovery; an unmet one skips it (one line)."""
    body = 'registry.add_model(ModelSpec("{}", "genae.testing.toy:ToyAutoencoder"))\n'
    _install_fake_plugin(tmp_path / "site", "genae_future", "genae-future", "future", body.format("future-ae"),
                         requires=["genae>=99.1", "torch>=2.1"])
    _install_fake_plugin(tmp_path / "site", "genae_present", "genae-present", "present", body.format("present-ae"),
                         requires=["genae (>=0.1,<99)", "genae>=99 ; extra == 'next'"])
    out = _python("""
        import genae
        print(genae.list_models("present-ae"), genae.list_models("future-ae"))
        genae.create("future-ae")
    """, tmp_path / "site")
    assert out.stdout.splitlines()[0] == "['present-ae'] []"
    skipped = [line for line in out.stderr.splitlines() if "'future'" in line and "Warning" in line]
    assert len(skipped) == 1, out.stderr
    assert skipped[0].endswith(
        f"genae plugin 'future' (genae_future:register) was skipped: genae-future 1.0 needs genae>=99.1 but genae "
        f"{genae.__version__} is installed; upgrade genae: pip install -U 'genae>=99.1'")
    assert "unknown model 'future-ae' (plugins that failed to load: future)" in out.stderr.splitlines()[-1]


def test_requirement_check_skips_before_register_runs():
    registry = Registry(group="genae.none")
    ran = []
    with pytest.warns(RuntimeWarning, match=r"'later' \(.*\) was skipped: later-pkg 2.0 needs genae>=50"):
        assert not registry.load_plugin("later", ran.append, distribution="later-pkg", version="2.0",
                                        requires=["genae>=50"])
    assert ran == [] and "pip install -U 'genae>=50'" in registry.failed_plugins["later"]
    assert registry.load_plugin("fine", ran.append, distribution="fine-pkg", requires=["genae>=0.0.1"])
    assert ran == [registry]


def test_two_installed_plugins_with_one_name_refuse_it_until_pinned(tmp_path):
    """Two real entry points (distributions) register 'clash-ae': one warning each, the bare name is an error."""
    for name, width in (("alpha", 4), ("zeta", 6)):
        _install_fake_plugin(tmp_path / "site", f"genae_{name}_models", f"genae-{name}-models", name,
                             f'registry.add_model(ModelSpec("clash-ae", "genae.testing.toy:ToyAutoencoder", '
                             f'defaults={{"width": {width}}}))\n')
    out = _python("""
        import genae
        print(genae.create("alpha:clash-ae").config.width, genae.create("zeta:clash-ae").config.width)
        genae.create("clash-ae")
    """, tmp_path / "site")
    assert out.stdout.split() == ["4", "6"], out.stderr
    clash = [line for line in out.stderr.splitlines() if "Warning" in line and "'clash-ae'" in line]
    assert len(clash) == 1 and "genae plugin 'zeta' registers 'clash-ae', as do third-party plugins 'alpha'" in clash[0]
    assert out.stderr.splitlines()[-1] == (
        "genae.registry.RegistryError: 'clash-ae' is ambiguous: third-party plugins 'alpha' and 'zeta' each "
        "register it; pick one: alpha:clash-ae, zeta:clash-ae")


def test_recorded_class_in_the_standard_library_is_refused_unimported(tmp_path):
    saved = tmp_path / "saved"
    made = _python(f"""
        import genae, json
        genae.register_model("stdlib-ae", "genae.testing.toy:ToyAutoencoder")
        genae.create("stdlib-ae", width=4).save_pretrained({str(saved)!r})
        path = {str(saved / "config.json")!r}
        config = json.load(open(path))
        config["model_class"] = "antigravity:Autoencoder"
        json.dump(config, open(path, "w"))
    """)
    assert made.returncode == 0, made.stderr
    out = _python(f"""
        import genae
        try:
            genae.load({str(saved)!r})
        except Exception as error:
            print(type(error).__name__, error)
        print("antigravity" in sys.modules)
    """)
    assert out.stdout.splitlines() == [
        "RegistryError architecture 'stdlib-ae' is not registered and its recorded class 'antigravity:Autoencoder' "
        "is in the standard library, where no genae model lives; refusing to import it", "False"], out.stderr
