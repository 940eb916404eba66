# FFN without weight alteration: no per-count adapters.
_base_ = ['../ffn_tsm_r50_ssv2.py']
model = dict(backbone=dict(weight_alteration=False))
