"""Convert official SSFormer and NVlabs MiT checkpoints to this package.

The converters are pure: they take a state dict (or a checkpoint wrapping one
as ``{'state_dict': ...}`` or ``{'model': ...}``) and return new dicts, and
never touch the files. They are strict: every source key is either converted
or dropped on a short list of keys that are provably unused (returned so that
callers can report them); any other leftover key, any expected key that is
missing and any tensor of an unexpected shape raise
:class:`CheckpointConversionError` naming the keys.

Layouts:

* **NVlabs MiT** (SegFormer's ``mit_b*.pth`` and the official SSFormer
  backbone): ``patch_embed{s}.proj/norm``, ``block{s}.{j}.norm1``,
  ``.attn.q`` / ``.attn.kv`` / ``.attn.proj`` (``nn.Linear``),
  ``.attn.sr`` / ``.attn.norm`` (only where the spatial reduction ratio is
  above 1), ``.norm2``, ``.mlp.fc1`` / ``.mlp.fc2`` (``nn.Linear``),
  ``.mlp.dwconv.dwconv`` and the stage norms ``norm{s}``, ``s`` from 1.
* **mmseg** ``MixVisionTransformer``: ``layers.{i}.0`` (patch embedding),
  ``layers.{i}.1.{j}`` (blocks; q, k and v stacked in
  ``attn.attn.in_proj_*``, the MLP as 1x1 / depthwise / 1x1 convolutions
  ``ffn.layers.{0,1,4}``) and ``layers.{i}.2`` (stage norm), ``i`` from 0.
* **Official SSFormer head**: ``linear_c{s}.proj.{0,2}`` (Local Emphasis),
  ``linear_fuse34`` / ``linear_fuse2`` / ``linear_fuse1`` (stepwise fusion)
  and ``linear_pred``; ours is :class:`~ssformer_mmseg.PLDHead`
  (``local_emphasis.{i}.{0,1}.conv``, ``fuse_convs.{i}``, ``conv_seg``).
"""
from .files import ConversionResult, convert_checkpoint_file
from .mit import convert_mit, mit_to_official
from .ssformer import convert_ssformer, ssformer_to_official
from .state_dicts import CheckpointConversionError, unwrap_state_dict

__all__ = [
    'CheckpointConversionError', 'unwrap_state_dict', 'convert_mit',
    'mit_to_official', 'convert_ssformer', 'ssformer_to_official',
    'convert_checkpoint_file', 'ConversionResult'
]
