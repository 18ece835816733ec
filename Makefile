PYTHON ?= .venv/bin/python

.PHONY: bench
bench:  ## Full benchmark (hours): bench/RESULTS.md and bench/results.json; BENCH_ARGS="--quick" for a smoke test
	$(PYTHON) bench/run.py $(BENCH_ARGS)

.PHONY: bench-vectors
bench-vectors:  ## lstmcli with and without GloVe 6B 50d beside fastText (both ways) and TF-IDF + LR, with the parts
	$(PYTHON) bench/vectors.py --corpora sms_spam,sst2,airline_tweets,ag_news,emotion --systems lstmcli,lstmcli-glove,fasttext,fasttext-glove,tfidf
	$(PYTHON) bench/vectors.py --corpora chnsenticorp,online_shopping_10_cats --systems lstmcli,fasttext,tfidf
	$(PYTHON) bench/vectors.py --corpora sms_spam,emotion --systems lstmcli-balanced

.PHONY: install demo test lint
install:  ## A virtual environment with lstmcli and the development tools
	python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]'

demo: install  ## Train on the bundled tickets, evaluate, and label new tickets through a pipe
	.venv/bin/lstmcli train examples/tickets.csv --overwrite && .venv/bin/lstmcli evaluate && head -n 4 examples/input.txt | .venv/bin/lstmcli predict

test: install  ## The test suite
	$(PYTHON) -m pytest -q

lint:  ## ruff (lint and format) and mypy, as CI runs them
	.venv/bin/ruff check lstmcli tests bench && .venv/bin/ruff format --check lstmcli tests bench && .venv/bin/mypy
