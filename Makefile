PYTHON ?= .venv/bin/python

.PHONY: bench
bench:  ## Full benchmark (hours): bench/RESULTS.md and bench/results.json; BENCH_ARGS="--quick" for a smoke test
	$(PYTHON) bench/run.py $(BENCH_ARGS)

.PHONY: bench-vectors bench-fewlabels
bench-vectors:  ## the default (GloVe by auto) and without vectors beside fastText (with and without GloVe) and TF-IDF + LR
	$(PYTHON) bench/vectors.py --corpora sms_spam,sst2,ag_news,airline_tweets,emotion --systems lstmcli,lstmcli-none,fasttext,fasttext-glove,tfidf
	$(PYTHON) bench/vectors.py --corpora chnsenticorp,online_shopping_10_cats --systems lstmcli,lstmcli-selftrained,fasttext,tfidf
	$(PYTHON) bench/vectors.py --corpora sms_spam,emotion --systems lstmcli-balanced

bench-fewlabels:  ## 1,000 labelled rows, the rest as unlabeled text: lstmcli with and without --unlabeled beside fastText (+ skip-gram) and TF-IDF + LR
	$(PYTHON) bench/fewlabels.py

.PHONY: install demo test lint
install:  ## A virtual environment with lstmcli and the development tools
	python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]'

demo: install  ## Train on the bundled tickets, evaluate, and label new tickets through a pipe
	.venv/bin/lstmcli train examples/tickets.csv --overwrite && .venv/bin/lstmcli evaluate && head -n 4 examples/input.txt | .venv/bin/lstmcli predict

test: install  ## The test suite
	$(PYTHON) -m pytest -q

lint:  ## ruff (lint and format) and mypy, as CI runs them
	.venv/bin/ruff check lstmcli tests bench && .venv/bin/ruff format --check lstmcli tests bench && .venv/bin/mypy
