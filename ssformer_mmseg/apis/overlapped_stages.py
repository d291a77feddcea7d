"""The three stages of a batch loop run at once on consecutive batches: a
reader thread, inference in the calling thread, a writer thread, joined by
bounded queues (see :mod:`.batch_inference`, which uses it)."""
import contextlib
import queue
import threading
from typing import Any, Callable, Iterable, Iterator, Optional

#: Batches each queue between two stages holds: enough to keep the next
#: stage busy, few enough to bound memory (frames are kept until written).
QUEUE_BATCHES = 2
#: Seconds a blocked stage waits before checking whether the run stopped.
POLL_SECONDS = 0.05


def batches(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Stopped(Exception):
    """A stage gave up because another stage failed or was interrupted."""


class _Failed:
    """The reader's error, handed on in order in place of a batch."""

    def __init__(self, error: BaseException):
        self.error = error


class _Handoff:
    """A bounded queue between two stages that stops waiting once the run
    stops, so no thread stays blocked on a stage that is gone."""

    END = object()

    def __init__(self, stop: threading.Event):
        self.queue = queue.Queue(QUEUE_BATCHES)
        self.stop = stop

    def put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=POLL_SECONDS)
                return
            except queue.Full:
                pass
        raise _Stopped

    def get(self) -> Any:
        while not self.stop.is_set():
            try:
                return self.queue.get(timeout=POLL_SECONDS)
            except queue.Empty:
                pass
        raise _Stopped


class OverlappedStages:
    """One overlapped run of a batch loop's stages (use once).

    Args:
        prepare (callable): Reading stage, ``batch -> data`` (reader thread).
        infer (callable): Inference stage, ``data -> logits`` (the calling
            thread, so an engine is only ever called from one thread).
        finish (callable): Finishing stage, ``(batch, data, logits) ->
            None`` (writer thread; batches in input order).
        batch_size (int): Frames per batch.
        progress (callable): Told the frames of each batch finished.
    """

    def __init__(self, prepare: Callable, infer: Callable, finish: Callable,
                 batch_size: int, progress: Callable[[int], None]):
        self.prepare = prepare
        self.infer = infer
        self.finish = finish
        self.batch_size = batch_size
        self.progress = progress
        self.stop = threading.Event()
        self.prepared = _Handoff(self.stop)
        self.inferred = _Handoff(self.stop)
        #: The writer's error: it stops every stage at once.
        self.write_error: Optional[BaseException] = None
        self.written = 0

    def run(self, frames: Iterable) -> int:
        """Read, infer and finish every frame; returns the frames finished.

        Raises:
            BaseException: The first error of a stage, after every thread
                stopped: a writer error (of an earlier frame) before a
                reading error, which comes after the batches read before it
                were finished, as in a sequential loop.
        """
        threads = [
            threading.Thread(
                target=target, args=args, name=f'ssformer-{name}', daemon=True)
            for name, target, args in (('reader', self.read, (frames, )),
                                       ('writer', self.write, ()))
        ]
        read_error = None
        try:
            for thread in threads:
                thread.start()
            read_error = self.infer_all()
            threads[1].join()
        except _Stopped:
            pass  # the writer failed: its error is raised below
        finally:
            # On any exit (an error, KeyboardInterrupt) every thread stops
            # at its next hand-off and is waited for: none is left behind.
            self.stop.set()
            for thread in threads:
                thread.join()
        if self.write_error is not None:
            raise self.write_error
        if read_error is not None:
            raise read_error
        return self.written

    def infer_all(self) -> Optional[BaseException]:
        """Inference stage: every prepared batch to the writer, then the
        end; returns the reader's error where reading failed."""
        while True:
            item = self.prepared.get()
            if item is _Handoff.END:
                break
            if isinstance(item, _Failed):
                self.inferred.put(_Handoff.END)
                return item.error
            batch, data = item
            self.inferred.put((batch, data, self.infer(data)))
        self.inferred.put(_Handoff.END)
        return None

    def read(self, frames: Iterable) -> None:
        """Reading stage (reader thread)."""
        source = iter(frames)
        try:
            for batch in batches(source, self.batch_size):
                self.prepared.put((batch, self.prepare(batch)))
        except _Stopped:
            return
        except BaseException as error:  # re-raised by run()
            # Queued in order: the batches read before it are still
            # inferred and written, as in the sequential loop, so a run
            # fails the same way (the same partial outputs to remove).
            with contextlib.suppress(_Stopped):
                self.prepared.put(_Failed(error))
            return
        finally:
            # A generator left mid-way is closed in the thread that ran it
            # (a video capture is not for two threads at once).
            close = getattr(source, 'close', None)
            if close is not None:
                close()
        with contextlib.suppress(_Stopped):
            self.prepared.put(_Handoff.END)

    def write(self) -> None:
        """Finishing stage (writer thread)."""
        try:
            while True:
                item = self.inferred.get()
                if item is _Handoff.END:
                    return
                batch, data, logits = item
                self.finish(batch, data, logits)
                self.written += len(batch)
                self.progress(len(batch))
        except _Stopped:
            pass
        except BaseException as error:  # re-raised by run()
            self.write_error = error
            self.stop.set()
