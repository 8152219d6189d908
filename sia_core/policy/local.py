"""LocalPolicy: transformers + peft, batched sampling with token ids and log-probs.

The gateway serves it like any task model: concurrent requests with the same sampling
parameters are gathered into one left-padded `generate` call. Every reply carries the
prompt ids, completion ids and the sampling log-probs, which the gateway logs with the
call: that is the training data of the weights lever.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sia_core.errors import SiaError
from sia_core.policy.draws import RequestSeeds, SeededSampler
from sia_core.policy.models import ModelReply, chat_completion
from sia_core.weights.rl import RLBatch
from sia_core.weights.shared_head import (
    MIN_SHARED_HEAD,
    cache_kwarg,
    head_cache,
    shared_head,
    sliding_window,
)
from sia_core.weights.training import train_here


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 32
    """The paper's LoRA rank."""
    alpha: int = 16
    """alpha / rank = 0.5: the update scale of the planning measurements (peft's default
    alpha 8 at rank 16); at scale 2 GRPO collapsed the sampling distribution on sentiment."""
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    """The attention projections, as in the measurements behind the defaults."""
    learning_rate: float = 2e-4
    """Measured while planning: GRPO on sentiment with LoRA on q/k/v/o learnt at 2e-4."""


def lora_settings(overrides: dict[str, Any]) -> LoraSettings:
    known = {f.name for f in fields(LoraSettings)}
    unknown = set(overrides) - known
    if unknown:
        raise SiaError(f"no LoRA setting {sorted(unknown)[0]!r}; known: {', '.join(sorted(known))}")
    values = dict(overrides)
    if "target_modules" in values:
        values["target_modules"] = tuple(values["target_modules"])
    return LoraSettings(**values)


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 64
    stop_at_newline: bool = False
    stop: tuple[str, ...] = ()


@dataclass
class Completion:
    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: str
    temperature: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)


def params_from_request(request: dict[str, Any], override: dict[str, Any] | None) -> SamplingParams:
    merged = {**request, **(override or {})}
    stop = merged.get("stop") or ()
    stop = (stop,) if isinstance(stop, str) else tuple(stop)
    max_tokens = merged.get("max_completion_tokens") or merged.get("max_tokens") or 64
    temperature = merged.get("temperature")
    return SamplingParams(
        temperature=1.0 if temperature is None else float(temperature),
        top_p=float(merged.get("top_p") or 1.0),
        max_tokens=int(max_tokens),
        stop_at_newline=any(s.startswith("\n") for s in stop),
        stop=stop,
    )


def with_lora(model: Any, lora: LoraSettings, adapter: Path | None) -> Any:
    """A peft model: `adapter` loaded for training, or a fresh LoRA from `lora`."""
    from peft import LoraConfig, PeftModel, get_peft_model

    if adapter is not None:
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    config = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


class LocalPolicy:
    """An open-weight model with a LoRA adapter, served and trained in this process."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        name: str,
        lora: LoraSettings,
        max_batch: int = 64,
        batch_window_s: float = 0.05,
    ) -> None:
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.lora = lora
        self.device = next(model.parameters()).device
        self.max_batch = max_batch
        self.batch_window_s = batch_window_s
        self.adapter: Path | None = None
        self.trained = False
        """True once training changed the weights since `adapter` was loaded: they are
        then no longer `adapter`'s, and serving it again must reload it."""
        self.exact = False
        """Sample every greedy call alone (`--exact`): its reply is then the same whatever
        else was in flight, since a batch's padding, shared-prefix cache and matrix shapes
        move the logits in the last bits; sampled calls (rollouts) still share batches."""
        self.sampling_override: dict[str, Any] | None = None
        """Set during rollouts: sampling on, whatever the harness asks; its `seed` (the
        round's) seeds the rollouts' draws."""
        self.seed = 0
        """Seeds the draws of sampled calls outside rollouts (the run's seed)."""
        self._seeds = RequestSeeds()
        self.lock = threading.Lock()
        """Held while generating or training: one user of the model at a time."""
        self._queue: queue.Queue[tuple[list[int], SamplingParams, int, Future]] = queue.Queue()
        self._newline_ids: list[int] | None = None
        self._torch = torch
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        threading.Thread(target=self._serve, daemon=True, name="sia-policy").start()

    # -- loading ----------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        spec: str,
        adapter: Path | None = None,
        lora: LoraSettings | None = None,
        device: str | None = None,
    ) -> LocalPolicy:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from sia_core.policy.registry import model_dir

        path = model_dir(spec)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
        return cls.wrap(model, tokenizer, spec, lora or LoraSettings(), adapter)

    @classmethod
    def wrap(
        cls, model: Any, tokenizer: Any, name: str, lora: LoraSettings, adapter: Path | None = None
    ) -> LocalPolicy:
        """Put a LoRA adapter (new, or loaded from `adapter`) on a loaded model."""
        policy = cls(with_lora(model, lora, adapter), tokenizer, name, lora)
        policy.adapter = adapter
        return policy

    def save_adapter(self, path: Path, key: str | None = None) -> None:
        """The adapter as a standard PEFT directory at `path`. `key` names where a policy
        host keeps it too; nothing is kept elsewhere in this process."""
        self.model.save_pretrained(str(path))

    def close(self) -> None:
        """Nothing to stop: the model goes with the process."""

    def train(
        self, algorithm: str, trainer: str, batch: RLBatch, config: Any, seed: int
    ) -> tuple[dict[str, Any], dict[str, bytes]]:
        """One call of the algorithm's trainer on this model, in place."""
        return train_here(self, algorithm, trainer, batch, config, seed)

    def use_adapter(self, adapter: Path | None) -> None:
        """Serve and train with `adapter` (None: a fresh, zero LoRA) from now on."""
        with self.lock:
            self.model = with_lora(self.model.unload(), self.lora, adapter)
            self.adapter = adapter
            self.trained = False

    # -- prompts ----------------------------------------------------------------------

    def prompt_ids(self, messages: list[dict[str, Any]]) -> list[int]:
        """Chat template when the tokenizer has one; plain text for a base model."""
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True
            )
            return list(ids["input_ids"] if isinstance(ids, dict) else ids)
        parts = []
        for message in messages:
            content = message.get("content") or ""
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            parts.append(str(content))
        return list(self.tokenizer("\n".join(parts))["input_ids"])

    def newline_ids(self) -> list[int]:
        if self._newline_ids is None:
            tokens = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
            self._newline_ids = [
                i for i, t in enumerate(tokens) if t and ("\n" in t or t in ("Ċ", "<0x0A>"))
            ]
        return self._newline_ids

    # -- sampling ---------------------------------------------------------------------

    MIN_SHARED_PREFIX = MIN_SHARED_HEAD

    def _shared_prefix(self, prompts: list[list[int]], max_tokens: int) -> int:
        """Length of the head every prompt shares (0: not worth a cache of its own); the
        whole sequence must fit a sliding attention window, which would count the
        padding in the middle too."""
        longest = max(len(p) for p in prompts) + max_tokens
        window = sliding_window(self.model)
        return shared_head(prompts, longest, window, self.MIN_SHARED_PREFIX)

    def sample(
        self, prompts: list[list[int]], params: SamplingParams, seeds: list[int] | None = None
    ) -> list[Completion]:
        """One generate call for all prompts. A prefix that every prompt shares (a few-shot
        block, a system prompt) is run once and its cache shared by the batch: prefill is
        most of the cost of short completions, and harnesses repeat their prompt head.
        A sampled row draws from its own generator, seeded by `seeds` (None: seeds drawn
        from torch's global generator), so what it says does not depend on its batch."""
        torch = self._torch
        pad = self.tokenizer.pad_token_id
        shared = self._shared_prefix(prompts, params.max_tokens)
        head = prompts[0][:shared]
        width = shared + max(len(p) - shared for p in prompts)
        input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            # [shared head][padding][rest of the prompt]: positions come from the mask, so
            # the padding in the middle shifts nothing.
            input_ids[row, :shared] = torch.tensor(head, dtype=torch.long)
            mask[row, :shared] = 1
            input_ids[row, width - len(prompt) + shared :] = torch.tensor(prompt[shared:])
            mask[row, width - len(prompt) + shared :] = 1
        stops = {self.tokenizer.eos_token_id}
        if params.stop_at_newline:
            stops.update(self.newline_ids())
        sampler = None
        kwargs: dict[str, Any] = {"do_sample": False, "output_scores": True}
        if params.temperature > 0:
            if seeds is None:
                seeds = torch.randint(0, 2**62, (len(prompts),)).tolist()
            sampler = SeededSampler(seeds, params.temperature, params.top_p, params.max_tokens)
            kwargs.update(logits_processor=[sampler], output_scores=False)
        with self.lock, torch.no_grad():
            self.model.eval()
            if shared:
                cache = head_cache(self.model, head, len(prompts))
                kwargs[cache_kwarg(self.model)] = cache
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=mask.to(self.device),
                max_new_tokens=params.max_tokens,
                eos_token_id=sorted(stops),
                pad_token_id=pad,
                return_dict_in_generate=True,
                **kwargs,
            )
            if sampler is not None:
                scores = sampler.row_logprobs()
            else:
                scores = self.model.compute_transition_scores(
                    out.sequences, out.scores, normalize_logits=True
                ).tolist()
        results = []
        for row, prompt in enumerate(prompts):
            generated = out.sequences[row, width:].tolist()
            logprobs = scores[row]
            ids, lps, finish = [], [], "length"
            for token, lp in zip(generated, logprobs, strict=False):
                ids.append(token)
                lps.append(float(lp))
                if token in stops:
                    finish = "stop"
                    break
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            for stop in params.stop:
                if stop and stop in text:
                    text, finish = text[: text.index(stop)], "stop"
            results.append(
                Completion(
                    prompt_ids=prompt,
                    completion_ids=ids,
                    logprobs=lps,
                    text=text,
                    finish_reason=finish,
                    temperature=max(params.temperature, 0.0),
                )
            )
        return results

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            deadline = time.monotonic() + self.batch_window_s
            held = []
            alone = self.exact and first[1].temperature <= 0
            while len(batch) < self.max_batch and not alone:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    break
                (batch if item[1] == first[1] else held).append(item)
            for item in held:
                self._queue.put(item)
            try:
                results = self.sample([b[0] for b in batch], first[1], [b[2] for b in batch])
            except Exception as exc:  # every waiting request learns why
                for *_, future in batch:
                    future.set_exception(exc)
                continue
            for (*_, future), result in zip(batch, results, strict=True):
                future.set_result(result)

    def complete(
        self, request: dict[str, Any], override: dict[str, Any] | None = None
    ) -> ModelReply:
        """One request; `override` (a policy host's rollout sampling, sent with the
        call) takes the place of the policy-wide `sampling_override`. A sampled call's draws
        are seeded by the override's seed, else by the request's own `seed` (the same
        request then says the same thing), else by the policy's."""
        override = override or self.sampling_override
        params = params_from_request(request, override)
        prompt = self.prompt_ids(request["messages"])
        seed = 0  # greedy: nothing is drawn
        if params.temperature > 0:
            rollout = (override or {}).get("seed")
            base = self.seed if rollout is None else int(rollout)
            fixed = request.get("seed") if rollout is None else None  # the gateway's int
            seed = self._seeds.seed_for(base, prompt, params, fixed)
        future: Future[Completion] = Future()
        self._queue.put((prompt, params, seed, future))
        result = future.result()
        response = chat_completion(
            self.name, result.text, len(prompt), len(result.completion_ids), result.finish_reason
        )
        return ModelReply(
            response=response,
            prompt_tokens=len(prompt),
            completion_tokens=len(result.completion_ids),
            cost_usd=0.0,
            extra={
                "prompt_ids": result.prompt_ids,
                "completion_ids": result.completion_ids,
                "logprobs": result.logprobs,
                "temperature": result.temperature,
            },
        )

    @contextlib.contextmanager
    def sampling(self, override: dict[str, Any]) -> Any:
        previous, self.sampling_override = self.sampling_override, override
        try:
            yield self
        finally:
            self.sampling_override = previous
