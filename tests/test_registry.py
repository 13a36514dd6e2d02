"""Registry resolution: scoped names, custom_imports, no clash with mmdet."""
import textwrap

from conftest import run_py

SCOPED_WITHOUT_IMPORT = textwrap.dedent('''
    import sys
    from mmengine.registry import DefaultScope
    from mmdet.registry import HOOKS
    assert 'mmdet_lossplus' not in sys.modules
    DefaultScope.get_instance('t', scope_name='mmdet')
    hook = HOOKS.build(dict(type='mmdet_lossplus.PredictionGalleryHook'))
    assert type(hook).__module__.startswith('mmdet_lossplus.'), type(hook)
    print('OK')
''')


def test_scoped_name_resolves_without_custom_imports():
    assert run_py(['-c', SCOPED_WITHOUT_IMPORT]).stdout.strip() == 'OK'


CUSTOM_IMPORTS = textwrap.dedent('''
    import sys, tempfile, os
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmdet.registry import HOOKS
    path = os.path.join(tempfile.mkdtemp(), 'cfg.py')
    with open(path, 'w') as f:
        f.write("custom_imports = dict(imports=['mmdet_lossplus'], "
                "allow_failed_imports=False)\\n"
                "default_scope = 'mmdet'\\n"
                "hook = dict(type='mmdet_lossplus.PredictionGalleryHook',"
                " num_images=3)\\n")
    cfg = Config.fromfile(path)
    assert 'mmdet_lossplus' in sys.modules
    DefaultScope.get_instance('t', scope_name=cfg.default_scope)
    hook = HOOKS.build(cfg.hook)
    assert hook.num_images == 3
    print('OK')
''')


def test_custom_imports_works():
    assert run_py(['-c', CUSTOM_IMPORTS]).stdout.strip() == 'OK'


def test_child_registries_do_not_touch_mmdet_names():
    import mmdet.registry as mmdet_registry
    from mmdet.models.losses import GHMC, FocalLoss

    import mmdet_lossplus.registry as ours
    for name in ('MODELS', 'HOOKS', 'TASK_UTILS'):
        child = getattr(ours, name)
        parent = getattr(mmdet_registry, name)
        assert child.scope == 'mmdet_lossplus'
        assert child.parent is parent
        assert parent.children['mmdet_lossplus'] is child
        # Nothing of ours was registered into mmdet's own table.
        assert not set(child.module_dict) & set(parent.module_dict) or all(
            parent.module_dict[k] is not child.module_dict[k]
            for k in set(child.module_dict) & set(parent.module_dict))
        for cls in child.module_dict.values():
            assert cls not in parent.module_dict.values()
    assert mmdet_registry.MODELS.get('GHMC') is GHMC
    assert mmdet_registry.MODELS.get('FocalLoss') is FocalLoss
