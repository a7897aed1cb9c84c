# Shortcuts; the scripts are the source of truth (they work without make).
.PHONY: setup demo test bench

setup:
	./scripts/setup.sh

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

bench:
	.venv/bin/python scripts/bench_generate.py
	.venv/bin/python scripts/bench_ingest.py
