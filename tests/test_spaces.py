import numpy as np
import pytest

from lutnas.errors import InputError
from lutnas.spaces import (
    NAMED_SPECS, EncoderKey, HeadKey, PatchEmbedKey, ViTSpec, get_space, load_values_toml, parse_block_key,
    parse_spec, parse_values,
)


def test_named_specs_match_the_papers():
    tiny = NAMED_SPECS["deit-tiny"]
    assert (tiny.d, tiny.h, tiny.e, tiny.r, tiny.I, tiny.p) == (12, 3, 64, 4, 224, 16)
    assert tiny.dim == 192 and tiny.tokens == 197
    assert abs(tiny.gflops - 1.26) / 1.26 < 0.01
    assert abs(tiny.params() / 1e6 - 5.7) < 0.05
    assert abs(NAMED_SPECS["seed-start"].gflops - 0.15) < 0.01
    assert NAMED_SPECS["deit-small"].dim == 384
    assert NAMED_SPECS["scaled-tiny"].canonical() == "d=14,h=4,e=64,r=4,I=160,p=16"


@pytest.mark.parametrize("text, fragment", [
    ("d=12,h=3,e=64,r=4,I=225,p=16", "not divisible"),
    ("d=0,h=3,e=64,r=4,I=224,p=16", "'d' must be positive"),
    ("d=12,h=3,e=64,r=4,I=224", "missing p"),
    ("d=12,h=3,e=64,r=4,I=224,p=16,q=3", "unknown factor 'q'"),
    ("d=12,h=x,e=64,r=4,I=224,p=16", "not a number"),
    ("deit-huge", "not a known name"),
    ("d=1.5,h=3,e=64,r=4,I=224,p=16", "must be an integer"),
])
def test_bad_specs_raise_one_clear_error(text, fragment):
    with pytest.raises(InputError, match=fragment):
        parse_spec(text)


def test_spec_round_trip_and_off_grid_values():
    spec = parse_spec("d=6,h=2,e=60,r=2.5,I=171,p=19")
    assert spec.tokens == 82
    assert parse_spec(spec.canonical()) == spec


def test_grid_size_and_unique_blocks():
    space = get_space("vit-scaling")
    assert space.size == 2700
    blocks = space.unique_blocks()
    kinds = {k: sum(b.kind == k for b in blocks) for k in ("patch_embed", "encoder", "head")}
    # 10 token counts x 15 (h, e) pairs x 3 ratios; 12 (I, p) pairs x 11 dims; 11 dims.
    assert kinds == {"encoder": 450, "patch_embed": 132, "head": 11}
    assert len(blocks) == 593 == len(set(blocks))


def test_block_keys_round_trip_sort_and_hash():
    space = get_space("vit-scaling")
    blocks = space.unique_blocks()
    for key in blocks:
        again = parse_block_key(key.canonical())
        assert again == key and hash(again) == hash(key) and type(again) is type(key)
    assert blocks == sorted(blocks)
    assert EncoderKey(197, 192, 3, 64, 4) == EncoderKey(197, 192, 3, 64, 4.0)


@pytest.mark.parametrize("text, fragment", [
    ("encoder(tokens=197)", "needs fields"),
    ("conv(a=1)", "not known"),
    ("head dim=3", "not of the form"),
    ("head(dim=x,classes=3)", "not a number"),
    ("head(dim=-1,classes=3)", "positive"),
])
def test_bad_block_keys(text, fragment):
    with pytest.raises(InputError, match=fragment):
        parse_block_key(text)


def test_narrowing_by_values_and_toml(tmp_path):
    space = get_space("vit-scaling", parse_values(["d=3,6", "I=128,160"]))
    assert space.values["d"] == (3, 6) and space.size == 2 * 5 * 3 * 3 * 2 * 3
    toml = tmp_path / "v.toml"
    toml.write_text("[values]\nd = [3]\nh = [2, 3]\n")
    assert get_space("vit-scaling", load_values_toml(toml)).size == 1 * 2 * 3 * 3 * 4 * 3
    with pytest.raises(InputError, match="unknown factor"):
        get_space("vit-scaling", {"x": [1]})
    with pytest.raises(InputError, match="not a number"):
        parse_values(["d=3,a"])
    with pytest.raises(InputError, match="not known"):
        get_space("nope")


def test_sampling_mutation_crossover_stay_valid():
    space = get_space("vit-scaling")
    rng = np.random.default_rng(0)
    specs = space.sample(50, rng)
    assert len(set(specs)) == 50 and all(space.contains(s) for s in specs)
    for a, b in zip(specs, specs[1:]):
        m = space.mutate(a, rng, 0.3)
        assert space.contains(m) and m != a
        c = space.crossover(a, b, rng)
        assert space.contains(c)
        assert all(getattr(c, f) in (getattr(a, f), getattr(b, f)) for f in "dherIp")
    for n in space.neighbours(specs[0]):
        assert sum(getattr(n, f) != getattr(specs[0], f) for f in "dherIp") == 1
    off = space.sample_continuous(30, 1)
    assert all(s.I % s.p == 0 for s in off)
    assert any(not space.contains(s) for s in off)
    assert space.sample(5, 7) == space.sample(5, 7)


def test_blocks_and_counts():
    spec = ViTSpec(6, 2, 64, 4, 160, 16)
    blocks = spec.blocks()
    assert blocks[0] == (PatchEmbedKey(160, 16, 128), 1)
    assert blocks[1] == (EncoderKey(101, 128, 2, 64, 4), 6)
    assert blocks[2] == (HeadKey(128, 1000), 1)


def test_vectorised_costs_equal_the_per_spec_counts():
    from lutnas.spaces.vit import macs_array, params_array, spec_arrays

    space = get_space("vit-scaling")
    specs = space.grid() + space.sample_continuous(200, 4)
    cols = spec_arrays(specs)
    assert macs_array(cols).tolist() == [s.macs() for s in specs]
    assert params_array(cols).tolist() == [s.params() for s in specs]


def test_spaces_declare_capabilities_and_refuse_what_they_lack():
    from lutnas.spaces import AutoViTSpace, ViTSpace

    vit, hybrid = get_space("vit-mini"), get_space("autovit-xxs")
    assert isinstance(vit, ViTSpace) and isinstance(hybrid, AutoViTSpace)
    assert {"grid", "scale_up", "continuous"} <= vit.capabilities and "module_table" not in vit.capabilities
    assert {"module_table", "removal"} <= hybrid.capabilities
    with pytest.raises(InputError, match="space 'vit-mini' does not support .*'module_table'"):
        vit.module_keys()
    with pytest.raises(InputError, match="'removal'"):
        vit.removal_pair(EncoderKey(17, 32, 2, 16, 2))


def test_spec_strings_dispatch_on_their_family():
    from lutnas.spaces import AutoViTSpec, families, space_from_dict

    assert {"vit", "autovit"} <= set(families())
    text = "autovit:c=16,mb=16x1/24x2/32x2,t=48x2h2r1.5/64x2h2r2/80x2h2r2"
    assert isinstance(parse_spec(text), AutoViTSpec) and parse_spec(text).canonical() == text
    assert parse_spec("deit-tiny") == NAMED_SPECS["deit-tiny"]
    narrowed = get_space("vit-mini", {"d": [2]})
    assert space_from_dict(narrowed.to_dict()).values == narrowed.values
    hybrid = get_space("autovit-xxs")
    assert space_from_dict(hybrid.to_dict()).values == hybrid.values
    with pytest.raises(InputError, match="family 'mixer' is not known"):
        parse_spec("mixer:depth=1")
    with pytest.raises(InputError, match="space type 'nope'"):
        space_from_dict({"name": "x", "type": "nope", "values": {}})


def test_lut_columns_come_from_any_kinds_fields(tmp_path):
    """A kind registered outside lutnas's own modules gets its fields stored and read back by kind."""
    import dataclasses
    from typing import ClassVar

    import pyarrow.parquet as pq

    from lutnas.luts import LUT, write_table
    from lutnas.spaces import BlockKey, block_kind

    @block_kind
    @dataclasses.dataclass(frozen=True)
    class WindowKey(BlockKey):
        kind: ClassVar[str] = "test_window"
        window: int
        shift: float

    keys = [WindowKey(7, 0.5), WindowKey(7, 1.5), WindowKey(14, 0.5)]
    rows = [{"device": "x", "kind": k.kind, "key": k.canonical(), **k.fields(), "batch": 1, "median_ms": 1.0 + i}
            for i, k in enumerate(keys)]
    path = tmp_path / "w.parquet"
    write_table(rows, {"device": "x"}, path)
    schema = pq.read_schema(path)
    assert str(schema.field("window").type) == "int64" and str(schema.field("shift").type) == "double"
    assert "mlp_ratio" in schema.names  # the standing columns stay for readers of earlier tables
    ms, predicted = LUT.read(path).lookup_keys([WindowKey(7, 1.5), WindowKey(14, 0.5)])
    assert ms.tolist() == [2.0, 3.0] and not predicted.any()
    assert parse_block_key("test_window(window=7,shift=1.5)") == keys[1]


def test_index_rows_round_trip_and_mark_invalid_or_off_grid_specs():
    from lutnas.spaces.vit import ViTSpec

    space = get_space("vit-mini", {"I": [48, 64], "p": [16, 32]})  # I=48 with p=32 is no ViT
    grid = space.grid()
    rows = space.encode(grid)
    assert rows.shape == (len(grid), len(space.factors)) and (rows >= 0).all()
    assert space.from_codes(space.codes(rows)) == grid
    every = space.codes(np.array(list(np.ndindex(*[len(space.values[f]) for f in space.factors]))))
    decoded = space.from_codes(every)
    assert sorted(set(every.tolist())) == sorted(every.tolist())  # one code per combination
    assert sum(s is not None for s in decoded) == len(grid) < len(every)  # the invalid combinations map to None
    off = ViTSpec(2, 2, 32, 2.0, 80, 16)  # I=80 is not a candidate
    assert space.codes(space.encode([off]))[0] == -1 and space.from_codes(np.array([-1])) == [None]


def test_mutate_rows_and_crossover_rows_follow_the_per_spec_rules():
    space = get_space("vit-mini", {"I": [48, 64], "p": [16, 32]})
    rng = np.random.default_rng(0)
    parents = space.sample(8, rng)
    rows = space.encode(parents)[rng.integers(0, 8, 400)]
    mutants = space.mutate_rows(rows, rng, 0.3)
    assert (mutants != rows).any(axis=1).all()  # every row changed...
    assert all(s is not None for s in space.from_codes(space.codes(mutants)))  # ...into a valid spec
    depth_only = space.mutate_rows(rows, rng, 0.0, depth_prob=1.0)
    d = space.factors.index("d")
    assert (np.delete(depth_only, d, axis=1) == np.delete(rows, d, axis=1)).all() and (depth_only[:, d] != rows[:, d]).all()
    assert (space.mutate_rows(rows, rng, 0.0) == rows).all()  # nothing may change: returned as it was
    # mutation probabilities show in the rows: ~0.3 of the factors drawn anew, 1/2 or 1/3 of those keep their value
    changed = (space.mutate_rows(rows, rng, 0.3) != rows).mean()
    assert 0.1 < changed < 0.35
    other = rows[::-1].copy()
    kids = space.crossover_rows(rows, other, rng)
    assert ((kids == rows) | (kids == other)).all()
    assert all(s is not None for s in space.from_codes(space.codes(kids)))
    assert 0.3 < ((kids == rows) & (rows != other)).sum() / (rows != other).sum() < 0.7
