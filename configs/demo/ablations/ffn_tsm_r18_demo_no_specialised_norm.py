# FFN without specialised normalisation: one set of norms shared by 4/8/16.
_base_ = ['ffn_tsm_r18_demo_paper_loss.py']
model = dict(backbone=dict(rate_specific_norms=False))
