"""FFN recognizers: MMAction2's Recognizer2D/3D trained and run at several
frame counts."""
from .recognizer_ffn import RecognizerFFN
from .recognizer_ffn_3d import RecognizerFFN3D

__all__ = ['RecognizerFFN', 'RecognizerFFN3D']
