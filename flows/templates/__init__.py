"""The `okr-sync init` templates: one folder per template with its okrs.yaml, and their sample data (sample_data.py)."""
