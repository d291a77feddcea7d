# Pipelines of SSFormer's official recipe, as mmseg transforms.
crop_size = (352, 352)
# ``dataset_name`` tells which test set a sample belongs to in a
# ConcatDataset (set by the polyp datasets).
meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
             'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label',
             'dataset_name')
train_pipeline = [
    dict(type='LoadPolypImage'),
    dict(type='LoadPolypAnnotations'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    # Random scale-crop, 0.75-1.25, half of the time (the official code
    # zooms about the centre; here the crop position is random).
    dict(
        type='RandomApply',
        prob=0.5,
        transforms=[
            dict(
                type='RandomResize',
                scale=crop_size,
                ratio_range=(0.75, 1.25),
                keep_ratio=True),
            dict(type='RandomCrop', crop_size=crop_size),
            dict(type='Pad', size=crop_size, pad_val=dict(img=0, seg=0)),
        ]),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    # Uncovered corners are black image and background, as officially.
    dict(
        type='RandomRotate',
        prob=0.5,
        degree=(0, 359),
        pad_val=0,
        seg_pad_val=0),
    dict(
        type='RandomImageEnhance',
        methods=('contrast', 'sharpness', 'brightness'),
        prob=0.5,
        factor_range=(1.0, 1.1)),
    dict(type='RandomMaskDilateErode', kernel_range=(2, 5)),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
# The training pipeline of the authors' (official) recipe, step for step,
# for configs/ssformer_*_authors.py (docs/training.md, "The authors'
# recipe"); they test with the pipelines below, as the official test does.
authors_train_pipeline = [
    dict(type='LoadPolypImage'),
    # The grey mask is kept for a soft target next to the binary labels.
    dict(type='LoadPolypAnnotations', soft_mask=True),
    # PIL's (antialiased) bilinear resize, image and soft mask alike.
    dict(
        type='SoftMaskResize',
        scale=crop_size,
        keep_ratio=False,
        backend='pillow',
        interpolation='bilinear'),
    # Zoom 0.75-1.25 about the centre, half of the time (PIL's default
    # resize, bicubic); the object stays centred.
    dict(
        type='RandomCentreZoom',
        prob=0.5,
        ratio_range=(0.75, 1.25),
        interpolation='bicubic',
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(
        type='RandomRotate',
        prob=0.5,
        degree=(0, 359),
        pad_val=0,
        seg_pad_val=0),
    dict(
        type='RandomImageEnhance',
        methods=('contrast', 'sharpness', 'brightness'),
        prob=0.5,
        factor_range=(1.0, 1.1)),
    # Grey-level dilation / erosion of the soft mask (and of the labels).
    dict(type='RandomMaskDilateErode', kernel_range=(2, 5)),
    # Packs the soft mask as data_sample.gt_soft_sem_seg (mask / 255).
    dict(type='PackPolypInputs', meta_keys=meta_keys),
]
# Resize the image only: the mask stays at its original size, and the
# prediction is resized back to it before scoring.
test_pipeline = [
    dict(type='LoadPolypImage'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='LoadPolypAnnotations'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
# tools/test.py --tta: original and flipped views, probabilities averaged.
tta_pipeline = [
    dict(type='LoadPolypImage'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale=crop_size, keep_ratio=False)],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='vertical'),
            ],
            [dict(type='LoadPolypAnnotations')],
            [dict(type='PackSegInputs', meta_keys=meta_keys)],
        ])
]
