"""Thin Dagster definitions over `warehouse` and `lib`: assets, checks, resources, partitions,
jobs, sensors, schedules, assembled in definitions.py."""

import warnings

import dagster as dg

# BackfillPolicy.single_run is what this project relies on; its beta label is not news to users.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
