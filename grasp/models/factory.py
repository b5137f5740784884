"""Build a Model from its config."""

from __future__ import annotations

from ..config import ModelConfig
from ..errors import ConfigError
from .base import Model


def load_model(config: ModelConfig) -> Model:
    if config.provider == "openai":
        from .openai import OpenAICompatibleModel

        if not config.base_url or not config.model:
            raise ConfigError("an openai model needs both 'base_url' and 'model'")
        return OpenAICompatibleModel(
            base_url=config.base_url, model=config.model, api_key_env=config.api_key_env,
            temperature=config.temperature, seed=config.seed, max_tokens=config.max_tokens,
            timeout_s=config.timeout_s, retries=config.retries,
            structured_output="text" if not config.supports_schema else config.structured_output,
            grammar_field=config.grammar_field, pin_grammar_field="grammar_field" in config.model_fields_set,
        )
    from .local import LocalModel
    from .runtime import check_runtime
    from .weights import GGUF_SHA256, embedded_gguf, sha256_of, verify_gguf

    gguf = verify_gguf(config.gguf, config.gguf_sha256) if config.gguf else embedded_gguf()
    check_runtime(gguf, timeout_s=config.timeout_s)  # a runtime that would die mid-run is named before one starts
    name = config.model or ("local:qwen2.5-coder-1.5b-instruct-q4_k_m" if config.gguf is None else None)
    weights = GGUF_SHA256 if config.gguf is None else (config.gguf_sha256 or sha256_of(gguf))
    return LocalModel(gguf, name=name, identity=f"sha256:{weights}", n_ctx=config.n_ctx, n_threads=config.n_threads,
                      temperature=config.temperature, seed=config.seed, max_tokens=config.max_tokens)
