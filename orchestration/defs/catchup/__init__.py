"""Catch-up after downtime: a sensor that runs the days the daily schedule missed, one run per gap."""
