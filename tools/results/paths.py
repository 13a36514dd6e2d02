"""Where the repository is: the tools run from a checkout."""
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.realpath(__file__))))
