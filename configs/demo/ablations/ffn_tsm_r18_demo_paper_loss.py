# FFN with the paper's loss on the demo set: the head's cross-entropy on 16
# frames only, distillation to 4 and 8. The ablations of the demo model
# (no specialised norm, no weight alteration, four counts) start from it, as
# the paper's do from its FFN.
_base_ = ['../ffn_tsm_r18_demo.py']
model = dict(supervision='highest')
