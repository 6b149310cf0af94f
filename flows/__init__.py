"""Wiring: the sync pipeline, the Prefect flows and the okr-sync CLI."""
