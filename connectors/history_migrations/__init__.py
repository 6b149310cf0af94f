"""Alembic migrations of the history store; run by connectors.history on every writable opening."""
