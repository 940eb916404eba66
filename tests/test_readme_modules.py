"""The README's table of registered modules names exactly what mmffn
registers in MMAction2's registries, each under the registry it says."""
import os.path as osp
import re

import mmaction.registry as registries

import mmffn  # noqa: F401  (registers the modules)

README = osp.join(osp.dirname(osp.dirname(__file__)), 'README.md')


def readme_table():
    """{registry name: set of module names} from the README's table."""
    text = open(README).read()
    section = text.split('### Registered modules', 1)[1].split('\n\n')[1]
    table = {}
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in line.strip('|').split('|')]
        registry = cells[0].split()[0]
        table.setdefault(registry, set()).update(
            re.findall(r'`([A-Za-z0-9_]+)`', cells[1]))
    return table


def registered_by_mmffn():
    found = {}
    for name in ('MODELS', 'TRANSFORMS', 'DATASETS',
                 'OPTIM_WRAPPER_CONSTRUCTORS', 'HOOKS', 'METRICS',
                 'VISUALIZERS', 'LOOPS', 'OPTIMIZERS', 'DATA_SAMPLERS'):
        registry = getattr(registries, name)
        mine = {
            key
            for key, cls in registry.module_dict.items()
            if getattr(cls, '__module__', '').startswith('mmffn')
        }
        if mine:
            found[name] = mine
    return found


def test_the_readme_table_is_what_mmffn_registers():
    table = readme_table()
    assert set(table) == {
        'MODELS', 'TRANSFORMS', 'DATASETS', 'OPTIM_WRAPPER_CONSTRUCTORS',
        'HOOKS', 'METRICS'
    }
    assert table == registered_by_mmffn()
    # The families of the coverage table, the newest ones included.
    assert {
        'UniFormerV2_FFN', 'MViT_FFN', 'SwinTransformer3D_FFN',
        'VisionTransformer_FFN', 'TRNHead_FFN'
    } <= table['MODELS']
