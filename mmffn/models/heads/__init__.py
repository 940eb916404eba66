"""FFN heads: stock MMAction2 heads whose weights are shaped by the frame
count, with one copy per trained count."""
from .trn_head_ffn import TRNHead_FFN

__all__ = ['TRNHead_FFN']
