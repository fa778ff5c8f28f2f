"""Batches prepared ahead: the next steps' micro-batches are cut from the token data on a
background thread (pinned for fast copies on CUDA), so the GPU never waits for the host."""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

import torch

StepBatches = list[tuple[torch.Tensor, torch.Tensor]]  # (inputs, targets) per micro-step


def prefetched(make: Callable[[int], StepBatches], steps: range, pin: bool, depth: int = 2) -> Iterator[StepBatches]:
    """``make(step)`` for each step in order, ``depth`` steps ahead on a daemon thread when ``pin``
    (CUDA), else made inline (on CPU the thread would only compete with training for cores)."""
    if not pin:
        yield from (make(step) for step in steps)
        return
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def fill() -> None:
        try:
            for step in steps:
                batches = [(inputs.pin_memory(), targets.pin_memory()) for inputs, targets in make(step)]
                while not stop.is_set():
                    try:
                        ready.put(batches, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            ready.put(error)

    thread = threading.Thread(target=fill, name="batch-prefetch", daemon=True)
    thread.start()
    try:
        for _ in steps:
            item = ready.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
