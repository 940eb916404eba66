from .recognizer_ffn import RecognizerFFN

__all__ = ['RecognizerFFN']
