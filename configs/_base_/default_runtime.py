# default_scope and custom_imports come with the model configs.
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
# RandomStateHook: a resumed run continues with the saved random state.
# NonFiniteLossHook: stop at the first NaN / inf loss, naming it.
custom_hooks = [dict(type='RandomStateHook'), dict(type='NonFiniteLossHook')]
# mmseg's SegTTAModel mis-merges one-channel heads; see PolypTTAModel.
tta_model = dict(type='PolypTTAModel')
