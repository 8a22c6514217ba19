"""As-ViT's training-free proxies (objective ``asvit`` of ``lutnas search``), computed with torch on
CPU from randomly initialised models.

- Length distortion L^E: feed a closed curve x(t) = cos(t)·a + sin(t)·b through the network
  (M points) and divide the output curve's length by the input curve's (higher is better).
- NTK condition number κ_Θ: Θ = J Jᵀ over a small batch, J_i = ∂ Σ logits(x_i) / ∂θ; κ = λ_max/λ_min
  (lower is better).
The score combines them monotonically, log L^E − log κ_Θ, so any searcher can use it; the
``asvit-scaling`` searcher ranks its 16 choices by each proxy separately, as As-ViT does.
Results are cached per spec. Cost grows with the model: intended for small and medium specs.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lutnas.spaces.base import Spec


class AsViTObjective:
    def __init__(self, seed: int = 0, batch: int = 4, curve_points: int = 16, threads: int = 1) -> None:
        self.seed, self.batch, self.curve_points, self.threads = seed, batch, curve_points, threads
        self.cache: dict[str, tuple[float, float]] = {}

    def components(self, specs: Sequence[Spec]) -> tuple[np.ndarray, np.ndarray]:
        """(L^E, κ_Θ) per spec."""
        le, kappa = [], []
        for s in specs:
            key = s.canonical()
            if key not in self.cache:
                self.cache[key] = self._compute(s)
            le.append(self.cache[key][0])
            kappa.append(self.cache[key][1])
        return np.array(le), np.array(kappa)

    def __call__(self, specs: Sequence[Spec]) -> np.ndarray:
        le, kappa = self.components(specs)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(le) - np.log(kappa)

    def _compute(self, spec: Spec) -> tuple[float, float]:
        import torch

        from lutnas.models import build_model, input_shape

        old = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            model = build_model(spec, seed=self.seed).eval()
            gen = torch.Generator().manual_seed(self.seed)
            shape = input_shape(spec.blocks()[0][0], 1)[1:]  # one image, e.g. (3, I, I)
            a, b = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
            t = torch.linspace(0, 2 * np.pi, self.curve_points + 1)[:-1]
            curve = torch.stack([torch.cos(x) * a + torch.sin(x) * b for x in t])
            with torch.no_grad():
                out = model(curve)
            out_len = (out - out.roll(1, dims=0)).flatten(1).norm(dim=1).sum()
            in_len = (curve - curve.roll(1, dims=0)).flatten(1).norm(dim=1).sum()
            le = float(out_len / in_len)
            xs = torch.randn((self.batch,) + shape, generator=gen)
            params = [p for p in model.parameters() if p.requires_grad]
            rows = []
            for i in range(self.batch):
                model.zero_grad(set_to_none=True)
                model(xs[i:i + 1]).sum().backward()
                rows.append(torch.cat([p.grad.flatten() for p in params]))
            J = torch.stack(rows).double()
            eig = torch.linalg.eigvalsh(J @ J.T)
            kappa = float(eig.max() / eig.min().clamp_min(1e-30))
            return le, kappa
        finally:
            torch.set_num_threads(old)
