"""TriMul with its O(n^3) product in a Triton kernel (tl.dot over 16x16 tiles); the
projections and norms stay in PyTorch. IGNORE_MASK is the subtle bug the tests plant."""

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

IGNORE_MASK = False
BLOCK = 16


@triton.jit
def _pair_product(left, right, out, n, BLOCK: tl.constexpr):
    # out[b, i, j] = sum_k left[b, i, k] * right[b, j, k], with b = (batch, channel)
    b = tl.program_id(0)
    i = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    j = tl.program_id(2) * BLOCK + tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK, BLOCK), dtype=tl.float32)
    base = b * n * n
    for k0 in range(0, n, BLOCK):
        k = k0 + tl.arange(0, BLOCK)
        a = tl.load(
            left + base + i[:, None] * n + k[None, :],
            mask=(i[:, None] < n) & (k[None, :] < n),
            other=0.0,
        )
        c = tl.load(
            right + base + j[:, None] * n + k[None, :],
            mask=(j[:, None] < n) & (k[None, :] < n),
            other=0.0,
        )
        acc += tl.dot(a, tl.trans(c))
    tl.store(
        out + base + i[:, None] * n + j[None, :], acc, mask=(i[:, None] < n) & (j[None, :] < n)
    )


def custom_kernel(data):
    x, mask, w, config = data
    dim, hidden = config["dim"], config["hidden_dim"]
    bs, n = x.shape[0], x.shape[1]
    x = F.layer_norm(x, (dim,), w["norm.weight"], w["norm.bias"])
    keep = torch.ones_like(mask) if IGNORE_MASK else mask
    keep = keep.unsqueeze(-1)
    left = (x @ w["left_proj.weight"].T) * keep * torch.sigmoid(x @ w["left_gate.weight"].T)
    right = (x @ w["right_proj.weight"].T) * keep * torch.sigmoid(x @ w["right_gate.weight"].T)
    # [bs, n, n, h] -> [bs * h, n, n], contiguous for the kernel
    left = left.permute(0, 3, 1, 2).contiguous().reshape(bs * hidden, n, n)
    right = right.permute(0, 3, 1, 2).contiguous().reshape(bs * hidden, n, n)
    h = torch.empty_like(left)
    grid = (bs * hidden, triton.cdiv(n, BLOCK), triton.cdiv(n, BLOCK))
    _pair_product[grid](left, right, h, n, BLOCK=BLOCK)
    h = h.reshape(bs, hidden, n, n).permute(0, 2, 3, 1)
    h = F.layer_norm(h, (hidden,), w["to_out_norm.weight"], w["to_out_norm.bias"])
    return (h * torch.sigmoid(x @ w["out_gate.weight"].T)) @ w["to_out.weight"].T
