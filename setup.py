"""Install mmffn, the Frame Flexible Network plugin for MMAction2."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_version():
    with open(osp.join(HERE, 'mmffn', '__init__.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


# The stack that works together (see README "Install"). torch is left as a
# range so that users keep their own CUDA build; the README/Makefile install
# the CPU build first where there is no GPU.
INSTALL_REQUIRES = [
    'torch>=2.0',
    'mmengine==0.10.7',
    # mmcv-lite has no compiled ops and is enough for TSM; users with the full
    # mmcv 2.1 keep it (it provides the same `mmcv` package).
    'mmcv-lite==2.1.0',
    'mmaction2==1.2.0',
    # Needed by mmaction2 but not declared by it:
    # mmaction/utils/dependency.py imports importlib_metadata.
    'importlib_metadata',
    # MMEngine resolves `mmaction::` config bases with pkg_resources, which
    # setuptools 81 removed (mmengine/utils/package_utils.py).
    'setuptools<81',
    'decord>=0.6.0',
    'opencv-python-headless',
    'numpy',
    'matplotlib',
]

setup(
    name='mmffn',
    version=read_version(),
    description='Frame Flexible Network (CVPR 2023) as an MMAction2 plugin',
    long_description=open(osp.join(HERE, 'README.md')).read()
    if osp.exists(osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.8',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    install_requires=INSTALL_REQUIRES,
    extras_require={'tests': ['pytest>=7']},
    zip_safe=False,
)
