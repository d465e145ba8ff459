"""The `tickwh` command: one entry point for the project's tools (see tickwh/cli.py)."""
