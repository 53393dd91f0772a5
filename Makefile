# The two entry points of README.md. Both build .venv first (scripts/setup_env.sh is idempotent).
.PHONY: env demo test test-all lock

env:
	./scripts/setup_env.sh

demo: env
	.venv/bin/na-flows demo

test: env
	.venv/bin/python -m pytest -q

# Includes tests marked slow (several minutes each).
test-all: env
	.venv/bin/python -m pytest -q -m "not mongodb"

# Re-resolve the dependency set after editing pyproject.toml (needs uv, installed into .venv by `make env`).
lock:
	.venv/bin/python -m uv pip compile --python-version 3.12 --extra test pyproject.toml -o requirements/py312.lock
