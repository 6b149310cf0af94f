"""Pure OKR logic: config models, value parsing, scoring, rollups and report tables (no I/O but reading the config)."""
