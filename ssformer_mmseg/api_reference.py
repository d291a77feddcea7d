"""The public Python API, listed in one place, and its reference page.

:data:`PUBLIC_API` names every public module and what of it is public;
``docs/api.md`` is rendered from it and the docstrings
(``python -m ssformer_mmseg.api_reference > docs/api.md``; a test checks
that the page is current). Names not listed here are internal and may move.
"""
import importlib
import inspect
from typing import Dict, List, Tuple

#: (module, its public names, what the module is for), in reading order.
PUBLIC_API: Tuple[Tuple[str, Tuple[str, ...], str], ...] = (
    ('ssformer_mmseg', ('NVMixVisionTransformer', 'PLDHead', 'BinaryDiceLoss',
                        'PolypMetric'),
     'Importing the package registers everything below in mmseg\'s '
     'registries (configs need only `custom_imports`).'),
    ('ssformer_mmseg.models', ('PixelDiceBCELoss', 'PolypTTAModel'),
     'Model pieces.'),
    ('ssformer_mmseg.datasets',
     ('PolypDataset', 'KvasirSEGDataset', 'CVCClinicDBDataset',
      'CVCColonDBDataset', 'ETISLaribPolypDBDataset', 'CVC300Dataset',
      'SyntheticPolypDataset', 'make_synthetic_polyp_set', 'PolypFileError',
      'LoadPolypImage', 'LoadPolypAnnotations'), 'Datasets and loading.'),
    ('ssformer_mmseg.datasets.transforms',
     ('RandomImageEnhance', 'RandomMaskDilateErode', 'RandomCentreZoom',
      'SoftMaskResize', 'PackPolypInputs'),
     'Augmentations and the soft masks of the authors\' recipe.'),
    ('ssformer_mmseg.datasets.holdout', ('holdout_part', 'check_holdout'),
     'A validation part held out of a training split.'),
    ('ssformer_mmseg.datasets.polyp_files',
     ('IMAGE_SUFFIXES', 'read_image', 'read_mask', 'scan_image_folder',
      'read_split_file', 'check_split_stems', 'check_sizes_match',
      'check_same_size'), 'The checked file rules.'),
    ('ssformer_mmseg.datasets.preparation', ('PrepareOptions', 'prepare',
                                             'PrepareError', 'summary_table'),
     'Preparing the public downloads (`tools/prepare_polyp_data.py`).'),
    ('ssformer_mmseg.evaluation.polyp_scores',
     ('score_image', 'summarise', 'summarise_set', 'group_by_set', 'flatten',
      'to_uint8_map', 'per_image_values', 'metric_inputs', 'weighted_scores',
      'METRIC_NAMES', 'METRIC_SOURCES'), 'The evaluation protocol.'),
    ('ssformer_mmseg.evaluation.intervals',
     ('BootstrapSettings', 'Intervals', 'score_intervals',
      'difference_intervals', 'summary_intervals', 'bootstrap_bounds',
      'scorer', 'difference_scorer', 'mean_statistic', 'resample_weights',
      'format_bounds'), 'How sure a score is: bootstrap intervals.'),
    ('ssformer_mmseg.evaluation.paired_comparison',
     ('compare_scores', 'compare_folders', 'PairedComparison', 'RowComparison',
      'Difference', 'ImageSetMismatch', 'format_comparison',
      'write_comparison', 'holm', 'wilcoxon_p'),
     'Two models on the same images (`tools/compare_models.py`).'),
    ('ssformer_mmseg.evaluation.reports',
     ('ScoreReport', 'report_scores', 'format_table', 'write_per_image_csv',
      'write_dice_curves_csv', 'write_report'), 'Reports of a scored run.'),
    ('ssformer_mmseg.evaluation.run_folder',
     ('keep_inputs', 'prob_map_file', 'ground_truth_file', 'frames_folder',
      'find_frame'), 'The `tools/test.py --out` folder the web app reviews.'),
    ('ssformer_mmseg.evaluation.saved_maps',
     ('ground_truth', 'score_saved_maps',
      'run_folder_samples'), 'Scoring saved maps (`tools/eval_maps.py`).'),
    ('ssformer_mmseg.engine',
     ('ChannelsLastHook', 'FastInferenceHook', 'RandomStateHook',
      'NonFiniteLossHook', 'TrainTimeLimitHook', 'AutocastOptimWrapper',
      'resumable_checkpoint', 'checkpoint_problem'),
     'Training-time hooks and helpers.'),
    ('ssformer_mmseg.engine.tool_runs', ('run_tool', 'run_logged',
                                         'tool_command'),
     'The packaged tools in subprocesses.'),
    ('ssformer_mmseg.engine.process_tree',
     ('stop_process_tree', 'dump_stacks_on_signal', 'descendants'),
     'Stopping a tool that overran: its whole process tree, after its '
     'stacks.'),
    ('ssformer_mmseg.optimize', ('optimize_for_inference',
                                 'default_precision'),
     'The PyTorch fast path.'),
    ('ssformer_mmseg.apis',
     ('PolypSegmenter', 'run_inference', 'BatchRunner', 'load_segmentor',
      'inference_config', 'frame_pipeline', 'network_input_size',
      'logits_to_probs', 'foreground_mask', 'PredictionWriter',
      'VideoOverlayWriter', 'input_kind', 'list_images', 'export_onnx',
      'onnx_parity', 'InferenceBackend', 'register_backend', 'build_backend',
      'PyTorchBackend', 'OnnxRuntimeBackend', 'OpenVINOBackend', 'LiveSource',
      'LiveSourceError', 'run_live', 'LiveFrame', 'LiveSummary', 'LiveOptions',
      'live_session'), 'Inference, live inference and export.'),
    ('ssformer_mmseg.apis.backends',
     ('deployable_backends', 'backend_class', 'load_plugin_backends',
      'PLUGIN_GROUP', 'BackendPluginWarning', 'Calibration', 'ModelFacts',
      'WrittenModel', 'misplaced_options'),
     'The backend registry: what every engine declares, and plug-ins '
     '(docs/architecture.md, "Add an engine").'),
    ('ssformer_mmseg.network_access',
     ('is_loopback', 'parse_auth', 'warn_if_exposed',
      'ExposedWithoutAuthWarning'),
     'Who may reach a page we serve (the web app, the live stream).'),
    ('ssformer_mmseg.deploy',
     ('deploy', 'DeployOptions', 'DeployedModel', 'DeployedModelError',
      'score_segmenter', 'compare', 'format_report', 'training_frames',
      'folder_frames', 'FrameSet', 'ACCURACY_BOUND'),
     'Deployment on OpenVINO / ONNX Runtime (`tools/deploy.py`).'),
    ('ssformer_mmseg.webapp', ('WebApp', 'build_app'),
     'The web app (`tools/webapp.py`).'),
    ('ssformer_mmseg.webapp.segment',
     ('segment_images', 'segment_video', 'read_upload_image', 'pictures',
      'downloads', 'Segmented', 'Segmentation', 'UploadError'),
     'The Segment tab, without the page.'),
    ('ssformer_mmseg.webapp.review', ('TestRun', 'error_map', 'NotATestRun',
                                      'OutsideTheRun'),
     'The Review tab: a test run folder.'),
    ('ssformer_mmseg.visualization',
     ('draw_overlay', 'prediction_tile', 'plot_learning_curve',
      'plot_compared_runs'), 'Pictures.'),
    ('ssformer_mmseg.engine.run_records',
     ('RunCurves', 'run_curves', 'images_seen', 'read_test_scores',
      'score_table'),
     'What finished runs recorded (`tools/compare_runs.py`).'),
    ('ssformer_mmseg.checkpoint_converters',
     ('convert_ssformer', 'ssformer_to_official', 'convert_mit',
      'mit_to_official', 'convert_checkpoint_file',
      'CheckpointConversionError'), 'Checkpoint conversion.'),
    ('ssformer_mmseg.config', ('load_config', 'set_data_root', 'dataset_parts',
                               'TINY_MODEL_OPTIONS', 'cfg_option_argument'),
     'Configs.'),
    ('ssformer_mmseg.benchmark', ('BenchmarkOptions', 'run_benchmark'),
     'The benchmark (`tools/benchmark.py`).'),
    ('ssformer_mmseg.gpu_proof', ('ProofSettings', 'run_proof', 'STEP_NAMES'),
     'The GPU proof (`tools/gpu_proof/run.py`, docs/gpu_proof.md).'),
    ('ssformer_mmseg.gpu_proof.bundle',
     ('BundleSpec', 'build_bundle', 'carried_versions', 'parse_versions',
      'CARRIED'), 'Its bundle (`tools/gpu_proof/build_bundle.py`).'),
)


def _summary(obj: object) -> str:
    """The first paragraph of a docstring, on one line."""
    doc = inspect.getdoc(obj) or ''
    return ' '.join(doc.split('\n\n')[0].split())


def entries() -> Dict[str, List[Tuple[str, str]]]:
    """Module -> ``(name, summary)`` of each public name (classes as
    ``class Name``, functions as ``name()``).

    Raises:
        AttributeError: If a listed name does not exist.
    """
    listed = {}
    for module_name, names, _ in PUBLIC_API:
        module = importlib.import_module(module_name)
        rows = []
        for name in names:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                rows.append((f'class {name}', _summary(obj)))
            elif callable(obj):
                rows.append((f'{name}()', _summary(obj)))
            else:
                rows.append((name, f'`{obj!r}`'))
        listed[module_name] = rows
    return listed


def render() -> str:
    """``docs/api.md``."""
    lines = [
        '# Python API', '',
        'Every public name, with the first paragraph of its docstring (the '
        'full docstrings are in the code; `help(name)` shows them) '
        '(rendered from `ssformer_mmseg/api_reference.py`: `python -m '
        'ssformer_mmseg.api_reference > docs/api.md`). Names not listed '
        'are internal; old import paths of moved names still work with a '
        '`DeprecationWarning` ([architecture](architecture.md)).', ''
    ]
    listed = entries()
    for module_name, _, purpose in PUBLIC_API:
        lines += [f'## `{module_name}`', '', purpose, '']
        lines += [
            f'- **`{name}`** — {summary}'
            for name, summary in listed[module_name]
        ]
        lines.append('')
    return '\n'.join(lines)


if __name__ == '__main__':
    print(render(), end='')
