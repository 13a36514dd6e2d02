"""The import order of docs/design.md ("Layers"), read from the source:
each module imports only its own layer and the ones above it."""
import ast
import os.path as osp
from pathlib import Path
from typing import Iterator, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'mmdet_lossplus'

# docs/design.md, "Layers", top first
LAYERS = [
    ('checks', 'extras', 'version'),
    ('functional', ),
    ('dist', ),
    ('core', ),
    ('registry', ),
    ('losses', ),
    ('coders', 'heads'),
    ('datasets', 'evaluation', 'hooks'),
    ('utils', ),
]
# the layers that must run with torch alone (the GPU check imports them on
# a machine without mmcv, mmengine or mmdet)
TORCH_ONLY = {'checks', 'extras', 'version', 'functional', 'dist', 'core'}
# the only doors to torch.distributed: the collectives, the launcher
DISTRIBUTED_DOORS = {'mmdet_lossplus.dist', 'mmdet_lossplus.utils.dist_launch'}


def layer_of(module: str) -> int:
    part = module.split('.')[1]
    for index, names in enumerate(LAYERS):
        if part in names:
            return index
    raise AssertionError(f'{module}: not in any layer of docs/design.md; '
                         'add its part to LAYERS and to the design notes')


def modules() -> Iterator[Tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob('*.py')):
        parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
        if parts[-1] == '__init__':
            parts = parts[:-1]
        if len(parts) > 1:  # the package's own __init__ registers them all
            yield '.'.join(parts), path


def imports(module: str, path: Path) -> Iterator[Tuple[str, int]]:
    """``(absolute module name, line)`` of every import in the file."""
    package = module if path.name == '__init__.py' else \
        module.rsplit('.', 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                target = '.'.join(base +
                                  ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = f'{target}.{alias.name}'
                is_module = osp.exists(
                    PACKAGE.parent.joinpath(*sub.split('.')).with_suffix('.py')
                ) or PACKAGE.parent.joinpath(*sub.split('.')).is_dir()
                yield (sub if is_module else target), node.lineno


ALL = list(modules())


def test_every_module_has_a_layer():
    assert len(ALL) > 40
    for module, _ in ALL:
        layer_of(module)


@pytest.mark.parametrize('module,path', ALL, ids=[m for m, _ in ALL])
def test_imports_follow_the_layers(module, path):
    mine = layer_of(module)
    top = module.split('.')[1]
    for target, line in imports(module, path):
        where = f'{path.relative_to(PACKAGE.parent)}:{line}'
        if target == 'mmdet_lossplus':
            raise AssertionError(f'{where}: imports the package root '
                                 '(import the module itself)')
        if target.startswith('mmdet_lossplus.'):
            theirs = layer_of(target)
            assert theirs <= mine, (
                f'{where}: {module} (layer {mine}) imports {target} '
                f'(layer {theirs}), below it in docs/design.md')
        if top in TORCH_ONLY:
            assert target.split('.')[0] not in ('mmcv', 'mmdet', 'mmengine'), (
                f'{where}: {module} must need torch only, imports '
                f'{target}')
        if target.startswith('torch.distributed'):
            assert module in DISTRIBUTED_DOORS, (
                f'{where}: use mmdet_lossplus.dist, not {target}')
        if target.startswith('mmengine.dist'):
            raise AssertionError(f'{where}: ask mmdet_lossplus.dist for '
                                 'ranks, not mmengine.dist')


def test_the_checker_sees_a_violation(tmp_path):
    """The parser resolves relative imports: a functional module importing
    a loss is caught."""
    fake = PACKAGE / 'functional' / 'ap_loss.py'
    found = [t for t, _ in imports('mmdet_lossplus.functional.ap_loss', fake)]
    assert 'mmdet_lossplus.checks' in found or \
        'mmdet_lossplus.functional.ranking' in found
    bad = tmp_path / 'bad.py'
    bad.write_text('from ..losses import ap_loss\nfrom .. import dist\n')
    found = [t for t, _ in imports('mmdet_lossplus.functional.bad', bad)]
    assert found == ['mmdet_lossplus.losses.ap_loss', 'mmdet_lossplus.dist']
    assert layer_of(found[0]) > layer_of('mmdet_lossplus.functional.bad')
