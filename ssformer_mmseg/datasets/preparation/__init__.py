"""Preparing the public polyp downloads in the one layout the datasets read.

The library behind ``tools/prepare_polyp_data.py``, one concept a module:

* :mod:`.sources`: the sets (:data:`SETS`) and how their downloads are laid
  out, found by folder names;
* :mod:`.pairing`: images paired with masks by stem, per official download
  or from PraNet's folders;
* :mod:`.splits`: PraNet's split lists from a folder, and CVC-ClinicDB's
  frame-to-sequence table and sequence split;
* :mod:`.staging`: checking and writing each set in a staging folder, and
  moving the finished folders into place;
* :mod:`.options`: what a run is asked to do (:class:`PrepareOptions`) and
  the requests refused as usage errors;
* :mod:`.run`: a whole run (:func:`prepare`) and its summary table.

Nothing here prints: progress lines go to a ``report`` callback.
"""
from .options import AUTO, PrepareOptions, option_error
from .pairing import Pair, SetPlan, stem_sort_key
from .run import PrepareError, prepare, summary_table
from .sources import SETS, SETS_BY_KEY, PolypSet
from .splits import (CLINICDB_FRAMES, PRANET_SPLITS, parse_sequence_table,
                     sequence_split)
from .staging import SetResult

__all__ = [
    'AUTO', 'CLINICDB_FRAMES', 'PRANET_SPLITS', 'SETS', 'SETS_BY_KEY', 'Pair',
    'PolypSet', 'PrepareError', 'PrepareOptions', 'SetPlan', 'SetResult',
    'option_error', 'parse_sequence_table', 'prepare', 'sequence_split',
    'stem_sort_key', 'summary_table'
]
