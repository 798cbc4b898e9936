# The two front-door commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: demo test lint bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

demo: $(STAMP)
	@echo "== 1. ingest raw scraped pages into article records"
	$(BIN)/news-toolkit ingest text examples/scrapes --out dist/demo/scraped-articles.jsonl --timezone Europe/London
	@echo "== 2. validate the example corpus (report: dist/sample-news.report.json)"
	$(BIN)/news-toolkit validate examples/sample-news --report dist/sample-news.report.json
	@echo "== 3. export it as a Hugging Face dataset build"
	$(BIN)/news-toolkit export examples/sample-news --format hf --out dist

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/warc.py $(WARC_BENCH_ARGS)
	$(BIN)/python benchmarks/ray_cluster.py $(RAY_BENCH_ARGS)
	$(BIN)/python benchmarks/partitions.py $(PARTITION_BENCH_ARGS)

clean:
	rm -rf $(VENV) dist/*/ build *.egg-info
