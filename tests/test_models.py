import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from lutnas.models import build_block, build_model, model_input
from lutnas.spaces import NAMED_SPECS, block_macs_by_category, block_params, get_space


@pytest.mark.parametrize("name", ["seed-start", "deit-tiny"])
def test_full_model_shape_params_and_flops(name):
    spec = NAMED_SPECS[name]
    model = build_model(spec)
    x = model_input(spec, batch=2)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        y = model(x)
    assert y.shape == (2, 1000)
    assert sum(p.numel() for p in model.parameters()) == spec.params()
    assert counter.get_total_flops() == 2 * 2 * spec.macs()  # batch 2, counter counts 2 per MAC


def test_analytic_flops_match_the_counter_on_sampled_specs():
    space = get_space("vit-scaling")
    rng = np.random.default_rng(3)
    specs = space.sample(12, rng) + space.sample_continuous(12, rng)
    for spec in specs:
        for key, _ in spec.blocks():
            module, x = build_block(key)
            with torch.inference_mode(), FlopCounterMode(display=False) as counter:
                module(x)
            assert counter.get_total_flops() == 2 * sum(block_macs_by_category(key).values()), key
            assert sum(p.numel() for p in module.parameters()) == block_params(key), key


def test_block_output_shapes_and_composition():
    spec = NAMED_SPECS["seed-start"]
    x = model_input(spec)
    model = build_model(spec)
    with torch.inference_mode():
        for (key, count), expected in zip(spec.blocks(), [(1, spec.tokens, spec.dim), (1, spec.tokens, spec.dim), (1, 1000)]):
            module, example = build_block(key, batch=3)
            assert module(example).shape[1:] == expected[1:]
            assert module(example).shape[0] == 3
        assert model(x).shape == (1, 1000)


def test_sdpa_variant_matches_timm_numerically():
    spec = NAMED_SPECS["seed-start"]
    key = spec.blocks()[1][0]
    a, x = build_block(key, attention="timm", seed=1)
    b, _ = build_block(key, attention="sdpa", seed=1)
    with torch.inference_mode():
        torch.testing.assert_close(a(x), b(x), atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="not known"):
        build_block(key, attention="flash")
