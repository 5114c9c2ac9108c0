"""``check_model``: the conformance suite every genae model (ours or a plugin's) should pass.

Run it in a plugin's own tests: ``genae.testing.check_model(genae.create("my-model"))``. It checks the
contracts of ``genae.interfaces`` (see ``CONTRACTS``): shapes, value ranges (a decoder must be able to reach -1),
that the encoder reads its input and the decoder every latent dimension, dtype/device moves, seeded
determinism, the save/load round trip of every tensor, and style capabilities when the decoder declares them.
It reports every failure at once, each naming its contract and the method at fault.
"""

from __future__ import annotations

import copy
import json
import tempfile
import traceback
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genae.config import ModelConfig
from genae.interfaces import Decoder, Encoder, GenerativeAutoencoder, Prior, StyleDecoder

__all__ = ["CheckReport", "ConformanceError", "check_model", "check_recipe"]


class ConformanceError(AssertionError):
    """Raised by :func:`check_model` with every failed check listed."""


FIT_STEPS = 40  # Adam steps of the output-range probe

#: The contract each check verifies, quoted in its failure message.
CONTRACTS = {
    "components": "encoder/decoder/prior are genae Encoder/Decoder/Prior with the config's latent_dim",
    "config_json_round_trip": "the config survives to_json/from_dict unchanged",
    "shapes": "encode: (B, C, H, W) -> (B, latent_dim); decode/sample: -> (B, C, H, W)",
    "value_range": "decoded images are finite, in [-1, 1] and not constant",
    "decoder_output_range": "Decoder.forward returns images in [-1, 1] (background -1), not [0, 1]",
    "encoder_uses_input": "Encoder.forward gives different images different codes",
    "decoder_uses_latent": "Decoder.forward depends on every part of the latent",
    "bad_inputs_refused": "wrong shapes and sizes raise ValueError",
    "seeded_sampling": "sample(n, generator) is reproducible and depends on the seed",
    "deterministic_eval": "encode/decode are deterministic in eval mode",
    "batch_independence": "an image's code (and a code's image) do not depend on the rest of the batch",
    "gradients_flow": "a reconstruction loss sends gradients to encoder and decoder",
    "dtype_float64": "the model moves to float64 and computes the same thing",
    "save_load_bit_exact": "save_pretrained + genae.load rebuild the model exactly, every tensor included",
    "style_capabilities": "a StyleDecoder's forward_styles/num_styles/style_ranges agree with decode and mix",
}


@dataclass
class CheckReport:
    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    contracts: dict[str, str] = field(default_factory=lambda: CONTRACTS, repr=False)  # quoted on failure

    def __str__(self) -> str:
        lines = [f"{len(self.passed)} passed, {len(self.failed)} failed, {len(self.skipped)} skipped"]
        for name, why in self.failed.items():
            contract = self.contracts.get(name.split("_cuda")[0], "")
            lines.append(f"  FAILED {name}" + (f" [contract: {contract}]" if contract else "") + f": {why}")
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


class _Skip(Exception):
    pass


class _Violation(AssertionError):
    """A broken contract; its message names the method at fault (no traceback line: it would be ours)."""


def _model_frame(error: BaseException) -> str:
    """Where model code raised: the deepest frame outside genae.testing (the suite's own lines say nothing)."""
    here = str(Path(__file__).parent)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(here)]
    return f" (raised at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""


def check_model(
    model: GenerativeAutoencoder,
    *,
    batch_size: int = 2,
    seed: int = 0,
    devices: Sequence[str] | None = None,
    atol: float = 1e-5,
    raise_on_failure: bool = True,
) -> CheckReport:
    """Run every conformance check on ``model`` (left in eval mode on its original device and dtype)."""
    if not isinstance(model, GenerativeAutoencoder):
        raise TypeError(f"model: expected a GenerativeAutoencoder, got {type(model).__name__}")
    if batch_size < 2:
        raise ValueError(f"batch_size: need at least 2 to test batch independence, got {batch_size}")
    if devices is None:
        devices = ["cuda"] if torch.cuda.is_available() else []
    model.eval()
    ctx = _Context(model, batch_size, seed, atol)
    checks: list[tuple[str, Callable[[], None]]] = [
        ("components", ctx.components),
        ("config_json_round_trip", ctx.config_round_trip),
        ("shapes", ctx.shapes),
        ("value_range", ctx.value_range),
        ("decoder_output_range", ctx.decoder_output_range),
        ("encoder_uses_input", ctx.encoder_uses_input),
        ("decoder_uses_latent", ctx.decoder_uses_latent),
        ("bad_inputs_refused", ctx.bad_inputs),
        ("seeded_sampling", ctx.seeded_sampling),
        ("deterministic_eval", ctx.deterministic_eval),
        ("batch_independence", ctx.batch_independence),
        ("gradients_flow", ctx.gradients_flow),
        ("dtype_float64", ctx.dtype_move),
        ("save_load_bit_exact", ctx.save_load),
        ("style_capabilities", ctx.styles),
    ]
    checks += [(f"device_{d}", (lambda d=d: ctx.device_move(d))) for d in devices]
    report = run_checks(checks, CheckReport(), grad_for={"gradients_flow"})
    model.eval()
    if report.failed and raise_on_failure:
        raise ConformanceError(f"{model.architecture or type(model).__name__} failed conformance:\n{report}")
    return report


def run_checks(checks: Sequence[tuple[str, Callable[[], None]]], report: CheckReport,
               grad_for: Collection[str] | None = None) -> CheckReport:
    """Run every check into ``report``: one failure never hides the next. Checks run without autograd unless
    named in ``grad_for`` (``None``: all of them need it)."""
    for name, check in checks:
        try:
            with torch.enable_grad() if grad_for is None or name in grad_for else torch.no_grad():
                check()
        except _Skip as why:
            report.skipped[name] = str(why)
        except _Violation as violation:
            report.failed[name] = str(violation)
        except Exception as error:  # noqa: BLE001 - every failure is collected and reported
            report.failed[name] = f"{type(error).__name__}: {error}{_model_frame(error)}"
        else:
            report.passed.append(name)
    return report


class _Context:
    def __init__(self, model: GenerativeAutoencoder, batch_size: int, seed: int, atol: float) -> None:
        self.model, self.batch_size, self.seed, self.atol = model, batch_size, seed, atol
        # The methods a failure is blamed on, by class, so the message points at the plugin's code.
        self.enc = f"{type(getattr(model, 'encoder', None)).__name__}.forward"
        self.dec = f"{type(getattr(model, 'decoder', None)).__name__}.forward"

    def images(self, n: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        x = torch.rand(n or self.batch_size, *self.model.image_shape, generator=generator) * 2 - 1
        return x.to(device=self.model.device, dtype=dtype)

    def latents(self, n: int | None = None) -> torch.Tensor:
        return self.model.prior.sample(
            n or self.batch_size, generator=torch.Generator().manual_seed(self.seed), device=self.model.device
        )

    def components(self) -> None:
        m = self.model
        for name, kind in (("encoder", Encoder), ("decoder", Decoder), ("prior", Prior)):
            part = getattr(m, name, None)
            _require(isinstance(part, kind), f"model.{name} must be a {kind.__name__}, got {type(part).__name__}")
            _require(
                getattr(part, "latent_dim", None) == m.latent_dim,
                f"model.{name}.latent_dim ({getattr(part, 'latent_dim', None)}) != config.latent_dim ({m.latent_dim})",
            )
        _require(isinstance(m.config, ModelConfig), "model.config must be a genae.config.ModelConfig")

    def config_round_trip(self) -> None:
        config = self.model.config
        again = type(config).from_dict(json.loads(config.to_json()))
        _require(again == config, f"config changed through JSON: {config} -> {again}")

    def shapes(self) -> None:
        m, b = self.model, self.batch_size
        z = m.encode(self.images())
        _require(tuple(z.shape) == (b, m.latent_dim),
                 f"encode ({self.enc}) gave {tuple(z.shape)}, expected {(b, m.latent_dim)}")
        for name, out in (("decode", m.decode(z)), ("reconstruct", m.reconstruct(self.images())),
                          ("sample", m.sample(b, generator=torch.Generator().manual_seed(0)))):
            _require(tuple(out.shape) == (b, *m.image_shape),
                     f"{name} ({self.dec}) gave {tuple(out.shape)}, expected {(b, *m.image_shape)}")
        prior = m.prior.sample(3, generator=torch.Generator().manual_seed(0), device=m.device)
        _require(tuple(prior.shape) == (3, m.latent_dim),
                 f"{type(m.prior).__name__}.sample(3) gave {tuple(prior.shape)}, expected {(3, m.latent_dim)}")

    def value_range(self) -> None:
        out = self.model.decode(self.latents())
        _require(bool(torch.isfinite(out).all()), f"decode ({self.dec}) produced non-finite values")
        _require(float(out.min()) >= -1 and float(out.max()) <= 1, "GenerativeAutoencoder.decode output outside [-1, 1]")
        _require(float(out.std()) > 0, f"decode ({self.dec}) output is constant")
        z = self.model.encode(self.images())
        _require(bool(torch.isfinite(z).all()), f"encode ({self.enc}) produced non-finite values")

    def decoder_output_range(self) -> None:
        """Fit a copy of the decoder to the all-background image (-1): a [-1, 1] decoder gets there in a few
        steps, one ending in sigmoid or clamp(0, 1) never goes below 0. (An untrained decoder's sign says little.)"""
        decoder = copy.deepcopy(self.model.decoder).eval()
        params = [p for p in decoder.parameters() if p.requires_grad]
        if not params:
            raise _Skip("the decoder has no trainable parameters to probe its output range with")
        z = self.latents()
        optimizer = torch.optim.Adam(params, lr=0.02)
        reached = float("inf")
        with torch.enable_grad():
            for _ in range(FIT_STEPS):
                optimizer.zero_grad(set_to_none=True)
                out = decoder(z)
                reached = min(reached, float(out.detach().mean()))  # the best point of the fit counts
                (out + 1).square().mean().backward()
                optimizer.step()
        _require(reached < -0.5,
                 f"{self.dec}: fitted for {FIT_STEPS} Adam steps to the all-background image (-1), its mean output "
                 f"only reaches {reached:.2f}: it cannot go negative, so its images are in [0, 1] (sigmoid or clamp?) "
                 "while genae images are in [-1, 1]; end with tanh or map x -> 2x - 1")

    def encoder_uses_input(self) -> None:
        x = self.images(max(self.batch_size, 4))
        z = self.model.encode(x)
        spread = float((z - z[:1]).abs().max())
        _require(spread > 1e-6 * (1 + float(z.abs().max())),
                 f"{self.enc} returns the same code for {x.shape[0]} different images: it ignores its input "
                 "(a learned constant?)")

    def decoder_uses_latent(self) -> None:
        """Shift one group of latent coordinates at a time (by 0.5: sparse and one-hot codes change too)."""
        m = self.model
        z = self.latents(1)
        groups = torch.arange(m.latent_dim, device=m.device).chunk(min(m.latent_dim, 16))
        batch = z.repeat(len(groups) + 1, 1)
        for row, group in enumerate(groups, start=1):
            batch[row, group] += 0.5
        out = m.decoder(batch)
        change = (out[1:] - out[:1]).flatten(1).abs().amax(1)
        ignored = [f"{int(g[0])}..{int(g[-1])}" if len(g) > 1 else str(int(g[0]))
                   for g, c in zip(groups, change.tolist()) if c <= 1e-6]
        _require(not ignored, f"{self.dec} ignores latent dimension(s) {', '.join(ignored)} of {m.latent_dim}: "
                              "changing them leaves the image unchanged")

    def bad_inputs(self) -> None:
        m = self.model
        wrong_size = torch.zeros(1, m.channels, m.resolution // 2, m.resolution // 2, device=m.device)
        _raises(ValueError, lambda: m.encode(wrong_size), "encode of a half-resolution image")
        wrong_width = torch.zeros(1, m.latent_dim + 1, device=m.device)
        _raises(ValueError, lambda: m.decode(wrong_width), "decode of latents one too wide")
        _raises(ValueError, lambda: m.sample(0), "sample(0)")

    def seeded_sampling(self) -> None:
        a = self.model.sample(self.batch_size, generator=torch.Generator().manual_seed(self.seed))
        b = self.model.sample(self.batch_size, generator=torch.Generator().manual_seed(self.seed))
        c = self.model.sample(self.batch_size, generator=torch.Generator().manual_seed(self.seed + 1))
        _require(torch.equal(a, b), "two samples with the same seed differ")
        _require(not torch.equal(a, c), "samples with different seeds are identical")

    def deterministic_eval(self) -> None:
        x = self.images()
        _require(torch.equal(self.model.encode(x), self.model.encode(x)), "encode is not deterministic in eval mode")
        z = self.latents()
        _require(torch.equal(self.model.decode(z), self.model.decode(z)), "decode is not deterministic in eval mode")

    def batch_independence(self) -> None:
        x = self.images()
        whole = self.model.encode(x)
        rows = torch.cat([self.model.encode(x[i : i + 1]) for i in range(x.shape[0])])
        _close(whole, rows, self.atol * 10, "encoding a batch differs from encoding its rows one by one")
        z = self.latents()
        whole = self.model.decode(z)
        rows = torch.cat([self.model.decode(z[i : i + 1]) for i in range(z.shape[0])])
        _close(whole, rows, self.atol * 10, "decoding a batch differs from decoding its rows one by one")

    def gradients_flow(self) -> None:
        m = self.model
        m.zero_grad(set_to_none=True)
        m.decoder(m.encoder(self.images())).square().mean().backward()
        for name in ("encoder", "decoder"):
            grads = [p.grad for p in getattr(m, name).parameters() if p.requires_grad]
            _require(grads, f"{name} has no trainable parameters")
            _require(any(g is not None and bool(g.abs().sum() > 0) for g in grads), f"no gradient reaches the {name}")
        m.zero_grad(set_to_none=True)

    def dtype_move(self) -> None:
        m = self.model
        reference = m.reconstruct(self.images())
        try:
            m.to(torch.float64)
            out = m.reconstruct(self.images(dtype=torch.float64))
            _require(out.dtype == torch.float64, f"float64 model returned {out.dtype}")
            _close(out.float(), reference, 1e-3, "float64 reconstruction differs from float32")
        finally:
            m.to(torch.float32)

    def save_load(self) -> None:
        from genae.factory import load

        m = self.model
        _require(m.architecture, f"the model was built directly ({type(m).__name__}(config)), not with "
                 "genae.create(name), so save_pretrained cannot record which architecture to rebuild and save/load "
                 "cannot be checked: register the class (genae.register_model) and pass genae.create(name)")
        with tempfile.TemporaryDirectory() as tmp:
            m.save_pretrained(tmp)
            config = json.loads((Path(tmp) / "config.json").read_text())
            for key in ("architecture", "plugin", "genae_version", "config"):
                _require(key in config, f"config.json lacks {key!r}")
            _require("library_name: genae" in (Path(tmp) / "README.md").read_text(), "model card lacks library_name")
            again = load(tmp, device=m.device)
        mine, theirs = m.state_dict(), again.state_dict()
        _require(mine.keys() == theirs.keys(), "reloaded model has different state keys")
        for key in mine:
            _require(torch.equal(mine[key], theirs[key]), f"reloaded tensor {key!r} differs")
        unsaved, reloaded = _unsaved_tensors(m), _unsaved_tensors(again)
        for key, (kind, owner, value) in unsaved.items():
            same = key in reloaded and torch.equal(value.cpu(), reloaded[key][2].cpu())
            _require(same, f"{key} ({kind} of {owner}) differs after save/load: it is not in state_dict, so "
                           "model.safetensors does not hold it and a fresh model has another value; make it a "
                           "persistent buffer (register_buffer) or compute it from the config")
        x = self.images()
        _require(torch.equal(m.reconstruct(x), again.reconstruct(x)), "reloaded model reconstructs differently")

    def styles(self) -> None:
        m = self.model
        if not isinstance(m.decoder, StyleDecoder):
            raise _Skip("decoder is not style-based")
        decoder = m.decoder
        _require(decoder.num_styles >= 1, "num_styles must be at least 1")
        for name, (start, stop) in decoder.style_ranges.items():
            _require(0 <= start < stop <= decoder.num_styles, f"style range {name}={start, stop} is invalid")
        z, other = self.latents(), self.latents().flip(0)
        plain = m.decode(z)
        _close(decoder.forward_styles([z] * decoder.num_styles).clamp(-1, 1), plain, self.atol,
               "forward_styles with one latent everywhere differs from decode")
        _close(m.mix([z, z], [(0, 1), None]), plain, self.atol, "mixing identical latents differs from decode")
        changed = [not torch.equal(m.mix([other, z], [(s, s + 1), None]), plain) for s in range(decoder.num_styles)]
        _require(any(changed), "no single style slot changes the output: forward_styles ignores its styles")
        _raises(ValueError, lambda: m.mix([z], [(0, decoder.num_styles + 1)]), "a range beyond the last slot")
        _raises(ValueError, lambda: decoder.forward_styles([z] * (decoder.num_styles + 1)), "one style too many")


def _unsaved_tensors(model: torch.nn.Module) -> dict[str, tuple[str, str, torch.Tensor]]:
    """Tensors a module holds outside its state_dict: non-persistent buffers and plain tensor attributes."""
    found = {}
    for path, module in model.named_modules():
        prefix, owner = (f"{path}." if path else ""), type(module).__name__
        for name in module._non_persistent_buffers_set:
            if module._buffers.get(name) is not None:
                found[prefix + name] = ("a non-persistent buffer", owner, module._buffers[name])
        for name, value in vars(module).items():
            if isinstance(value, torch.Tensor):
                found[prefix + name] = ("a plain tensor attribute", owner, value)
    return found


def _require(condition: object, message: str) -> None:
    if not condition:
        raise _Violation(message)


def _close(a: torch.Tensor, b: torch.Tensor, atol: float, message: str) -> None:
    diff = float((a - b).abs().max())
    _require(diff <= atol, f"{message} (max abs diff {diff:.3g} > {atol:.3g})")


def _raises(kind: type[Exception], action: Callable[[], object], what: str) -> None:
    try:
        action()
    except kind:
        return
    except Exception as error:  # noqa: BLE001
        raise _Violation(f"{what} raised {type(error).__name__}, expected {kind.__name__}"
                         f"{_model_frame(error)}") from error
    raise _Violation(f"{what} was accepted; expected {kind.__name__}")


# Last: the recipe checks run on the helpers above.
from genae.testing.recipes import check_recipe  # noqa: E402
