"""Shared test set-up: the function corpus is importable as ``corpus`` from every test."""
import os
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
