"""One package per feature: its assets, checks, jobs, schedules, sensors and resources (docs/layout.md)."""
