"""Install mmffn, the Frame Flexible Network plugin for MMAction2."""
import os.path as osp
import re
from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_version():
    with open(osp.join(HERE, 'mmffn', '__init__.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


# The stack that works together (see docs/install.md). torch is left as a
# range so that users keep their own CUDA build; tools/setup_env.sh and
# docs/install.md install the CPU build first where there is no GPU.
INSTALL_REQUIRES = [
    'torch>=2.6',
    'mmengine==0.10.7',
    # No mmcv here: see EXTRAS_REQUIRE.
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

# mmcv-lite and the full mmcv both provide the `mmcv` package; requiring either
# would install it beside the other (shared files, a broken uninstall). So mmcv
# is an extra, chosen per machine (docs/install.md); `import mmffn` says so if
# none is installed. `full` is the range mmaction2 1.2.0 accepts.
# ONNX export of a deployed model (tools/deploy.py --onnx): the versions
# tested; torch's TorchScript exporter needs no onnxscript
# (mmffn/apis/onnx_export.py).
DEPLOY_REQUIRES = ['onnx>=1.23', 'onnxruntime>=1.32']

EXTRAS_REQUIRE = {
    'lite': ['mmcv-lite==2.1.0'],  # CPU machines: no compiled ops
    'full': ['mmcv>=2.0.0rc4,<2.2.0'],  # better: `mim install mmcv==2.1.0`
    # The test command also lints, with OpenMMLab's pinned linters
    # (.pre-commit-config.yaml, setup.cfg).
    # pytest-xdist: tools/run_tests.sh runs the suite on 2 workers. The
    # deploy packages too: tools/setup_env.sh installs `tests`, and the ONNX
    # export is tested.
    'tests': [
        'pytest>=7', 'pytest-xdist>=3', 'flake8==5.0.4', 'isort==5.11.5',
        'yapf==0.32.0'
    ] + DEPLOY_REQUIRES,
    'deploy':
    DEPLOY_REQUIRES,
}

setup(
    name='mmffn',
    version=read_version(),
    description='Frame Flexible Network (CVPR 2023) as an MMAction2 plugin',
    long_description=open(osp.join(HERE, 'README.md')).read() if osp.exists(
        osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.8',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    zip_safe=False,
)
