"""PPO with a value head and token-level GAE over the logged calls of K runs per item."""

from __future__ import annotations

import io
import random
import statistics
from typing import Any

from sia_core.api import PolicyHandle, RLBatch, TrainResult, completion_logprobs, minibatches
from sia_rl_ppo.config import PPOConfig

VALUE_HEAD_FILE = "value_head.pt"


def gae(
    rewards: list[float], values: list[float], gamma: float, lam: float
) -> tuple[list[float], list[float]]:
    """Advantages and returns of one episode; the state after the last token is terminal."""
    advantages = [0.0] * len(rewards)
    running = 0.0
    for t in reversed(range(len(rewards))):
        next_value = values[t + 1] if t + 1 < len(values) else 0.0
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        advantages[t] = running
    returns = [a + v for a, v in zip(advantages, values, strict=True)]
    return advantages, returns


def token_rewards(
    outcome: float, logprobs: list[float], ref_logprobs: list[float], kl_beta: float
) -> list[float]:
    """-beta * (logp - ref) at every token, plus the outcome reward at the last one."""
    rewards = [-kl_beta * (lp - ref) for lp, ref in zip(logprobs, ref_logprobs, strict=True)]
    rewards[-1] += outcome
    return rewards


def policy_loss(logprobs: Any, old: Any, advantages: Any, mask: Any, epsilon: float) -> Any:
    import torch

    ratio = torch.exp(logprobs - old)
    loss = -torch.minimum(
        ratio * advantages, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * advantages
    )
    return (loss * mask).sum() / mask.sum().clamp(min=1)


def value_loss(values: Any, old_values: Any, returns: Any, mask: Any, clip: float) -> Any:
    import torch

    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    loss = 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)
    return (loss * mask).sum() / mask.sum().clamp(min=1)


def _value_head(policy: PolicyHandle, hidden_size: int) -> Any:
    import torch

    head = torch.nn.Linear(hidden_size, 1)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    saved = policy.previous_adapter / VALUE_HEAD_FILE if policy.previous_adapter else None
    if saved is not None and saved.is_file():
        head.load_state_dict(torch.load(saved, map_location="cpu", weights_only=True))
    return head


def _rows(table: list[list[float]], idx: list[int], like: Any) -> Any:
    """The rows `idx` of a ragged table, zero-padded to the width of tensor `like`."""
    import torch

    width = like.size(1)
    padded = [table[i] + [0.0] * (width - len(table[i])) for i in idx]
    return torch.tensor(padded, device=like.device)


def train(batch: RLBatch, policy: PolicyHandle, cfg: PPOConfig) -> TrainResult:
    import torch

    samples = [s for s in batch.samples if s.completion_ids]
    metrics = {
        "samples": float(len(samples)),
        "mean_reward": statistics.fmean(batch.rewards) if batch.rewards else 0.0,
    }
    if not samples:
        return TrainResult(metrics={**metrics, "steps": 0.0})
    model = policy.model
    hidden_size = model.get_base_model().config.hidden_size
    head = _value_head(policy, hidden_size).to(next(model.parameters()).device)

    # Rollout statistics under the sampling policy: values, reference log-probs, GAE.
    advantages, returns, old_values = [], [], []
    with torch.no_grad():
        for chunk in minibatches(samples, cfg.minibatch_size):
            _, mask, hidden = completion_logprobs(model, chunk, hidden=True)
            values = head(hidden).squeeze(-1)
            with policy.reference() as ref:
                ref_logprobs, _ = completion_logprobs(ref, chunk)
            for i, sample in enumerate(chunk):
                n = len(sample.completion_ids)
                v = values[i, :n].tolist()
                r = token_rewards(
                    sample.reward, sample.logprobs, ref_logprobs[i, :n].tolist(), cfg.kl_beta
                )
                a, ret = gae(r, v, cfg.gamma, cfg.lam)
                advantages.append(a)
                returns.append(ret)
                old_values.append(v)
    if cfg.whiten_advantages:
        flat = [x for row in advantages for x in row]
        mean, std = statistics.fmean(flat), statistics.pstdev(flat) or 1.0
        advantages = [[(x - mean) / std for x in row] for row in advantages]

    lora = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": lora, "lr": cfg.learning_rate or policy.learning_rate},
            {"params": head.parameters(), "lr": cfg.value_learning_rate},
        ]
    )
    order = list(range(len(samples)))
    rng = random.Random(policy.seed)
    pg_losses, v_losses, steps = [], [], 0
    model.train()
    for _ in range(cfg.epochs):
        rng.shuffle(order)
        for chunk_idx in minibatches(order, cfg.minibatch_size):
            chunk = [samples[i] for i in chunk_idx]
            logprobs, mask, hidden = completion_logprobs(model, chunk, hidden=True)
            values = head(hidden).squeeze(-1)

            old = _rows([s.logprobs for s in samples], chunk_idx, logprobs)
            adv = _rows(advantages, chunk_idx, logprobs)
            pg = policy_loss(logprobs, old, adv, mask, cfg.clip_epsilon)
            vf = value_loss(
                values,
                _rows(old_values, chunk_idx, logprobs),
                _rows(returns, chunk_idx, logprobs),
                mask,
                cfg.value_clip,
            )
            loss = pg + cfg.value_coef * vf
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([*lora, *head.parameters()], cfg.max_grad_norm)
            optimizer.step()
            pg_losses.append(pg.item())
            v_losses.append(vf.item())
            steps += 1
    model.eval()
    buffer = io.BytesIO()
    torch.save(head.state_dict(), buffer)
    metrics.update(
        steps=float(steps),
        policy_loss=statistics.fmean(pg_losses),
        value_loss=statistics.fmean(v_losses),
    )
    return TrainResult(metrics=metrics, extra_files={VALUE_HEAD_FILE: buffer.getvalue()})
