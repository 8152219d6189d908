"""TriMul: the outgoing triangle multiplicative update of AlphaFold 3 (Algorithm 12 of
its supplement; the GPU MODE TriMul problem), as plain PyTorch.

    x     [bs, n, n, dim]   pair representation
    mask  [bs, n, n]        1 keeps a pair, 0 drops it (int64, or float ones with nomask)
    out   [bs, n, n, dim]

    x      = LayerNorm(x)
    left   = left_proj(x)  * mask * sigmoid(left_gate(x))        [bs, n, n, hidden]
    right  = right_proj(x) * mask * sigmoid(right_gate(x))
    h[i,j] = sum_k left[i,k] * right[j,k]                        (per channel)
    out    = to_out(LayerNorm(h) * sigmoid(out_gate(x)))

A submission defines `custom_kernel(data)` with `data = (x, mask, weights, config)`
exactly as `generate_input` returns it, and returns `out`.
"""

from __future__ import annotations

import torch
from torch import nn

WEIGHT_SHAPES = {
    # name: (rows, cols) with "dim" and "hidden" resolved from the config
    "norm.weight": ("dim",),
    "norm.bias": ("dim",),
    "left_proj.weight": ("hidden", "dim"),
    "right_proj.weight": ("hidden", "dim"),
    "left_gate.weight": ("hidden", "dim"),
    "right_gate.weight": ("hidden", "dim"),
    "out_gate.weight": ("hidden", "dim"),
    "to_out_norm.weight": ("hidden",),
    "to_out_norm.bias": ("hidden",),
    "to_out.weight": ("dim", "hidden"),
}


class TriMul(nn.Module):
    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.left_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.right_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.left_gate = nn.Linear(dim, hidden_dim, bias=False)
        self.right_gate = nn.Linear(dim, hidden_dim, bias=False)
        self.out_gate = nn.Linear(dim, hidden_dim, bias=False)
        self.to_out_norm = nn.LayerNorm(hidden_dim)
        self.to_out = nn.Linear(hidden_dim, dim, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        mask = mask.unsqueeze(-1)
        left = self.left_proj(x) * mask * torch.sigmoid(self.left_gate(x))
        right = self.right_proj(x) * mask * torch.sigmoid(self.right_gate(x))
        h = torch.einsum("...ikd,...jkd->...ijd", left, right)
        return self.to_out(self.to_out_norm(h) * torch.sigmoid(self.out_gate(x)))


def generate_input(
    seqlen: int,
    bs: int,
    dim: int,
    hiddendim: int,
    seed: int,
    nomask: bool,
    distribution: str,
    device: str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], dict[str, int]]:
    """GPU MODE's TriMul inputs: x ~ N(0, 1), or Cauchy(0, 2) for "cauchy"; an int mask of
    0s and 1s (all ones with nomask); LayerNorm weights and biases ~ N(0, 1); projections
    and gates ~ N(0, 1) / sqrt(hidden); the output projection ~ N(0, 1) / sqrt(dim).
    Everything is drawn from generators seeded with `seed`, so a shape's inputs are the
    same on every run (GPU MODE draws the Cauchy input and the weights from torch's global
    generator, which its harness seeds; here one seed fixes all of it)."""
    gen = torch.Generator(device=device).manual_seed(seed)
    shape = (bs, seqlen, seqlen, dim)
    if distribution == "cauchy":
        x = torch.empty(shape, device=device, dtype=torch.float32).cauchy_(0.0, 2.0, generator=gen)
    else:
        x = torch.randn(shape, device=device, dtype=torch.float32, generator=gen)
    if nomask:
        mask = torch.ones((bs, seqlen, seqlen), device=device)
    else:
        mask = torch.randint(0, 2, (bs, seqlen, seqlen), device=device, generator=gen)
    sizes = {"dim": dim, "hidden": hiddendim}
    weights = {}
    for name, dims in WEIGHT_SHAPES.items():
        size = tuple(sizes[d] for d in dims)
        draw = torch.randn(size, device=device, dtype=torch.float32, generator=gen)
        if len(size) == 1:  # the two LayerNorms' weights and biases
            weights[name] = draw
        elif name == "to_out.weight":
            weights[name] = draw / dim**0.5
        else:
            weights[name] = draw / hiddendim**0.5
    return x, mask, weights, {"dim": dim, "hidden_dim": hiddendim}


def ref_kernel(data: tuple) -> torch.Tensor:
    x, mask, weights, config = data
    module = TriMul(config["dim"], config["hidden_dim"]).to(x.device)
    module.load_state_dict(weights)
    with torch.no_grad():
        return module(x, mask)
