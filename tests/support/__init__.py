"""Shared helpers of the integration and fault tests (imported as `support.*`: pytest puts tests/
on sys.path through tests/conftest.py). For mypy: `MYPYPATH=tests mypy --strict tests/support`."""
