# SurgViVQA-Audio: `make demo` serves the app on the demo data, `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DATA   ?= data/demo
CKPT   ?= checkpoints/demo
PORT   ?= 8501

.PHONY: demo test setup setup-dev data stranger conditions clinic demo-checkpoint ablations baselines bench report lint e2e screenshots clean

$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

# The embedded demo dataset: synthetic clips, then spoken questions (idempotent).
$(DATA)/splits/test.jsonl: | $(VENV)/.runtime
	$(PY) -m data.synth --out $(DATA)
	$(PY) -m data.tts --data $(DATA)

data: $(VENV)/.runtime
	$(PY) -m data.synth --out $(DATA)
	$(PY) -m data.tts --data $(DATA)

# The stranger test split: the test clips asked in hand-written wordings by flite, a voice
# training never hears (apt-get install -y flite).
stranger: $(DATA)/splits/test.jsonl
	$(PY) -m data.stranger --data $(DATA)

# The clinic-conditions test: the stranger split under held-out noise (10 and 0 dB), a 0.9 s
# room, a lead-in, fillers, fast and slow speech (data.conditions), then the checkpoint's
# answers under each (about 3 min each on 2 cores) and the report.
CONDITIONS := noise-10db noise-0db reverb lead-in fillers fast slow
conditions: stranger
	$(PY) -m data.conditions --data $(DATA)

clinic: conditions
	for c in $(CONDITIONS); do \
	  $(PY) -m evaluation.evaluate --checkpoint $(CKPT) --data $(DATA) --split stranger-$$c \
	    --out $(CKPT)/eval-stranger-$$c || exit 1; done
	$(MAKE) report

demo: $(VENV)/.runtime $(DATA)/splits/test.jsonl
	test -f $(CKPT)/graft_config.json || $(MAKE) demo-checkpoint
	SURGVIVQA_CHECKPOINT=$(CKPT) SURGVIVQA_DATA=$(DATA) \
	  $(PY) -m app.serve --server.port $(PORT)

# Rebuild the shipped demo checkpoint (tiny model, CPU, under an hour; its ear is converted from
# the installed Whisper wheel), then its two headline evaluations: the stranger (flite voices,
# hand-written wordings) and the espeak held-out test split. The old model's evaluations go
# first: evaluate refuses to resume them for the new one.
demo-checkpoint: $(VENV)/.runtime $(DATA)/splits/test.jsonl
	rm -rf $(CKPT)/eval $(CKPT)/eval-*
	$(PY) -m training.train --recipe demo --data $(DATA) --output_dir $(CKPT)
	$(MAKE) stranger
	$(PY) -m evaluation.evaluate --checkpoint $(CKPT) --data $(DATA) --split stranger \
	  --out $(CKPT)/eval-stranger
	$(PY) -m evaluation.evaluate --checkpoint $(CKPT) --data $(DATA) --split test --out $(CKPT)/eval

# The controls beside the audio run: does the model listen, does it carry to new voices, and
# what do fewer or more audio tokens than it trained with cost?
EVAL := $(PY) -m evaluation.evaluate --checkpoint $(CKPT) --data $(DATA)
ablations: $(VENV)/.runtime $(DATA)/splits/test.jsonl
	$(EVAL) --split stranger --audio-ablation shuffled --out $(CKPT)/eval-stranger-shuffled
	$(EVAL) --split test --audio-ablation shuffled --out $(CKPT)/eval-shuffled
	$(EVAL) --split test --audio-ablation silent --out $(CKPT)/eval-silent
	$(EVAL) --split test --mode text --out $(CKPT)/eval-text
	$(EVAL) --split eval --out $(CKPT)/eval-evalsplit
	$(EVAL) --split eval --audio-ablation shuffled --out $(CKPT)/eval-evalsplit-shuffled
	$(EVAL) --split test --audio-tokens full --out $(CKPT)/eval-tokens-full
	$(EVAL) --split test --audio-tokens trim --out $(CKPT)/eval-tokens-trim
	$(EVAL) --split test --audio-tokens trim+pool:4 --out $(CKPT)/eval-tokens-trim-pool4
	$(PY) -m evaluation.readout --checkpoint $(CKPT) --data $(DATA) --out $(CKPT)/eval/readout.json
	$(PY) -m evaluation.readout --checkpoint $(CKPT) --data $(DATA) --kind mean \
	  --out $(CKPT)/eval/readout-mean.json

# Blind prior, zero-shot and the ASR cascade (pretrained Whisper tiny.en, converted from the
# installed wheel, transcribes; the checkpoint taught 5 min more to read questions as text reads
# the transcript; oracle: perfect ASR), written beside the checkpoint's own runs so the report
# and the Results page show them.
ASR ?= runs/whisper-tiny.en
READER ?= runs/reader
baselines: $(VENV)/.runtime $(DATA)/splits/test.jsonl
	test -f $(ASR)/config.json || $(PY) -m model.whisper_ct2 --out $(ASR)
	test -f $(READER)/COMPLETE || $(PY) -m training.train --recipe reader --model $(CKPT) \
		--data $(DATA) --output_dir $(READER)
	$(PY) -m evaluation.baselines --checkpoint $(CKPT) --data $(DATA) --asr $(ASR) \
		--reader $(READER) --runs $(CKPT) --prefix eval-baseline-
	$(PY) -m evaluation.baselines --checkpoint $(CKPT) --data $(DATA) --asr $(ASR) \
		--reader $(READER) --runs $(CKPT) --split stranger --only asr,oracle \
		--prefix eval-baseline-stranger-

bench: $(VENV)/.runtime $(DATA)/splits/test.jsonl
	$(PY) -m evaluation.bench --checkpoint $(CKPT) --data $(DATA) --out docs/benchmarks.md

report: $(VENV)/.runtime
	$(PY) -m evaluation.report --checkpoint $(CKPT) --readme README.md

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m pytest -q

e2e: $(VENV)/.dev
	$(PY) -m pytest -q -m e2e tests/e2e

# README screenshots: the browser test against the demo checkpoint and data; every page at
# 1440 px (app_<page>.jpg) and on a 390x844 phone (app_<page>_phone.jpg).
screenshots: $(VENV)/.dev $(DATA)/splits/test.jsonl
	SURGVIVQA_SCREENSHOTS=docs/img SURGVIVQA_E2E_CHECKPOINT=$(CKPT) SURGVIVQA_E2E_DATA=$(DATA) \
	  SURGVIVQA_E2E_RUNS=runs $(PY) -m pytest -q -s -m e2e tests/e2e

clean:
	rm -rf runs .pytest_cache .ruff_cache

# The real-scale shapes on one CUDA GPU (random-weight Qwen2-VL-7B + Whisper-turbo stand-ins,
# ~18 GB written to runs/standin): docs/benchmarks-gpu.md and its JSON. Refuses without CUDA.
.PHONY: bench-gpu
bench-gpu: $(VENV)/.runtime
	$(PY) -m evaluation.bench --real-shapes
