"""What every tab of the page shares: Gradio (imported when the page is
built), the error policy and progress reporting.

Bad input raises ``gr.Error``, which Gradio shows in the page while the
server stays up; any other error shows :data:`INTERNAL_ERROR` in the page
and its details in the server log.
"""
import functools
import logging
from typing import Callable

from ..apis.optional import require
from . import review, segment

#: The overlay image's widget id (the tests and the browser check use it).
OVERLAY_ID = 'segment-overlay'
#: What the page shows for an error that is not the user's.
INTERNAL_ERROR = 'Internal error; the details are in the server log.'
logger = logging.getLogger(__name__)


def gradio():
    """The ``gradio`` module, or an ImportError with the pip command."""
    return require('gradio', 'the web app')


def progress_callback(progress,
                      description: str) -> Callable[[int, int], None]:
    """Our ``(done, total)`` callback feeding a ``gr.Progress``."""

    def report(done: int, total: int) -> None:
        progress((done, max(total, 1)), desc=description)

    return report


def page_errors(handler: Callable) -> Callable:
    """``handler`` with errors a user can act on raised as ``gr.Error``
    with their message; any other error logged with its traceback and
    shown as :data:`INTERNAL_ERROR` (no server paths or library internals
    in the page)."""
    gr = gradio()

    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except (segment.UploadError, review.NotATestRun) as error:
            raise gr.Error(str(error)) from None
        except Exception:
            logger.exception('web app: %s failed', handler.__name__)
            raise gr.Error(INTERNAL_ERROR) from None

    return wrapped
