"""Every process-wide patch mmffn makes to upstream (MMEngine, MMAction2,
torch) code, and :func:`apply_all`, the one entry point.

One module per concern: :mod:`.stack` (fixes without which the stack does not
run), :mod:`.checkpoints` (atomic saves, checkpoint errors), :mod:`.videos`
(video errors, ``SampleFrames`` counts), :mod:`.recognizer2d` (multi-rate
clips given to a stock ``Recognizer2D``), :mod:`.amp` (bfloat16 mixed
precision); :mod:`.guard` holds the version
guard and :func:`~.guard.wrap_once`, which every patch uses. Nothing edits
installed files. The list, with upstream references and tests:
``docs/upstream_fixes.md``.
"""
from .amp import accept_bfloat16_scores_in_head_losses
from .checkpoints import (check_what_runner_checkpoints_hold,
                          name_the_file_in_checkpoint_errors,
                          save_checkpoints_atomically)
from .recognizer2d import refuse_multi_rate_inputs_in_recognizer2d
from .stack import (allow_cpu_distributed,
                    allow_mmengine_checkpoints_under_weights_only,
                    resolve_scoped_collate_fn, stub_missing_drn_localizer)
from .videos import (check_sample_frames_counts,
                     name_the_file_in_decode_errors,
                     name_the_file_in_video_errors)

__all__ = ['PATCHES', 'apply_all']

# In the order they are applied: the stack fixes first (the drn stub before
# anything imports mmaction.models), then the changes of behaviour.
PATCHES = (
    stub_missing_drn_localizer,
    allow_mmengine_checkpoints_under_weights_only,
    allow_cpu_distributed,
    resolve_scoped_collate_fn,
    save_checkpoints_atomically,
    name_the_file_in_checkpoint_errors,
    check_what_runner_checkpoints_hold,
    name_the_file_in_video_errors,
    name_the_file_in_decode_errors,
    check_sample_frames_counts,
    refuse_multi_rate_inputs_in_recognizer2d,
    accept_bfloat16_scores_in_head_losses,
)


def apply_all() -> None:
    """Apply every patch of :data:`PATCHES`, in order; safe to call
    repeatedly (each wraps its target once).

    Raises:
        RuntimeError: if an upstream version is outside a patch's tested
            range (:func:`~.guard.require_version`).
    """
    for patch in PATCHES:
        patch()
