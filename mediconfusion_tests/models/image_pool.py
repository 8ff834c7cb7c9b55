"""Image preprocessing in worker processes, ahead of the model (--preprocess-workers).

A transformers processor turns an image into pixels (decode, resize, any-resolution tiles) on one CPU
thread, and for a 7B model on a GPU that, not the forward, bounds the run. Here the processor's own
image processor runs in a pool of spawned processes: the batcher hands over the next batch's images
while the model computes the current one, and the model's processor, when it reaches an image, takes
the pool's output for it instead of computing it. The pool runs the very same image processor on the
very same file with the very same arguments, so the tensors are the same bytes: decisions cannot change.

Only calls whose arguments match those seen at start-up (one warm-up image) are served by the pool; any
other call, an image the pool has not been given, or a pool that broke (a worker killed) is computed in
the model's own process, as without the pool. Workers ignore Ctrl-C; the model's process shuts them down.
"""

from __future__ import annotations

import copy
import os
import pickle
import time
import weakref
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

_WORKER_PROCESSOR: Any = None
#: Seconds the workers may take to start (each imports torch and transformers).
STARTUP_S = 300


def _start(blob: bytes) -> None:
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the model's process handles Ctrl-C and stops the pool
    torch.set_num_threads(1)
    global _WORKER_PROCESSOR
    _WORKER_PROCESSOR = pickle.loads(blob)  # noqa: S301 - our own processor, pickled by this process


def open_image(path: str) -> Any:
    """An image file as the adapters read it: decoded and converted to RGB."""
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def _ready() -> int:
    import time

    time.sleep(0.05)  # long enough that each waiting task starts a worker of its own
    return os.getpid()


def _process(layout: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _WORKER_PROCESSOR(_fill(layout, open_image), *args, **kwargs)


def _fill(layout: Any, convert: Any) -> Any:
    """The images argument with each leaf (a path, or an image) replaced by ``convert(leaf)``."""
    if isinstance(layout, list | tuple):
        return type(layout)(_fill(item, convert) for item in layout)
    return convert(layout)


def _signature(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return repr((args, sorted(kwargs.items())))


class ImagePool:
    """The image processor of one model, run ahead in ``workers`` processes."""

    def __init__(self, image_processor: Any, workers: int) -> None:
        import multiprocessing

        self.workers = workers
        # spawn, not fork: a forked child of a process whose torch threads are running can hang in OpenMP.
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(pickle.dumps(image_processor),),
        )
        # The workers start now, with the model's loading, not on the first batch (spawning imports torch).
        try:
            for future in [self._executor.submit(_ready) for _ in range(workers)]:
                future.result(timeout=STARTUP_S)
        except BaseException:
            self._executor.shutdown(wait=False, cancel_futures=True)
            raise
        self._pending: dict[tuple[str, str], Future[Any]] = {}
        #: The nesting of the images argument and the other arguments of the processor's calls.
        self._call: tuple[Any, tuple[Any, ...], dict[str, Any]] | None = None
        self.served = 0
        #: Images the model had to wait for (not ready when it reached them), and for how long in all.
        self.waited = 0
        self.wait_s = 0.0
        self.broken: str | None = None
        #: True until the warm-up call has shown how the processor calls its image processor.
        self.learning = True

    def learn(self, layout: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """The processor's call for one image, with the image as a placeholder leaf: later calls alike are served."""
        self._call = (layout, args, dict(kwargs))
        self.learning = False

    def submit(self, paths: Iterable[str]) -> None:
        """Start preprocessing these image files (those not started yet)."""
        if self._call is None or self.broken is not None:
            return
        layout, args, kwargs = self._call
        key = _signature(args, kwargs)
        for path in paths:
            if (path, key) in self._pending:
                continue
            try:
                self._pending[(path, key)] = self._executor.submit(
                    _process, _fill(layout, lambda _, p=path: p), args, kwargs
                )
            except (BrokenProcessPool, RuntimeError) as exc:
                self.broken = f"{type(exc).__name__}: {exc}"
                return

    def take(self, path: str, layout: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any | None:
        """The pool's output for this call, or None: compute it in this process."""
        if self._call is None or _fill(layout, lambda _: 0) != _fill(self._call[0], lambda _: 0):
            return None
        # Kept, not popped: an image that two pairs share is preprocessed once (dropped by ``forget``).
        future = self._pending.get((path, _signature(args, kwargs)))
        if future is None:
            return None
        started = time.perf_counter() if not future.done() else None
        try:
            result = future.result()
        except BrokenProcessPool as exc:
            self.broken = f"BrokenProcessPool: {exc}"
            self._pending.clear()
            return None
        except Exception:  # noqa: BLE001 - the same call in this process raises it again, where it belongs
            return None
        self.served += 1
        if started is not None:
            self.waited += 1
            self.wait_s += time.perf_counter() - started
        return result

    def forget(self, keep: Collection[str] = ()) -> None:
        """Drop what was started, taken or not (after a chunk of queries, a failed batch, or a stop), except
        the files in ``keep`` (the next chunk's, started ahead)."""
        for (path, key), future in list(self._pending.items()):
            if path not in keep:
                future.cancel()
                del self._pending[(path, key)]

    def close(self) -> None:
        self.forget()
        self._executor.shutdown(wait=True, cancel_futures=True)


class ImageFiles:
    """Which file each open image came from, checked by identity (an id alone may be reused by a new object)."""

    def __init__(self) -> None:
        self._opened: dict[int, tuple[str, weakref.ref[Any]]] = {}

    def opened(self, image: Any, path: str) -> Any:
        self._opened = {k: v for k, v in self._opened.items() if v[1]() is not None}
        self._opened[id(image)] = (path, weakref.ref(image))
        return image

    def path_of(self, image: Any) -> str | None:
        entry = self._opened.get(id(image))
        return entry[0] if entry is not None and entry[1]() is image else None


class PooledImageProcessor:
    """Stands in for a processor's image processor: the pool's output where it has it, else the real one."""

    def __init__(self, inner: Any, pool: ImagePool, files: ImageFiles) -> None:
        self._inner = inner
        self._pool = pool
        self._files = files

    def __call__(self, images: Any = None, *args: Any, **kwargs: Any) -> Any:
        leaves: list[Any] = []

        def index(leaf: Any) -> int:
            leaves.append(leaf)
            return len(leaves) - 1

        layout = _fill(images, index)
        if len(leaves) == 1:
            if self._pool.learning:
                self._pool.learn(layout, args, kwargs)
            path = self._files.path_of(leaves[0])
            found = None if path is None else self._pool.take(path, layout, args, kwargs)
            if found is not None:
                return copy.copy(found)
        return self._inner(images, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
