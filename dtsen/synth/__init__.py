"""Synthetic population and registry generator (no real personal data, ever)."""

from .config import NoiseRates, SynthConfig
from .generate import build, synth

__all__ = ["NoiseRates", "SynthConfig", "build", "synth"]
