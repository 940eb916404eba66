"""What configs and scripts call: config conversion (model, pipelines,
dataloaders), deployment as a stock MMAction2 model (and ONNX), the frame
sweep, and cascade testing with its threshold calibration.

A mixing config imports from here::

    from mmffn.apis import (fixed_frames_loader, frame_flexible_model,
                            multi_rate_loader, unlabeled_loader)
"""
from .cascade_calibration import (CascadeRecords, calibrate_cascade,
                                  collect_cascade_records, plot_calibration,
                                  write_calibration)
from .cascade_config import (cascade_evaluator, cascade_loader, cascade_model,
                             cascade_pipeline)
from .deployment import DeployResult, deploy
from .deployment_config import deployed_config
from .deployment_weights import (build_deployed, build_ffn, compare_outputs,
                                 deployed_meta, fold_branch_state_dict)
from .frame_sweep import (evaluate_at_frames, plot_frame_sweep,
                          write_frame_sweep_tables)
from .mixing_coverage import (CoverageRow, check_mixing, coverage_table,
                              mixing_coverage, packaged_recognition_configs)
from .model_config import frame_flexible_model, stock_model
from .onnx_export import OnnxResult, export_onnx
from .pipeline_config import (fixed_frames_loader, fixed_frames_pipeline,
                              multi_rate_loader, multi_rate_pipeline,
                              unlabeled_loader)

__all__ = [
    'frame_flexible_model', 'stock_model', 'multi_rate_pipeline',
    'fixed_frames_pipeline', 'multi_rate_loader', 'fixed_frames_loader',
    'unlabeled_loader', 'deployed_config', 'fold_branch_state_dict',
    'deployed_meta', 'build_ffn', 'build_deployed', 'compare_outputs',
    'deploy', 'DeployResult', 'evaluate_at_frames', 'write_frame_sweep_tables',
    'plot_frame_sweep', 'CoverageRow', 'check_mixing', 'mixing_coverage',
    'coverage_table', 'packaged_recognition_configs', 'cascade_model',
    'cascade_pipeline', 'cascade_loader', 'cascade_evaluator', 'export_onnx',
    'OnnxResult', 'CascadeRecords', 'collect_cascade_records',
    'calibrate_cascade', 'write_calibration', 'plot_calibration'
]
