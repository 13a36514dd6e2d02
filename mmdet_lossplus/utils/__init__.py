from .checkpoint_compat import enable_trusted_checkpoint_loading
from .config_utils import adapt_cfg_to_device, set_data_root
from .dist_launch import init_cpu_process_group, shutdown_process_group

__all__ = [
    'adapt_cfg_to_device', 'enable_trusted_checkpoint_loading',
    'init_cpu_process_group', 'set_data_root', 'shutdown_process_group'
]
