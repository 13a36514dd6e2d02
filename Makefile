# The two commands of the README: `make demo` and `make test`.
# Both build .venv/ with the pinned stack on first use and reuse it after.
# setuptools: torch 2.13 needs >= 77.0.3, mmcv 2.1.0's setup.py needs
# pkg_resources (gone from recent releases); 80.9.0 satisfies both.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONFIG ?= configs/retinanet/retinanet_r18_fpn_demo.py
WORK_DIR ?= work_dirs/demo
STAMP := $(VENV)/.stack-installed

# The floor of the supported torch range, checked by `make test-compat`.
COMPAT_TORCH ?= 2.1.2
COMPAT_VENV := .venv-compat
COMPAT_PY := $(COMPAT_VENV)/bin/python
COMPAT_STAMP := $(COMPAT_VENV)/.stack-installed
# mmcv's wheel is built against one torch: a cache of its own per torch,
# or pip would hand this venv the wheel built for the main venv's torch
COMPAT_PIP := PIP_CACHE_DIR=$(HOME)/.cache/pip-torch-$(COMPAT_TORCH) \
	$(COMPAT_PY) -m pip
# torch 2.1 is built against numpy 1: keep every install below 2
NUMPY1 := 'numpy<2'

.PHONY: venv demo test test-compat gpu-check gpu-tests data lint bench bench-training results results-plan results-tune results-tune-plan results-tune-best results-tune-best-plan results-long results-long-plan results-long-seed2 results-finetune results-finetune-plan results-table sweep sweep-alrp clean

venv: $(STAMP)

# One stamp file for the whole stack so a half-built venv is finished on the
# next run instead of being taken as complete.
$(STAMP): setup.cfg setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo ">>> installing torch 2.13.0 (CPU) and build requirements"
	$(PIP) install --quiet torch==2.13.0 numpy 'setuptools==80.9.0' wheel
	@echo ">>> building mmcv 2.1.0 with ops (about 11 min the first time; pip caches the wheel)"
	MMCV_WITH_OPS=1 MAX_JOBS=2 $(PIP) install --no-build-isolation mmcv==2.1.0
	@echo ">>> installing mmengine, mmdet and the plugin"
	$(PIP) install --quiet mmengine==0.10.7 mmdet==3.3.0
	$(PIP) install --quiet --no-build-isolation -e '.[tests,lint,demo]'
	@touch $(STAMP)

data: $(STAMP)
	$(PY) tools/misc/make_demo_data.py --out data/demo

demo: $(STAMP)
	$(PY) tools/demo.py $(CONFIG) --work-dir $(WORK_DIR)

test: $(STAMP)
	$(PY) -m pytest -q tests

# The whole suite on the floor of the supported range (torch 2.1, what
# mmcv 2.1.0's prebuilt CUDA wheels and so most mmdet 3.3 users run), CPU
# build from PyPI, numpy 1, mmcv 2.1.0 compiled against it (about 11 min
# the first time; its own pip cache keeps the wheel).
$(COMPAT_STAMP): setup.cfg setup.py
	@test -x $(COMPAT_PY) || $(PYTHON) -m venv $(COMPAT_VENV)
	@echo ">>> installing torch $(COMPAT_TORCH) and build requirements"
	$(COMPAT_PIP) install --quiet torch==$(COMPAT_TORCH) $(NUMPY1) \
		'setuptools==80.9.0' wheel
	@echo ">>> building mmcv 2.1.0 against torch $(COMPAT_TORCH)"
	MMCV_WITH_OPS=1 MAX_JOBS=2 $(COMPAT_PIP) install --no-build-isolation \
		mmcv==2.1.0 $(NUMPY1)
	$(COMPAT_PIP) install --quiet mmengine==0.10.7 mmdet==3.3.0 $(NUMPY1)
	$(COMPAT_PIP) install --quiet --no-build-isolation -e '.[tests,demo]' \
		$(NUMPY1)
	@touch $(COMPAT_STAMP)

test-compat: $(COMPAT_STAMP)
	$(COMPAT_PY) -c "import torch, numpy; print('torch', torch.__version__, '| numpy', numpy.__version__)"
	$(COMPAT_PY) -m pytest -q tests

# The GPU check (tools/gpu_check.py): needs only a CUDA build of torch, no
# venv, no mmcv/mmengine/mmdet (a bare accelerator machine); prints one
# table and writes results/gpu_check.json. GPU_PYTHON picks the interpreter.
GPU_PYTHON ?= python3
gpu-check:
	$(GPU_PYTHON) tools/gpu_check.py --out results/gpu_check.json

# The CUDA tests of the suite (tests/gpu), on a GPU machine with the full
# stack; elsewhere every one is reported as skipped with the reason.
gpu-tests: $(STAMP)
	$(PY) -c "import torch; print('torch', torch.__version__, '| CUDA available:', torch.cuda.is_available(), '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no device')"
	$(PY) -m pytest -v -rs -m cuda tests/gpu

# What CI checks before the tests (.pre-commit-config.yaml runs the same):
# style, import order, formatting, spelling, and the types of the package
# (setup.cfg: strict on functional/, dist.py and checks.py).
LINT_PATHS := mmdet_lossplus tools tests configs
lint: $(STAMP)
	$(PY) -m flake8 $(LINT_PATHS)
	$(PY) -m isort --check-only --diff $(LINT_PATHS)
	$(PY) -m yapf --diff -r $(LINT_PATHS)
	$(PY) -m codespell_lib $(LINT_PATHS) docs README.md
	$(PY) -m mypy mmdet_lossplus

bench: $(STAMP)
	$(PY) tools/benchmarks/bench_ghm.py
	$(PY) tools/benchmarks/bench_iou.py
	$(PY) tools/benchmarks/bench_ranking_losses.py
	$(PY) tools/benchmarks/bench_ranking_losses.py --scaling
	$(PY) tools/benchmarks/bench_memory.py

# Seconds per iteration of each loss vs the focal baseline of its detector,
# 1 and 2 processes, and the losses' share of the iteration (about 20 min;
# on a machine doing nothing else).
bench-training: $(STAMP)
	$(PY) tools/benchmarks/bench_training.py --rounds 2

# Every demo config for SEEDS, and the AP-loss demo on 2 processes x 4
# images (images dealt at random or by object-count shards; global or
# per-process ranking), resumable: recorded runs are skipped, each finished
# run is appended to results/demo_runs.jsonl. Then `results-table`.
# About 5-14 min per run on 2 cores; spread it over sittings at will.
# `make results-plan` lists the runs still to do and the time they take.
RESULT_CONFIGS ?= $(sort $(wildcard configs/*/*_demo.py))
SEEDS ?= 0 1 2
AP_2X4 := configs/ap_loss/retinanet_r18_fpn_aploss_demo.py
SHARDS := train_dataloader.sampler.type=mmdet_lossplus.ObjectCountShardSampler
LOCAL := model.bbox_head.loss_cls.scope=local
# $(1): extra flags of every demo_results.py call (--dry-run: list only)
define result_runs
	$(PY) tools/analysis_tools/demo_results.py $(RESULT_CONFIGS) --seeds $(SEEDS) $(1)
	for sampler in "" $(SHARDS); do for scope in "" $(LOCAL); do \
		$(PY) tools/analysis_tools/demo_results.py $(AP_2X4) --seeds $(SEEDS) \
			--gpus 2 $(1) --cfg-options train_dataloader.batch_size=4 \
			$$sampler $$scope || exit 1; \
	done; done
endef
results: $(STAMP)
	$(call result_runs,)
	$(MAKE) results-table

results-plan: $(STAMP)
	@$(call result_runs,--dry-run)

# Score-shift sweep (AP-loss RetinaNet, a global batch of 8 images): 1 x 8
# (global and per-process ranking coincide), then W processes x 8/W images
# with global and with per-process ranking, for SEEDS. Resumable like
# `results`; 8 processes on 2 cores are slow (budget the runs).
# `make sweep-alrp`: the same for aLRP-RetinaNet, 1 x 8 and 4 x 2.
AP_DEMO := configs/ap_loss/sweep/retinanet_r18_fpn_aploss_sweep.py
ALRP_SWEEP := configs/alrp/sweep/retinanet_r18_fpn_alrp_sweep.py
# the sweep's tables (and the 2 x 4 rows of the AP-loss demo config, random
# dealing and object-count shards) in the READMEs, and their pictures
SWEEP_TABLE = $(PY) tools/analysis_tools/score_shift_sweep.py $(AP_DEMO) \
	configs/ap_loss/retinanet_r18_fpn_aploss_demo.py \
	--readme docs/results.md configs/ap_loss/README.md \
	--plot docs/images/score_shift_sweep.png && \
	$(PY) tools/analysis_tools/score_shift_sweep.py $(ALRP_SWEEP) \
	--readme configs/alrp/README.md \
	--plot docs/images/score_shift_sweep_alrp.png
SWEEP_PROCS ?= 2 4 8
ALRP_SWEEP_PROCS ?= 4
# $(1): the swept config, $(2): the process counts W (8 / W images each)
define sweep_runs
	$(PY) tools/analysis_tools/demo_results.py $(1) --seeds $(SEEDS)
	for w in $(2); do for scope in "" $(LOCAL); do \
		$(PY) tools/analysis_tools/demo_results.py $(1) --seeds $(SEEDS) \
			--gpus $$w --cfg-options train_dataloader.batch_size=$$((8 / w)) \
			$$scope || exit 1; \
	done; done
endef
sweep: $(STAMP)
	$(call sweep_runs,$(AP_DEMO),$(SWEEP_PROCS))
	$(MAKE) results-table

sweep-alrp: $(STAMP)
	$(call sweep_runs,$(ALRP_SWEEP),$(ALRP_SWEEP_PROCS))
	$(MAKE) results-table

# Issue 26, step 1: the learning rate of each headline row tuned (x 0.5 and
# x 2 of the demo's AdamW 2e-3) with TUNE_SEEDS, recorded like every run
# in results/lr_tuning.jsonl, apart from the headline table until every
# row is tuned (resumable: recorded runs are skipped;
# `make results-tune-plan` lists what is left). The demo lr itself is the
# recorded 3-seed row.
TUNE_CONFIGS := configs/retinanet/retinanet_r18_fpn_demo.py \
	configs/ap_loss/retinanet_r18_fpn_aploss_demo.py \
	configs/atss/atss_r18_fpn_demo.py configs/atss/atss_r18_fpn_ranksort_demo.py \
	configs/fcos/fcos_r18_fpn_demo.py configs/fcos/fcos_r18_fpn_aploss_demo.py
TUNE_LRS ?= 0.001 0.004
TUNE_SEEDS ?= 0 1
# $(1): extra flags of every demo_results.py call (--dry-run: list only)
define tune_runs
	for lr in $(TUNE_LRS); do \
		$(PY) tools/analysis_tools/demo_results.py $(TUNE_CONFIGS) \
			--seeds $(TUNE_SEEDS) \
			--results results/lr_tuning.jsonl \
			--cfg-options optim_wrapper.optimizer.lr=$$lr $(1) || exit 1; \
	done
endef
results-tune: $(STAMP)
	$(call tune_runs,)

results-tune-plan: $(STAMP)
	@$(call tune_runs,--dry-run)

# Step 1 continued: the best lr of each row (over TUNE_SEEDS) gets seed 2
# too; `python tools/analysis_tools/lr_tuning.py --tuned` prints the rows
# at their best lr against their detector's tuned focal.
results-tune-best: $(STAMP)
	$(PY) tools/analysis_tools/lr_tuning.py --train-best 2

results-tune-best-plan: $(STAMP)
	@$(PY) tools/analysis_tools/lr_tuning.py --train-best 2 --dry-run

# Issue 26, step 2: RetinaNet focal / AP-loss / aLRP at their tuned lr for
# the demo schedule and three times it, evaluated every 1,000 iterations,
# seeds LONG_SEEDS, schedules LONG_SCHEDULES, rows LONG_LOSSES (resumable;
# results/long_schedule.jsonl). Needs the lr check (results-tune) complete.
# `make results-long-seed2` then gives seed 2 to each schedule's rows whose
# final difference from focal is within 3 standard errors (and to focal).
# Its table and picture are written by results-table.
LONG_SEEDS ?= 0 1
LONG_SCHEDULES ?= 1x 3x
LONG_LOSSES ?= focal AP-loss aLRP
LONG_RUNS = $(PY) tools/analysis_tools/schedule_curves.py --train $(LONG_SEEDS) \
	--schedules $(LONG_SCHEDULES) --losses $(LONG_LOSSES)
results-long: $(STAMP)
	$(LONG_RUNS)

results-long-plan: $(STAMP)
	@$(LONG_RUNS) --dry-run

results-long-seed2: $(STAMP)
	$(PY) tools/analysis_tools/schedule_curves.py --third-seed

# Issue 26, step 3: fine-tune the focal demo checkpoints (seed 0) for 1,000
# iterations with each loss, seeds 0 1 2 (resumable; results/finetune.jsonl;
# a missing base checkpoint is retrained first). Its table is written by
# results-table.
results-finetune: $(STAMP)
	$(PY) tools/analysis_tools/finetune.py --train 0 1 2

results-finetune-plan: $(STAMP)
	@$(PY) tools/analysis_tools/finetune.py --train 0 1 2 --dry-run

# The tables, picture and README block from the recorded runs only.
results-table: $(STAMP)
	$(PY) tools/analysis_tools/demo_results.py $(RESULT_CONFIGS) --table \
		--plot docs/images/demo_results.png --readme docs/results.md --folder-readmes
	$(SWEEP_TABLE)
	$(PY) tools/analysis_tools/lr_tuning.py --readme docs/results.md \
		--headline README.md
	$(PY) tools/analysis_tools/schedule_curves.py --readme docs/results.md \
		--plot docs/images/schedule_curves.png
	$(PY) tools/analysis_tools/finetune.py --readme docs/results.md
	$(PY) tools/analysis_tools/model_index.py

clean:
	rm -rf work_dirs build *.egg-info
