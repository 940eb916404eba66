# FFN without distillation: the head's cross-entropy on every count instead.
_base_ = ['../ffn_tsm_r18_demo.py']
model = dict(supervision='every', distill_loss=None)
