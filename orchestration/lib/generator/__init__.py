"""Synthetic omnichannel data generator: a landing zone that follows the contract exactly,
with realistic mess, and its answer key. See docs/generator.md."""

from orchestration.lib.generator.config import GenerationSummary, GeneratorConfig, NoiseConfig
from orchestration.lib.generator.core import generate

__all__ = ["GenerationSummary", "GeneratorConfig", "NoiseConfig", "generate"]
