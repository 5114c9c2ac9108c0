# Two commands: `make demo` (set up, then run the main job) and `make test` (set up, then the test suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.genae-installed
# The exact torch/torchvision pair this project is developed and tested with (CPU builds from the local
# wheel store on our machines). pyproject.toml itself only declares ranges, so users keep their own torch.
TORCH_PIN := torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test test-minimum lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml examples/plugin/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/pip install --disable-pip-version-check -q $(TORCH_PIN)
	$(BIN)/pip install --disable-pip-version-check -q -e ".[dev]"
	# The example third-party plugin is installed like any other, so its entry point is what CI exercises.
	$(BIN)/pip install --disable-pip-version-check -q -e examples/plugin
	touch $(STAMP)

demo: setup
	$(BIN)/genae demo --out demo-output

# Numerics-sensitive tests (marker `numerics`) run again on an emulated AVX2-only CPU with 1 and 2 threads:
# other kernels reduce in another order, which is what moves float32 results on users' machines
# (docs/reliability.md says what the emulation covers).
EMULATED_AVX2 := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q
	$(BIN)/python -m pytest -q examples/plugin/tests
	$(EMULATED_AVX2) OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m numerics -p no:cacheprovider
	$(EMULATED_AVX2) OMP_NUM_THREADS=2 $(BIN)/python -m pytest -q -m numerics -p no:cacheprovider

# A second venv keeps the declared lower bounds honest: the oldest huggingface-hub and safetensors that
# pyproject.toml allows (read from it), on the oldest CPU torch in the local wheel store (torch 2.1, the declared
# minimum, is published only with ~2.5 GB of CUDA libraries), running the hub and model-folder tests, and FID's
# Inception and the robust loss without the optional packages (no torch-fidelity, lpips, scipy or timm there).
MIN_VENV := .venv-minimum
MIN_TORCH ?= torch==2.13.0+cpu

test-minimum:
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/pip install --disable-pip-version-check -q "$(MIN_TORCH)" \
		$$($(PYTHON) .ci/minimum_requirements.py huggingface-hub safetensors) -e . pytest pytest-timeout
	$(MIN_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_hub.py tests/test_reliability_files.py \
		tests/test_metrics_inception.py tests/test_losses.py

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(MIN_VENV) demo-output .pytest_cache .ruff_cache
