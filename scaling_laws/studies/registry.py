"""The study registry: ``@study("NAME")`` registers a function returning a study's experiments."""
from __future__ import annotations

from typing import Callable

StudyBuilder = Callable[[], list[dict]]
STUDIES: dict[str, StudyBuilder] = {}  # name -> builder; definitions files register here as they load


def study(name: str):
    """Register the decorated function as the study ``name``."""
    def register(build: StudyBuilder) -> StudyBuilder:
        if name in STUDIES:
            raise ValueError(f"study {name!r} is defined twice; give each study its own name")
        STUDIES[name] = build
        return build
    return register


class collecting:
    """``with collecting() as found:`` studies registered inside go to ``found``, not the registry."""

    def __enter__(self) -> dict[str, StudyBuilder]:
        global STUDIES
        self.saved, STUDIES = STUDIES, {}
        return STUDIES

    def __exit__(self, *exc) -> None:
        global STUDIES
        STUDIES = self.saved
