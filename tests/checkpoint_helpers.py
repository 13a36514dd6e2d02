"""A crafted checkpoint for the loading-policy tests: unpickling it runs
code (it creates a directory, standing for any payload)."""
import os

import torch


class Payload:
    """Unpickling it calls ``os.mkdir(path)``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path, ))


def crafted_checkpoint(path, marker):
    """Write a checkpoint at ``path`` whose loading creates ``marker``."""
    torch.save(
        dict(state_dict=dict(w=torch.ones(2)), meta=Payload(marker)), path)
