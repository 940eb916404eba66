"""What the shared weights receive from each of FFN's loss terms.

    python benchmarks/distill_gradients.py CONFIG CHECKPOINT [--batches 4]

For a trained (or, with CHECKPOINT ``init``, a freshly initialised) FFN
recognizer, on training batches of the config's own loader: the gradient of
the head's loss on the highest count (``loss_cls``) and of the distillation
term (``loss_distill``) with respect to the shared weights (every parameter
that is not a per-count norm or adapter, ``trainable_parts.parameter_parts``),
their norms and their cosine. An optimizer that normalises the summed
gradient (Adam) gives the highest count a smaller step the larger and the
less aligned the distillation gradient is (docs/ablations.md, "The
16-frame branch").
"""
import argparse

import numpy as np
import torch


def gradient_terms(model, data, terms=('loss_cls', 'loss_distill')) -> dict:
    """Norms of each term's gradient on the shared weights and the cosine
    between the first two terms, for one preprocessed batch."""
    from mmffn.models.recognizers.trainable_parts import parameter_parts
    parts = parameter_parts(model, model.frame_counts[-1])
    shared = [
        p for name, p in model.named_parameters() if parts[name] == 'shared'
    ]
    losses = model(**data, mode='loss')
    flat = {}
    for term in terms:
        grads = torch.autograd.grad(
            losses[term], shared, retain_graph=True, allow_unused=True)
        flat[term] = torch.cat([
            (torch.zeros_like(p) if g is None else g).flatten()
            for g, p in zip(grads, shared)
        ])
    first, second = (flat[t] for t in terms[:2])
    result = {f'|grad {t}|': flat[t].norm().item() for t in terms}
    result.update({t: losses[t].item() for t in terms})
    result['cosine'] = torch.nn.functional.cosine_similarity(
        first, second, dim=0).item()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="a checkpoint or 'init'")
    parser.add_argument('--batches', type=int, default=4)
    parser.add_argument('--batch-size', type=int, default=32)
    args = parser.parse_args()

    from mmaction.registry import DATASETS, MODELS
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    import mmffn  # noqa: F401  (registers)
    init_default_scope('mmaction')
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    if args.checkpoint == 'init':
        model.init_weights()  # as the runner does before training
    else:
        state = torch.load(args.checkpoint, map_location='cpu')
        model.load_state_dict(state['state_dict'])
    model.train()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    # The sampler draws frame offsets from numpy, dropout from torch.
    np.random.seed(0)
    torch.manual_seed(0)
    print('| batch | loss_cls | loss_distill | |grad loss_cls| '
          '| |grad loss_distill| | cosine |')
    print('|---|---|---|---|---|---|')
    for b in range(args.batches):
        first = b * args.batch_size
        batch = pseudo_collate(
            [dataset[i] for i in range(first, first + args.batch_size)])
        row = gradient_terms(model, model.data_preprocessor(batch, True))
        print(f"| {b} | {row['loss_cls']:.3f} | {row['loss_distill']:.3f} "
              f"| {row['|grad loss_cls|']:.3f} "
              f"| {row['|grad loss_distill|']:.3f} | {row['cosine']:.3f} |")


if __name__ == '__main__':
    main()
