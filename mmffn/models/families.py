"""Which stock MMAction2 backbones have a frame-flexible version.

One table, :data:`FAMILIES`, read by the FFN recognizers (the backbones
they accept), by :mod:`mmffn.apis.model_config` (mixing configs and
deployment) and by the frame sweep (input frames per count).
"""
import inspect
from typing import Dict, NamedTuple, Optional

__all__ = [
    'BackboneFamily', 'FAMILIES', 'NOT_FRAME_FLEXIBLE', 'FFN_RECOGNIZERS',
    'FFN_BACKBONE_KEYS', 'FFN_RECOGNIZER_KEYS', 'input_frames_per_count'
]


class BackboneFamily(NamedTuple):
    """A stock MMAction2 backbone and its frame-flexible version.

    Attributes:
        ffn_type (str): Registered name of the FFN version.
        no_loading (dict): Stock arguments under which the stock class loads
            no weights of its own (a deployed model gets them all from its
            checkpoint).
        any_count (bool): Whether a count that was not trained deploys as
            the stock model at that count (False where weights are shaped
            by the count, as TANet's TAM).
        ffn_only_args (tuple): Arguments of the FFN version that the stock
            class does not take (dropped on deployment).
        recognizer (str): The stock recognizer of this backbone's configs.
        frames_arg (str, optional): The stock argument set to the frame
            count on deployment; None where the backbone takes any count
            (3D backbones read it from the clip).
    """
    ffn_type: str
    no_loading: Dict
    any_count: bool = True
    ffn_only_args: tuple = ()
    recognizer: str = 'Recognizer2D'
    frames_arg: Optional[str] = 'num_segments'


def _family_3d(ffn_type: str,
               frames_arg: Optional[str] = None,
               any_count: bool = True) -> BackboneFamily:
    """A backbone of Recognizer3D configs (``num_segments`` is FFN's
    only)."""
    return BackboneFamily(
        ffn_type,
        dict(pretrained=None),
        any_count=any_count,
        ffn_only_args=('num_segments', ),
        recognizer='Recognizer3D',
        frames_arg=frames_arg)


FAMILIES: Dict[str, BackboneFamily] = {
    # Plain 2D ResNet (TSN, TRN): no temporal module, no num_segments.
    'ResNet':
    BackboneFamily(
        'ResNet_FFN',
        dict(pretrained=None),
        ffn_only_args=('num_segments', ),
        frames_arg=None),
    # TIN's OffsetNet is shaped by the count (see resnet_tin_ffn.py).
    'ResNetTIN':
    BackboneFamily(
        'ResNetTIN_FFN',
        dict(pretrained=None, pretrained2d=False),
        any_count=False),
    'ResNetTSM':
    BackboneFamily('ResNetTSM_FFN', dict(pretrained=None, pretrained2d=False)),
    'MobileNetV2TSM':
    BackboneFamily('MobileNetV2TSM_FFN',
                   dict(pretrained=None, pretrained2d=False)),
    'TANet':
    BackboneFamily('TANet_FFN', dict(pretrained=None), any_count=False),
    'ResNet3d':
    _family_3d('ResNet3d_FFN'),
    'ResNet3dSlowOnly':
    _family_3d('ResNet3dSlowOnly_FFN'),
    'ResNet3dSlowFast':
    _family_3d('ResNet3dSlowFast_FFN'),
    'X3D':
    _family_3d('X3D_FFN'),
    'UniFormer':
    _family_3d('UniFormer_FFN'),
    # Its time embedding is shaped by the count: a stock TimeSformer of
    # num_frames=T computes a trained branch T.
    'TimeSformer':
    _family_3d('TimeSformer_FFN', frames_arg='num_frames', any_count=False),
    # No weight is shaped by the count; the stock forward splits clips by
    # t_size (input frames), so it is set to the count on deployment.
    'UniFormerV2':
    _family_3d('UniFormerV2_FFN', frames_arg='t_size')._replace(
        no_loading=dict(pretrained=None, clip_pretrained=False)),
    'ResNet3dCSN':
    _family_3d('ResNet3dCSN_FFN'),
    'ResNet2Plus1d':
    _family_3d('ResNet2Plus1d_FFN'),
    'C2D':
    _family_3d('C2D_FFN'),
    # Its position table is shaped by the count (see vit_mae_ffn.py).
    'VisionTransformer':
    _family_3d(
        'VisionTransformer_FFN', frames_arg='num_frames', any_count=False),
    # Takes any count (window clipped to the clip); pretrained2d=False: the
    # stock init would otherwise inflate pretrained=None.
    'SwinTransformer3D':
    BackboneFamily(
        'SwinTransformer3D_FFN',
        dict(pretrained=None, pretrained2d=False),
        ffn_only_args=('num_segments', ),
        recognizer='Recognizer3D',
        frames_arg=None),
    # Temporal positions shaped by the count (see mvit_ffn.py): a stock MViT
    # of temporal_size=T computes a trained branch T.
    'MViT':
    BackboneFamily(
        'MViT_FFN',
        dict(pretrained=None, pretrained_type=None),
        any_count=False,
        ffn_only_args=('num_segments', ),
        recognizer='Recognizer3D',
        frames_arg='temporal_size'),
}
# Why the MMAction2 models without an FFN version have none (the coverage
# command and frame_flexible_model's errors give these reasons).
NOT_FRAME_FLEXIBLE = {
    'C3D': ('its four temporal max-pools need clips of 16 frames or more '
            '(counts 4 and 8 do not run even in the stock C3D), its fc6 is '
            'sized for 16 frames at 112 px, and its recipe has no norm '
            'to specialise (norm_cfg=None)'),
    'MobileOneTSM': ('MMAction2 builds it from MMPretrain, which imports '
                     'torchvision; no CPU torchvision for torch 2.13 is on '
                     "this project's package index (docs/coverage.md)"),
    'RecognizerOmni': ('it trains on image and video loaders zipped, one '
                       'loss per source, and OmniResNet reads conv and BN '
                       'weights directly (bypassing per-count norms and '
                       'adapters): it needs its own FFN recognizer'),
}
# The FFN recognizer of each stock recognizer.
FFN_RECOGNIZERS = {
    'Recognizer2D': 'RecognizerFFN',
    'Recognizer3D': 'RecognizerFFN3D'
}
# Arguments the FFN versions add to the stock backbones and recognizer.
FFN_BACKBONE_KEYS = ('num_segments_list', 'branch_policy', 'weight_alteration',
                     'alteration_init_std', 'rate_specific_norms')
FFN_RECOGNIZER_KEYS = ('distill_loss', 'supervision', 'trainable',
                       'stock_checkpoint')


def input_frames_per_count(model: dict) -> int:
    """Input frames per counted frame of a model config's backbone: the
    ``resample_rate`` of SlowFast (stock or FFN, whose count is the slow
    pathway's), else 1."""
    backbone = dict(model.get('backbone') or {})
    if backbone.get('type') in ('ResNet3dSlowFast', 'ResNet3dSlowFast_FFN'):
        from mmaction.models import ResNet3dSlowFast
        default = inspect.signature(
            ResNet3dSlowFast.__init__).parameters['resample_rate'].default
        return int(backbone.get('resample_rate', default))
    return 1
