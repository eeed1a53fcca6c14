"""Prefect flows: thin wiring of the library's steps."""
