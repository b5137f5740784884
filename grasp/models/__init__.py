"""Models: one async chat interface over OpenAI-compatible servers, the embedded model and scripts."""

from .base import ChatResult, Model, structured
from .factory import load_model
from .metered import MeteredModel
from .openai import ModelUnavailable, OpenAICompatibleModel
from .scripted import ScriptedModel

__all__ = [
    "ChatResult",
    "MeteredModel",
    "Model",
    "ModelUnavailable",
    "OpenAICompatibleModel",
    "ScriptedModel",
    "load_model",
    "structured",
]
