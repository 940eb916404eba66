# FFN without distillation: the head's cross-entropy on every count only
# (the demo recipe less its distillation term).
_base_ = ['../ffn_tsm_r18_demo.py']
model = dict(supervision='every', distill_loss=None)
