"""Run configuration: pydantic models, TOML loading, ``--set`` overrides, hashing."""

from reglab.config._load import apply_overrides, config_hash, config_to_toml, load_config, parse_config
from reglab.config._schema import (
    DataConfig,
    L2Config,
    ModelConfig,
    RegularizerConfig,
    RunConfig,
    TrainConfig,
    WeightDecayConfig,
)

__all__ = [
    "RunConfig",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "RegularizerConfig",
    "L2Config",
    "WeightDecayConfig",
    "load_config",
    "parse_config",
    "apply_overrides",
    "config_hash",
    "config_to_toml",
]
