# FFN without weight alteration: no per-count adapters.
_base_ = ['ffn_tsm_r18_demo_paper_loss.py']
model = dict(backbone=dict(weight_alteration=False))
