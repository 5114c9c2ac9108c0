"""The benchmark runner end to end on tiny registered models, offline, with the shipped fashion extractor.

LPIPS backbones are not on this machine, so these runs pass ``random_weights=True``: LPIPS/PPL use
untrained AlexNet/VGG backbones and their labels say RANDOM-BACKBONE. The factor classifiers of the
disentanglement metric are trained for a few steps only (``CLASSIFIER_STEPS`` patched) to stay fast.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import Tensor

import genae
from genae.bench import run_bench
from genae.bench.cli import bench_command
from genae.bench.runner import METRICS, parse_metrics, resolve_model_name
from genae.interfaces import Decoder
from genae.registry import REGISTRY, PretrainedSpec
from genae.testing.toy import ToyAutoencoder, ToyConfig

pytestmark = pytest.mark.filterwarnings("ignore:FID from:UserWarning")
DATA = "fashion-mnist-mini"


class _PlainDecoder(Decoder):
    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        self.body = torch.nn.Linear(config.latent_dim, config.resolution**2 * config.channels_in)
        self.shape = (config.channels_in, config.resolution, config.resolution)

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(self.body(z)).view(-1, *self.shape)


class PlainToy(ToyAutoencoder):
    """The toy model with a decoder that is not style-based: mixing metrics are n/a for it."""

    def __init__(self, config: ToyConfig) -> None:
        super().__init__(config)
        self.decoder = _PlainDecoder(config)


@pytest.fixture(scope="module")
def toy_folders(tmp_path_factory) -> dict[str, Path]:
    REGISTRY.discover()
    if "toy-bench" not in REGISTRY.models:
        genae.register_model("toy-bench", "genae.testing.toy:ToyAutoencoder")
        genae.register_model("toy-bench-plain", PlainToy)
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    folders = {"style": root / "toy-style", "plain": root / "toy-plain"}
    genae.create("toy-bench", width=8).save_pretrained(folders["style"])
    genae.create("toy-bench-plain", width=8).save_pretrained(folders["plain"])
    if "toy-bench-fashion-mnist-mini-16" not in REGISTRY.pretrained:
        REGISTRY.add_pretrained(PretrainedSpec("toy-bench-fashion-mnist-mini-16", architecture="toy-bench",
                                               dataset=DATA, resolution=16, resolver=lambda spec: folders["style"]))
    return folders


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch) -> None:
    from genae.metrics import mixing

    monkeypatch.setenv("GENAE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(mixing, "CLASSIFIER_STEPS", 20)


def _figure(record: dict, name: str) -> dict:
    return next(f for f in record["figures"] if f["name"] == name)


def test_end_to_end_writes_every_report(toy_folders, tmp_path) -> None:
    out = tmp_path / "results"
    models = ["toy-bench", str(toy_folders["plain"]), "no-such-model"]
    records = run_bench(models, data=DATA, split="test", metrics="all", n=40, seed=0, out=out, batch_size=16,
                        random_weights=True, progress=False)
    style, plain, missing = records
    assert style["resolved"] == "toy-bench-fashion-mnist-mini-16" and style["status"] == "ok"
    assert {f["metric"] for f in style["figures"]} == set(METRICS)
    assert all(f["status"] == "ok" for f in style["figures"]), [f["reason"] for f in style["figures"]]

    fid = _figure(style, "fid")
    assert fid["label"] == "FID[fashion-mnist-features]" and fid["n"] == 40 and fid["value"] > 0
    assert fid["settings"]["weights_sha256"] and not fid["settings"]["random_init"]
    assert "Fashion-MNIST" in fid["settings"]["real_set"] or "fashion" in fid["settings"]["real_set"]
    kid = _figure(style, "kid")  # 40 vs 40 samples: one subset holds them all, so no spread is claimed
    assert kid["std"] is None and kid["settings"]["subsets"] == 1
    for name in ("precision", "recall", "coverage"):
        assert 0 <= _figure(style, name)["value"] <= 1 and _figure(style, name)["label"].startswith(name)
    assert _figure(style, "precision")["settings"]["k"] == 3 and _figure(style, "density")["settings"]["k"] == 5
    inception_score = _figure(style, "is")
    assert 1 <= inception_score["value"] <= 10 and inception_score["settings"]["splits"] == 10
    assert _figure(style, "fid_inf")["settings"]["points"] == 15
    assert "RANDOM-BACKBONE" in _figure(style, "lpips")["label"]
    assert -1 <= _figure(style, "ssim")["value"] <= 1 and _figure(style, "psnr")["value"] > 0
    dis = _figure(style, "disentanglement")
    assert 0 <= dis["value"] <= 1 and 0 <= dis["settings"]["ceiling"] <= 1
    assert {"swd_16", "disentanglement_shape", "encode_images_per_s", "decode_peak_mb"} <= {
        f["name"] for f in style["figures"]}
    assert set(style["images"]) == {"reconstructions", "samples", "mixing"}
    assert all(Path(p).is_file() for p in style["images"].values())

    assert plain["status"] == "ok"
    for metric in ("mix-fid", "disentanglement"):
        fig = _figure(plain, metric)
        assert fig["status"] == "n/a" and "not a style-based decoder" in fig["reason"]
    assert "mixing" not in plain["images"]
    assert missing["status"] == "failed" and "no-such-model" in missing["error"]

    document = json.loads((out / "results.json").read_text())
    assert document["schema"] == "genae-bench/1"
    meta = document["meta"]
    for key in ("data", "split", "n", "seed", "device", "genae_version", "git_commit", "extractor", "torch"):
        assert key in meta
    assert meta["n"] == 40 and meta["extractor"] == "fashion-mnist-features"
    for record in document["models"]:
        assert {"model", "status", "error", "figures", "images", "seconds"} <= set(record)
        for fig in record["figures"]:
            assert {"metric", "name", "label", "value", "std", "n", "status", "reason", "settings"} <= set(fig)
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert {r["model"] for r in rows} == set(models)
    table = (out / "results.md").read_text()
    assert "FID[fashion-mnist-features]" in table and "| toy-bench-fashion-mnist-mini-16 |" in table
    assert "not comparable with Inception FID" in table and "no-such-model** failed" in table
    assert "- extractor `fashion-mnist-features`: feature_dim=256, weights_file=fashion_mnist_features" in table
    assert "compare them only at the same N" in table and "PPL(z, lerp, clamped, no crop; genae)" in table


def test_feature_cache_is_used_and_can_be_bypassed(toy_folders, tmp_path) -> None:
    from genae.metrics.reference import load_reference

    kwargs = dict(data=DATA, metrics="fid", n=20, batch_size=16, progress=False)
    first = run_bench([str(toy_folders["style"])], **kwargs)
    cached = list((tmp_path / "home" / "cache" / "bench").glob("real-*.npz"))
    assert len(cached) == 1 and "fashion-mnist-mini-test-16px-1ch-fashion-mnist-features" in cached[0].name
    stored = load_reference(cached[0])
    assert stored.meta["extractor"]["extractor"] == "fashion-mnist-features" and stored.meta["split"] == "test"
    assert "32x32" in stored.meta["preprocessing"] and len(stored.indices) == 20
    assert _figure(first[0], "fid")["settings"]["real_features_file"] == str(cached[0])
    second = run_bench([str(toy_folders["style"])], **kwargs)
    assert _figure(first[0], "fid")["value"] == _figure(second[0], "fid")["value"]
    run_bench([str(toy_folders["style"])], **{**kwargs, "n": 30})  # the 10 images not seen yet join the file
    assert len(load_reference(cached[0]).indices) == 30
    cached[0].unlink()
    run_bench([str(toy_folders["style"])], no_cache=True, **kwargs)
    assert not list((tmp_path / "home" / "cache" / "bench").glob("real-*.npz"))


def test_errors_for_bad_requests(toy_folders) -> None:
    with pytest.raises(ValueError, match="unknown metric.*'fidd'.*valid: fid,"):
        run_bench("toy-bench", data=DATA, metrics="fid,fidd")
    with pytest.raises(ValueError, match="too few samples: n=201.*only 200"):
        run_bench("toy-bench", data=DATA, n=201)
    with pytest.raises(ValueError, match="too few samples"):
        run_bench("toy-bench", data=DATA, n=1)
    with pytest.raises(ValueError, match="no pretrained weights for dataset 'fashion-mnist'.*toy-bench-fashion"):
        resolve_model_name("toy-bench", "fashion-mnist")
    assert parse_metrics("all") == list(METRICS)


def test_interrupt_keeps_finished_models(toy_folders, tmp_path, monkeypatch) -> None:
    from genae.bench import runner

    calls = {"n": 0}
    original = runner._ModelRun.mse

    def interrupt_second_model(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(runner._ModelRun, "mse", interrupt_second_model)
    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        run_bench([str(toy_folders["style"]), str(toy_folders["plain"])], data=DATA, metrics="mse", n=10,
                  out=out, progress=False)
    saved = json.loads((out / "results.json").read_text())["models"]
    assert [m["status"] for m in saved] == ["ok", "interrupted"]
    assert saved[0]["figures"][0]["name"] == "mse"


def test_cli_prints_the_table_and_fails_on_failed_models(toy_folders, tmp_path) -> None:
    runner = CliRunner()
    args = ["--models", str(toy_folders["style"]), "--data", DATA, "--metrics", "mse,psnr,ssim,speed", "-n", "16",
            "--no-progress", "--out", str(tmp_path / "cli")]
    result = runner.invoke(bench_command, args)
    assert result.exit_code == 0, result.output
    assert "| model | MSE | PSNR (dB) | SSIM | encode img/s | decode img/s |" in result.output
    bad = runner.invoke(bench_command, ["--models", "toy-bench", "--data", DATA, "--metrics", "nope", "--no-progress"])
    assert bad.exit_code == 2 and "unknown metric" in bad.output
    failing = runner.invoke(bench_command, ["--models", "nothing-here", "--data", DATA, "--metrics", "mse",
                                            "-n", "4", "--no-progress"])
    assert failing.exit_code == 1


def test_quick_default_set_and_n_are_chosen_for_the_device(toy_folders) -> None:
    from genae.bench.runner import QUICK_METRICS, default_n

    meta: dict = {}
    records = run_bench([str(toy_folders["style"])], data=DATA, n=20, batch_size=16, progress=False, meta_out=meta)
    assert [f["metric"] for f in records[0]["figures"] if f["headline"]] == list(QUICK_METRICS)
    assert {"fid", "kid", "mse"} <= set(QUICK_METRICS) and meta["metric_set"] == "quick default"
    assert default_n("cpu") == 2048 and default_n("cuda") == 10000
    result = CliRunner().invoke(bench_command, ["--models", str(toy_folders["style"]), "--data", DATA, "-n", "20",
                                                "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "the quick default set; `--metrics all` computes every metric" in result.output


def test_output_folders_never_leave_out(tmp_path) -> None:
    from genae.bench.runner import output_folders

    names = ["..", ".", "/abs/model", "hf-hub:org/repo", "a/b", "a_b", "A_B", "../../etc"]
    folders = output_folders(tmp_path / "out", names)
    assert all(f.parent == tmp_path / "out" and f.name not in (".", "..") for f in folders)
    assert len({f.name.lower() for f in folders}) == len(names)
    assert [f.name for f in folders[:6]] == ["model", "model-2", "abs_model", "hf-hub_org_repo", "a_b", "a_b-2"]


def test_a_model_named_dotdot_writes_inside_out(toy_folders, tmp_path) -> None:
    import shutil

    shutil.copytree(toy_folders["style"], tmp_path / "model")
    (tmp_path / "model" / "inside").mkdir()
    out = tmp_path / "work" / "out"
    out.parent.mkdir()
    (out.parent / "samples.png").write_bytes(b"keep")  # where OUT/.. would have put the grid
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path / "model" / "inside")  # `..` is the model folder
        records = run_bench([".."], data=DATA, metrics="mse", n=10, out=out, progress=False)
    assert records[0]["status"] == "ok"
    assert Path(records[0]["images"]["samples"]) == out / "model" / "samples.png"
    assert (out.parent / "samples.png").read_bytes() == b"keep"
    written = json.loads((out / "results.json").read_text())["models"][0]["images"]
    assert written["samples"] == "model/samples.png" and str(tmp_path) not in json.dumps(written)


@pytest.mark.parametrize(("option", "message"), [
    (["--ppl-n", "-3"], "ppl_n: expected an int >= 2, got -3"),
    (["--seed", "-1"], "seed: expected an int >= 0, got -1"),
    (["--batch-size", "0"], "batch_size: expected an int >= 1, got 0"),
    (["-n", "-5"], "too few samples"),
    (["--crop", "0,0,0,4"], "--crop"),
])
def test_numeric_options_are_usage_errors_before_work(toy_folders, tmp_path, option, message) -> None:
    result = CliRunner().invoke(bench_command, ["--models", str(toy_folders["style"]), "--data", DATA,
                                                "--metrics", "ppl", "--no-progress", "--out", str(tmp_path / "o"), *option])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()


def test_a_failing_metric_fails_the_command_unless_allowed(toy_folders, monkeypatch) -> None:
    from genae.bench import runner

    def broken(self):
        raise RuntimeError("kaputt")

    monkeypatch.setattr(runner._ModelRun, "ssim", broken)
    args = ["--models", str(toy_folders["style"]), "--data", DATA, "--metrics", "mse,ssim", "-n", "8", "--no-progress"]
    failing = CliRunner().invoke(bench_command, args)
    assert failing.exit_code == 1 and "ssim: RuntimeError: kaputt" in failing.output
    assert "--allow-failed-metrics" in failing.output
    allowed = CliRunner().invoke(bench_command, [*args, "--allow-failed-metrics"])
    assert allowed.exit_code == 0 and "ssim: RuntimeError: kaputt" in allowed.output


def test_interrupt_without_out_does_not_claim_a_save(toy_folders, monkeypatch) -> None:
    from genae.bench import runner

    def interrupt(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner._ModelRun, "mse", interrupt)
    result = CliRunner().invoke(bench_command, ["--models", str(toy_folders["style"]), "--data", DATA,
                                                "--metrics", "mse", "-n", "8", "--no-progress"])
    assert result.exit_code == 130
    assert "nothing was saved (no --out given)" in result.output and "are saved" not in result.output


def test_markdown_shows_each_models_own_settings_and_resolved_names() -> None:
    from genae.bench.figures import figure, unavailable
    from genae.bench.report import markdown

    meta = {"data": "d", "split": "test", "n": 10, "seed": 0, "device": "cpu", "genae_version": "x",
            "metrics": ["semisup-error", "ppl"]}
    records = [
        {"model": "iae", "resolved": "iae-fashion-mnist-32", "status": "ok",
         "figures": [figure("semisup-error", "semisup_error", "semi-sup. error", 0.3, n=10, method="probe",
                            label_seed=11), unavailable("ppl", "n/a", "no")]},
        {"model": "iae-semisup", "resolved": "iae-semisup-fashion-mnist-32", "status": "ok",
         "figures": [figure("semisup-error", "semisup_error", "semi-sup. error", 0.2, n=10,
                            method="own prediction", label_seed=0)]},
    ]
    text = markdown(meta, records)
    assert "iae-fashion-mnist-32: N=10, method=probe, label_seed=11" in text
    assert "iae-semisup-fashion-mnist-32: N=10, method=own prediction, label_seed=0" in text
    assert "- iae-fashion-mnist-32: ppl n/a: no" in text and "- iae: ppl" not in text


def test_reference_file_replaces_the_real_split(toy_folders, tmp_path) -> None:
    from genae.metrics.reference import save_reference

    kwargs = dict(data=DATA, metrics="fid,kid,precision,coverage", n=20, batch_size=16, progress=False)
    run_bench([str(toy_folders["style"])], **kwargs)
    cached = next((tmp_path / "home" / "cache" / "bench").glob("real-*.npz"))
    direct = run_bench([str(toy_folders["style"])], **kwargs)[0]
    via_reference = run_bench([str(toy_folders["style"])], reference=cached, **kwargs)[0]
    assert _figure(via_reference, "fid")["value"] == pytest.approx(_figure(direct, "fid")["value"], rel=1e-9)
    assert "reference" in _figure(via_reference, "fid")["settings"]["real_set"]
    assert _figure(via_reference, "fid")["settings"]["reference_sha256"]
    np_stats = tmp_path / "stats.npz"
    import numpy as np

    np.savez(np_stats, mu=np.zeros(256), sigma=np.eye(256), n=np.array(500))
    only = run_bench([str(toy_folders["style"])], reference=np_stats, **kwargs)[0]
    assert _figure(only, "fid")["status"] == "ok" and _figure(only, "kid")["status"] == "n/a"
    wrong = save_reference(tmp_path / "wrong.npz", torch.randn(30, 256),
                           {"extractor": {"extractor": "inception-v3-compat", "weights_sha256": "ab"}})
    result = CliRunner().invoke(bench_command, ["--models", str(toy_folders["style"]), "--data", DATA, "--metrics",
                                                "fid", "-n", "20", "--no-progress", "--reference", str(wrong)])
    assert result.exit_code == 2 and "computed with extractor 'inception-v3-compat'" in result.output


def test_every_metric_shows_progress_including_disentanglement(toy_folders, capsys) -> None:
    run_bench([str(toy_folders["style"])], data=DATA, metrics="disentanglement,precision,density,mse", n=16,
              batch_size=8, progress=True)
    err = capsys.readouterr().err
    for text in ("factor classifier (trained once, then cached)", "disentanglement pairs",
                 "precision/recall", "density/coverage", ", disentanglement", ", mse"):
        assert text in err, text


def test_rfid_is_the_frechet_distance_of_reconstructions(toy_folders) -> None:
    from genae.data import open_dataset
    from genae.metrics.extractors import get_extractor
    from genae.metrics.frechet import frechet_distance

    (record,) = run_bench([str(toy_folders["style"])], data=DATA, metrics="rfid", n=24, seed=3, batch_size=8,
                          progress=False)
    rfid = _figure(record, "rfid")
    assert rfid["label"] == "rFID[fashion-mnist-features]" and rfid["n"] == 24
    model = genae.load(toy_folders["style"])
    dataset = open_dataset(DATA, split="test", resolution=model.resolution, channels=model.channels, seed=3)
    indices = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(3))[:24].sort().values
    real = torch.stack([dataset[int(i)][0] for i in indices])
    extractor = get_extractor("fashion-mnist-features")
    with torch.no_grad():
        expected = frechet_distance(extractor.extract(real.split(8)),
                                    extractor.extract(model.reconstruct(real).split(8)))
    assert rfid["value"] == pytest.approx(expected.value, rel=1e-4)


def test_quiet_is_still_accepted_for_no_progress(toy_folders, capsys) -> None:
    from genae.cli import main

    args = ["bench", "--models", str(toy_folders["style"]), "--data", DATA, "--metrics", "mse", "-n", "4"]
    assert main([*args, "--quiet"]) == 0
    quiet = capsys.readouterr().err
    assert main([*args, "--no-progress"]) == 0
    assert capsys.readouterr().err == quiet
    assert main([*args, "--progress"]) == 0
    assert len(capsys.readouterr().err.splitlines()) > len(quiet.splitlines())
