from .analysis_model import build_for_analysis, load_network_weights
from .checkpoint_loading import (TRUST_ENV, UntrustedCheckpointError,
                                 add_trust_checkpoint_argument,
                                 checkpoint_allowlist, checkpoint_loading,
                                 trust_from_env)
from .config_utils import adapt_cfg_to_device, load_tool_config, set_data_root
from .dist_launch import init_cpu_process_group, shutdown_process_group

__all__ = [
    'TRUST_ENV', 'UntrustedCheckpointError', 'adapt_cfg_to_device',
    'add_trust_checkpoint_argument', 'build_for_analysis',
    'checkpoint_allowlist', 'checkpoint_loading', 'init_cpu_process_group',
    'load_network_weights', 'load_tool_config', 'set_data_root',
    'shutdown_process_group', 'trust_from_env'
]
