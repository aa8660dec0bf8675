"""Test support: real services started for the test session (see tests/conftest.py)."""
