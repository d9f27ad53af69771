"""Run configuration: pydantic models, TOML loading, ``--set`` overrides, hashing."""

from reglab.config._data import (
    DigitsDataConfig,
    LinearDataConfig,
    MnistDataConfig,
    MnistFullDataConfig,
    PolynomialDataConfig,
    ToyDataConfig,
)
from reglab.config._load import (apply_overrides, config_hash, config_to_toml, flatten_config, load_config,
                                 parse_config, read_toml)
from reglab.config._sections import AugmentConfig, VerifyConfig
from reglab.config._data import DataConfig
from reglab.config._schema import ModelConfig, RunConfig, TrainConfig

# the [[regularizer]] entries' classes live beside their pieces (see _schema's docstring)
from reglab.regularize import (DropoutConfig, EarlyStoppingConfig, L1Config, L1ProxConfig, L2BallConfig, L2Config,
                               MaxNormConfig, RegularizerConfig, WeightDecayConfig)

__all__ = [
    "AugmentConfig",
    "VerifyConfig",
    "RunConfig",
    "DataConfig",
    "DigitsDataConfig",
    "MnistDataConfig",
    "MnistFullDataConfig",
    "ToyDataConfig",
    "PolynomialDataConfig",
    "LinearDataConfig",
    "ModelConfig",
    "TrainConfig",
    "RegularizerConfig", "L2Config", "WeightDecayConfig", "L1Config", "L1ProxConfig", "L2BallConfig", "MaxNormConfig",
    "DropoutConfig", "EarlyStoppingConfig",
    "load_config",
    "parse_config",
    "apply_overrides",
    "flatten_config",
    "config_hash",
    "config_to_toml",
    "read_toml",
]
