"""Pictures: overlays of masks on frames (:mod:`.overlays`) and plots of
runs (:mod:`.plots`). Drawing only; the numbers come from the callers."""
from .overlays import (draw_overlay, grid, labelled_row, outline,
                       prediction_tile, tint)
from .plots import (find_scalars, plot_compared_runs, plot_dice_curves,
                    plot_learning_curve, read_scalars)

__all__ = [
    'draw_overlay', 'tint', 'outline', 'labelled_row', 'prediction_tile',
    'grid', 'find_scalars', 'read_scalars', 'plot_learning_curve',
    'plot_dice_curves', 'plot_compared_runs'
]
