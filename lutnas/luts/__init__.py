"""Parquet latency lookup tables, pure data (no torch, no device): schema, vectorised lookup and
prediction, unseen-block regression, calibration. Building and validating tables on a device
lives in :mod:`lutnas.measure`."""

from lutnas.luts.calibration import fit_calibration, save_calibration
from lutnas.luts.schema import SCHEMA, SCHEMA_VERSION, read_table, write_table
from lutnas.luts.table import LUT, Prediction

__all__ = ["LUT", "Prediction", "SCHEMA", "SCHEMA_VERSION", "fit_calibration", "read_table", "save_calibration",
           "write_table"]
