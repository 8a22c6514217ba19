"""``LUT``: a latency lookup table in memory, with vectorised prediction for many specs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

from lutnas.errors import InputError
from lutnas.luts.columns import to_numpy
from lutnas.luts.context import AUTO_FOOTPRINT_MIB, MIB, ContextCurve
from lutnas.luts.dense import MAX_CELLS, DenseGrid
from lutnas.luts.regressor import BlockRegressor, key_from_row
from lutnas.luts.schema import KEY_FIELDS, read_table
from lutnas.spaces.base import MODULE_TABLE, BlockKey, Space, Spec
from lutnas.spaces.blocks import kind_class

if TYPE_CHECKING:
    import pandas as pd

_FLOAT_SCALE = 1000  # float key fields (mlp_ratio) are packed as integers in thousandths

#: what ``LUT.predict`` takes: specs of one space, or columns of a vectorised spec type
Specs = Spec | Sequence[Spec] | Mapping[str, Any]


@dataclasses.dataclass
class Prediction:
    """Predicted latency of many specs. Arrays of shape (n_specs,), milliseconds."""

    raw_ms: np.ndarray
    calibrated_ms: np.ndarray
    predicted: np.ndarray  # bool: at least one block came from the regressor, not a measured row
    block_ms: dict[str, np.ndarray]  # kind -> per-block ms (before multiplying by counts)

    @property
    def latency_ms(self) -> np.ndarray:
        return self.calibrated_ms


class LUT:
    """Rows of one device's table plus its provenance.

    Parameters
    ----------
    rows : DataFrame or pyarrow Table, one row per (block key, batch)
    meta : dict, the file's ``lutnas`` metadata (device, fingerprint, space, protocol, calibration)

    A table read from a file stays a pyarrow Table until something asks for :attr:`rows` (a
    DataFrame): predictions read its columns as numpy arrays, so a search never imports pandas.
    """

    def __init__(self, rows: pd.DataFrame | pa.Table, meta: dict[str, Any] | None = None,
                 path: str | Path | None = None) -> None:
        if isinstance(rows, pa.Table):
            self._arrow: pa.Table | None = rows
            self._rows: pd.DataFrame | None = None
        else:
            self._arrow, self._rows = None, rows.reset_index(drop=True)
        self._columns: dict[str, np.ndarray] = {}
        self.meta = dict(meta or {})
        self.path = Path(path) if path else None
        self._index: dict[tuple[str, int], tuple[list[str], np.ndarray, np.ndarray, np.ndarray]] = {}
        self._regressor: BlockRegressor | None = None
        self._predicted: dict[tuple[str, int], dict[tuple[int, ...], float]] = {}
        self._dense_grids: dict[tuple[type, int], DenseGrid | None] = {}
        self._single: dict[int, dict[Spec, float]] = {}
        self._space: Space | None = None

    @property
    def rows(self) -> pd.DataFrame:
        """The rows as a DataFrame (converted from the file's Arrow table on first use)."""
        if self._rows is None:
            self._rows = self._arrow.to_pandas()
            self._arrow = None  # one source of truth from now on
        return self._rows

    def __len__(self) -> int:
        return self._arrow.num_rows if self._arrow is not None else len(self._rows)

    def column(self, name: str) -> np.ndarray | None:
        """One column as a numpy array (None when the table lacks it), cached; nulls of a numeric column are NaN."""
        if name not in self._columns:
            if self._arrow is not None:
                if name not in self._arrow.column_names:
                    return None
                self._columns[name] = to_numpy(self._arrow.column(name))
            else:
                if name not in self._rows:
                    return None
                self._columns[name] = self._rows[name].to_numpy()
        return self._columns[name]

    def forget(self) -> None:
        """Drop what was derived from the rows and metadata (after the metadata changed in place)."""
        self._columns.clear()
        self._index.clear()
        self._regressor = None
        self._predicted.clear()
        self._dense_grids.clear()
        self._single.clear()

    @classmethod
    def read(cls, path: str | Path) -> LUT:
        table, meta = read_table(path)
        if table.num_rows == 0:
            raise InputError(f"LUT {str(path)!r} has no rows")
        return cls(table, meta, path)

    def __repr__(self) -> str:
        return f"<LUT {self.device} {self.space_name}: {len(self)} rows>"

    # -- provenance ------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        devices = self.column("device")
        return self.meta.get("device") or (str(devices[0]) if devices is not None and len(devices) else "?")

    @property
    def space_name(self) -> str:
        return (self.meta.get("space") or {}).get("name", "?")

    def space(self) -> Space | None:
        """The space the table was built for, or None when the file names none."""
        from lutnas.spaces.registry import space_from_dict

        data = self.meta.get("space")
        return space_from_dict(data) if isinstance(data, dict) and data.get("values") else None

    @property
    def calibration(self) -> dict[str, Any] | None:
        """The stored calibration when it is applied (supported by its data), else None."""
        cal = self.meta.get("calibration")
        return cal if cal and cal.get("applied", True) else None

    @property
    def context(self) -> ContextCurve | None:
        """The device's cache-context curve (:mod:`lutnas.luts.context`) when stored and applied, else None."""
        ctx = self.meta.get("context")
        return ContextCurve.from_dict(ctx) if ctx and ctx.get("applied", True) else None

    def without_context(self) -> LUT:
        """The same rows predicting as plain sums of rows (no context curve): what a validation compares."""
        meta = {k: v for k, v in self.meta.items() if k != "context"}
        return LUT(self._arrow if self._arrow is not None else self._rows, meta, self.path)

    # -- lookup ------------------------------------------------------------------------------------
    def _kind_index(self, kind: str, batch: int):
        cache_key = (kind, batch)
        if cache_key not in self._index:
            types = kind_class(kind).field_types()
            fields = list(types)
            at = np.flatnonzero((self.column("kind") == kind) & (self.column("batch") == batch))
            vals = (np.column_stack([_as_int(types[f], self.column(f)[at]) for f in fields]) if len(at)
                    else np.zeros((0, len(fields)), np.int64))
            ms = self.column("median_ms")[at].astype(float)
            ctx = self.context
            if ctx is not None and len(at):  # the rows' own context out: their times with weights cached
                w = _row_weights_mib(kind_class(kind), fields, vals)
                copies = self.column("copies")
                copies = np.nan_to_num(np.asarray(copies[at], float), nan=1.0) if copies is not None else 1.0
                ms = np.maximum(ms - ctx.row_offset_ms(w, copies), 0.0)
            self._index[cache_key] = (fields, vals, ms, at)
        return self._index[cache_key]

    def _check_batch(self, batch: int) -> None:
        """A batch the table has no row of is refused (the regressor would answer with another batch's numbers)."""
        if not isinstance(batch, (int, np.integer)) or batch < 1:
            raise InputError(f"batch must be a positive integer; got {batch!r}")
        batches = sorted(int(b) for b in np.unique(self.column("batch"))) if len(self) else []
        if batches and batch not in batches:
            raise InputError(f"LUT {self.path or ''} holds batch {', '.join(map(str, batches))}, not {batch}; "
                             f"build rows at --batch {batch} first")

    def extrapolation(self, key: BlockKey, batch: int = 1) -> str | None:
        """Which fields of ``key`` lie outside the range the table measured for its kind (None: inside)."""
        rows = self.rows[(self.rows["kind"] == key.kind) & (self.rows["batch"] == batch)]
        out = []
        for f, v in key.fields().items():
            if f in rows and isinstance(v, (int, float)) and len(rows):
                lo, hi = float(rows[f].min()), float(rows[f].max())
                if v < lo or v > hi:
                    out.append(f"{f} {v:g} {'<' if v < lo else '>'} {lo if v < lo else hi:g}")
        return ", ".join(out) or None

    def regressor(self) -> BlockRegressor:
        """The unseen-block regressor, fitted lazily on this table's unflagged rows (a kind whose rows
        are all flagged — a noisy host — is fitted on them rather than not at all)."""
        if self._regressor is None:
            good = self.rows
            if "flagged" in self.rows:
                flagged = self.rows["flagged"].fillna(False).astype(bool)
                good = self.rows[~flagged | ~self.rows["kind"].isin(set(self.rows.loc[~flagged, "kind"]))]
            good = good[good["batch"] == good["batch"].mode().iloc[0]] if len(good) else good
            keys = [key_from_row(r) for r in good.to_dict("records")]
            self._regressor = BlockRegressor().fit(keys, good["median_ms"].to_numpy(dtype=float))
        return self._regressor

    def lookup(self, kind: str, fields: dict[str, np.ndarray], batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised per-block ms for arrays of key fields; ``(ms, predicted_mask)``.

        Measured rows are found by packing the key fields into one int64 code and a binary
        search; keys the table lacks go to the regressor once per unique key.
        """
        self._check_batch(batch)
        names, table_vals, table_ms, _ = self._kind_index(kind, batch)
        cls = kind_class(kind)
        types = cls.field_types()
        try:
            query = np.column_stack([_as_int(types[f], np.asarray(fields[f])) for f in names])
        except KeyError as exc:
            raise InputError(f"block kind {kind!r} needs field {exc.args[0]!r}") from None
        if query.size and query.min() < 0:
            j = int(np.argmin(query.min(axis=0)))
            value = np.asarray(fields[names[j]])[int(np.argmin(query[:, j]))]
            raise InputError(f"block kind {kind!r}: field {names[j]!r} has a negative value ({value}); no block has one")
        n = query.shape[0]
        out = np.full(n, np.nan)
        if len(table_vals):
            bases = np.maximum(table_vals.max(axis=0), query.max(axis=0)) + 1
            if float(np.prod(bases.astype(float))) < 2.0 ** 62:
                tcodes = np.ravel_multi_index(table_vals.T, bases)
                qcodes = np.ravel_multi_index(query.T, bases)
                order = np.argsort(tcodes)
                sorted_codes = tcodes[order]
                pos = np.clip(np.searchsorted(sorted_codes, qcodes), 0, len(sorted_codes) - 1)
                hit = sorted_codes[pos] == qcodes
                out[hit] = table_ms[order[pos[hit]]]
            else:  # very large fields: hash lookup instead of packing
                import pandas as pd

                index = pd.MultiIndex.from_arrays(table_vals.T)
                loc = index.get_indexer(pd.MultiIndex.from_arrays(query.T))
                out[loc >= 0] = table_ms[loc[loc >= 0]]
        missing = np.isnan(out)
        if missing.any():
            uniq, inverse = np.unique(query[missing], axis=0, return_inverse=True)
            memo = self._predicted.setdefault((kind, batch), {})
            todo = [tuple(int(v) for v in row) for row in uniq if tuple(int(v) for v in row) not in memo]
            if todo:
                keys = _keys_from_codes(cls, names, todo)
                reg = self.regressor()
                if not reg.can_predict(kind):
                    raise InputError(f"LUT {self.path or ''} has no rows of kind {kind!r} (batch {batch}) to predict "
                                     f"{keys[0].canonical()} from")
                values = np.asarray(reg.predict(keys), float)
                ctx = self.context
                if ctx is not None:  # learnt from rows built with copies="auto": take that context out too
                    w = np.array([_weight_mib(k) for k in keys])
                    values = np.maximum(values - ctx.row_offset_ms(w, np.maximum(1.0, AUTO_FOOTPRINT_MIB / np.maximum(w, 1e-9))), 0.0)
                memo.update(zip(todo, values))
            values = np.array([memo[tuple(int(v) for v in row)] for row in uniq])
            out[missing] = values[inverse.ravel()]
        return out, missing

    def lookup_keys(self, keys: Sequence[BlockKey], batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Per-block ms for a list of block keys (any kinds); ``(ms, predicted_mask)``."""
        ms = np.full(len(keys), np.nan)
        predicted = np.zeros(len(keys), dtype=bool)
        by_kind: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            by_kind.setdefault(k.kind, []).append(i)
        for kind, idx in by_kind.items():
            fields = {f: np.array([getattr(keys[i], f) for i in idx]) for f in keys[idx[0]].fields()}
            v, p = self.lookup(kind, fields, batch)
            ms[idx], predicted[idx] = v, p
        return ms, predicted

    def predict(self, specs: Specs, batch: int = 1, spec_type: type[Spec] | None = None) -> Prediction:
        """Predicted latency of many specs at once: a list of specs, one spec, or columns of a
        vectorised spec type (``spec_type``, default the table's space's; ``d,h,e,r,I,p`` for a ViT).

        raw = Σ blocks × counts; calibrated = a × raw + b with the table's calibration (or raw).
        Specs whose type declares ``vectorised`` are looked up column-wise (a block table, not a
        module table); any other spec block by block.
        """
        if isinstance(specs, Spec):
            specs = [specs]
        if isinstance(specs, (list, tuple)):
            types = {type(s) for s in specs}
            spec_type = types.pop() if len(types) == 1 else None
            if spec_type is None or not spec_type.vectorised or self.granularity == "modules":
                return self._predict_per_spec(list(specs), batch)
        else:
            spec_type = spec_type or self._columns_type()
        cols = spec_type.columns(specs)
        dense = self._dense(spec_type, batch)
        if dense is not None:  # a gather over the precomputed grid; off-grid specs take the exact path
            raw, predicted, off = dense.lookup(cols)
            if off.any():
                sub = {f: np.asarray(v)[off] for f, v in cols.items()}
                raw[off], predicted[off], _ = self._predict_columns(spec_type, sub, batch)
            return Prediction(raw, self._calibrate(raw), predicted, {})
        raw, predicted, block_ms = self._predict_columns(spec_type, cols, batch)
        return Prediction(raw, self._calibrate(raw), predicted, block_ms)

    def _predict_columns(self, spec_type: type[Spec], cols: dict[str, Any],
                         batch: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """The exact vectorised path: Σ over the spec type's block columns of looked-up ms × counts."""
        n = len(next(iter(cols.values())))
        raw = np.zeros(n)
        predicted = np.zeros(n, dtype=bool)
        block_ms = {}
        ctx = self.context
        weights = np.zeros(n)
        for kind, fields, counts in spec_type.block_columns(cols):
            ms, miss = self.lookup(kind.kind, fields, batch)
            raw += ms * counts
            predicted |= miss
            block_ms[kind.kind] = ms
            if ctx is not None:
                weights += _weights_mib_array(kind, fields) * counts
        if ctx is not None:  # streaming the model's whole weight set
            raw += ctx.model_ms(weights)
        return raw, predicted, block_ms

    def _dense(self, spec_type: type[Spec], batch: int) -> DenseGrid | None:
        """The table's dense grid over its space's candidate values (:mod:`lutnas.luts.dense`), built
        on first use; None when the space is not a finite product of a size worth precomputing."""
        from lutnas.spaces.factor_space import FactorSpace

        key = (spec_type, batch)
        if key not in self._dense_grids:
            space = self._own_space()
            grid = None
            if isinstance(space, FactorSpace) and space.spec_type is spec_type:
                cells = int(np.prod([len(v) for v in space.values.values()]))
                if cells <= MAX_CELLS:
                    try:
                        grid = DenseGrid(space.values,
                                         lambda c: self._predict_columns(spec_type, spec_type.columns(c), batch)[:2])
                    except (InputError, ValueError, KeyError):
                        grid = None  # a product with invalid combinations too large to fill cell by cell
            self._dense_grids[key] = grid
        return self._dense_grids[key]

    def latency_ms(self, spec: Spec, batch: int = 1) -> float:
        """One spec's predicted (calibrated) latency in ms, its sum of blocks memoised per spec: the
        cheap call for a searcher that asks one spec at a time (a calibration stored later applies)."""
        memo = self._single.setdefault(batch, {})
        raw = memo.get(spec)
        if raw is None:
            raw = memo[spec] = float(self.predict([spec], batch).raw_ms[0])
        cal = self.calibration
        return cal["a"] * raw + cal["b"] if cal else raw

    def _columns_type(self) -> type[Spec]:
        """The vectorised spec type whose columns a caller hands to :meth:`predict`."""
        from lutnas.spaces.vit import ViTSpec

        space = self._own_space()
        spec_type = space.spec_type if space is not None else ViTSpec
        if not spec_type.vectorised:
            raise InputError(f"specs of space {space.name!r} cannot be given as columns; pass a list of specs")
        return spec_type

    def _own_space(self) -> Space | None:
        if self._space is None:
            self._space = self.space()
        return self._space

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        cal = self.calibration
        return cal["a"] * raw + cal["b"] if cal else raw.copy()

    @property
    def granularity(self) -> str:
        """``blocks`` (a model is the sum of its blocks) or ``modules`` (AutoViT's module table:
        a model is the sum of its modules, resolution ignored; see ``AutoViTSpace.module_counts``)."""
        return self.meta.get("granularity", "blocks")

    def parts(self, spec: Spec) -> list[tuple[BlockKey, int]]:
        """``(key, count)`` this table sums for ``spec``: its blocks, or its modules in a module table."""
        if self.granularity != "modules":
            return spec.blocks()
        space = self._own_space()
        if space is None:
            raise InputError(f"LUT {self.path or ''} is a module table but names no space that maps specs to modules")
        space.require(MODULE_TABLE, f"the module table {self.path or ''}")
        return space.module_counts(spec)

    def _predict_per_spec(self, specs: Sequence[Spec], batch: int) -> Prediction:
        """Specs of any space: blocks gathered per spec, looked up in one batch per kind,
        memoised per spec."""
        memo = self._predicted.setdefault(("spec", batch), {})
        todo = [s for s in dict.fromkeys(specs) if s not in memo]
        if todo:
            parts = [self.parts(s) for s in todo]
            keys = [k for p in parts for k, _ in p]
            counts = np.array([c for p in parts for _, c in p], float)
            owner = np.repeat(np.arange(len(todo)), [len(p) for p in parts])
            ms, miss = self.lookup_keys(keys, batch)
            raw = np.bincount(owner, ms * counts, minlength=len(todo))
            ctx = self.context
            if ctx is not None:  # streaming each model's whole weight set
                raw += ctx.model_ms(np.bincount(owner, np.array([_weight_mib(k) for k in keys]) * counts, minlength=len(todo)))
            pred = np.bincount(owner, miss.astype(float), minlength=len(todo)) > 0
            kinds = sorted({k.kind for k in keys})
            per_kind = {kind: np.bincount(owner, ms * counts * np.array([k.kind == kind for k in keys]), minlength=len(todo))
                        for kind in kinds}
            for i, s in enumerate(todo):
                memo[s] = (raw[i], pred[i], {kind: v[i] for kind, v in per_kind.items()})
        raw = np.array([memo[s][0] for s in specs])
        predicted = np.array([memo[s][1] for s in specs], dtype=bool)
        kinds = sorted({k for s in specs for k in memo[s][2]})
        block_ms = {k: np.array([memo[s][2].get(k, 0.0) for s in specs]) for k in kinds}
        return Prediction(raw, self._calibrate(raw), predicted, block_ms)

    # -- summary -------------------------------------------------------------------------------------
    def summary(self, space: Space | None = None, top: int = 5, regressor: bool = True) -> dict[str, Any]:
        """Device, space, rows, flags, coverage of ``space``, slowest rows and (``regressor``) the
        unseen-block regressor's cross-validated error — the one costly part (scikit-learn fits)."""
        rows = self.rows
        flagged = int(rows["flagged"].fillna(False).sum()) if "flagged" in rows else 0
        data: dict[str, Any] = {
            "path": str(self.path) if self.path else None, "device": self.device, "space": self.meta.get("space"),
            "protocol": (self.meta.get("protocol") or {}).get("name"), "rows": int(len(rows)), "flagged_rows": flagged,
            "kinds": {k: int(v) for k, v in rows["kind"].value_counts().items()},
            "batches": sorted(int(b) for b in rows["batch"].unique()),
            "method": self.meta.get("method"), "calibration": self.meta.get("calibration"),
            "fingerprint": self.meta.get("fingerprint"), "creator": self.meta.get("creator"),
            "schema_version": self.meta.get("schema_version"),
            "slowest": [{"key": r["key"], "median_ms": float(r["median_ms"])}
                        for r in rows.nlargest(top, "median_ms").to_dict("records")],
        }
        transfer = self.meta.get("transfer")
        if transfer and "method" in rows:
            import pandas as pd

            moved = rows["method"] == "transferred"
            u = pd.to_numeric(rows.loc[moved, "uncertainty"], errors="coerce") if "uncertainty" in rows else None
            data["transfer"] = {"rows": int(moved.sum()), "sources": transfer.get("source_devices"),
                                "model": transfer.get("model"), "cv_mape": (transfer.get("cv_mape") or {}).get(transfer.get("model")),
                                "uncertainty_median": float(u.median()) if u is not None and len(u) else None}
        if space is not None:
            keys = space.module_keys() if self.granularity == "modules" else space.unique_blocks()
            needed = {k.canonical() for k in keys}
            have = set(rows["key"])
            data["coverage"] = {"space_blocks": len(needed), "measured": len(needed & have),
                                "fraction": len(needed & have) / len(needed) if needed else None}
        if not regressor:
            return data
        try:
            data["regressor"] = self.regressor().errors_
        except Exception as exc:  # a table too small to fit one is still a table
            data["regressor"] = {"error": str(exc)}
        return data


def _weight_mib(key: BlockKey) -> float:
    """A block's float32 weights in MiB (0 for a kind that does not count its parameters)."""
    try:
        return key.weight_bytes() / MIB
    except InputError:
        return 0.0


def _weights_mib_array(kind: type[BlockKey], fields: Mapping[str, np.ndarray]) -> np.ndarray | float:
    """Float32 weights in MiB of many keys of one kind (0 for a kind that does not count its parameters,
    as :func:`_weight_mib`: such blocks take no part in the context on either side)."""
    try:
        return 4.0 * np.asarray(kind.params_array(fields), float) / MIB
    except InputError:
        return 0.0


def _keys_from_codes(cls: type[BlockKey], names: Sequence[str], rows: Sequence[Sequence[int]] | np.ndarray) -> list[BlockKey]:
    """Block keys of int-coded field rows (:func:`_as_int`'s codes, floats in thousandths)."""
    types = cls.field_types()
    return [cls(**{f: (int(v) / _FLOAT_SCALE if types[f] is float else int(v)) for f, v in zip(names, row)}) for row in rows]


def _row_weights_mib(cls: type[BlockKey], names: Sequence[str], codes: np.ndarray) -> np.ndarray:
    """Float32 weights in MiB of int-coded keys of one kind: vectorised where the kind counts its parameters
    column-wise, else key by key (0 for a kind that does not count them)."""
    types = cls.field_types()
    fields = {f: codes[:, j] / _FLOAT_SCALE if types[f] is float else codes[:, j] for j, f in enumerate(names)}
    try:
        return 4.0 * np.asarray(cls.params_array(fields), float) / MIB
    except InputError:
        return np.array([_weight_mib(k) for k in _keys_from_codes(cls, names, codes)])


def _as_int(typ: type, values: np.ndarray) -> np.ndarray:
    """Key-field values as int64 codes (floats in thousandths)."""
    if typ is float:
        return np.rint(np.asarray(values, dtype=float) * _FLOAT_SCALE).astype(np.int64)
    return np.asarray(values).astype(np.int64)


__all__ = ["LUT", "Prediction", "KEY_FIELDS"]
