from .recognizer_ffn import RecognizerFFN
from .stock_recognizer_guard import refuse_multi_rate_inputs_in_recognizer2d

# For every model of the process, as mmffn.reliability_patches.
refuse_multi_rate_inputs_in_recognizer2d()

__all__ = ['RecognizerFFN']
