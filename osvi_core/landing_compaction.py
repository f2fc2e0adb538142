"""Compaction of a landing day: its many small files become a few, sorted by receipt.

A day's files change in four steps, and a reader that lists the day at any moment (or after a
crash between any two) sees every delivery once (`visible`, which `LandingStore.files` applies):

1. a manifest, `compacted-<id>.json`, names the files merged (the sources) and the parts to
   come; while a part is missing, readers skip the parts present (the sources hold the rows);
2. the parts, `compacted-<id>-<i>of<k>.parquet`, are written;
3. once every part is there, readers skip the sources (the parts hold their rows), and the
   sources are deleted;
4. the manifest is deleted: the parts are ordinary landing files.

`finish_compactions` completes step 3-4 of a compaction whose parts are all there and undoes
one whose parts are not (a run killed while writing them). The id is a hash of the sources'
names, so an attempt repeated on the same files writes the same names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from osvi_core.landing_store import LandingFile, LandingStore

COMPACTED_PREFIX = "compacted-"
MANIFEST_SUFFIX = ".json"


@dataclass(frozen=True)
class Manifest:
    name: str  # compacted-<id>.json, in the day folder
    sources: tuple[str, ...]  # file names merged
    parts: tuple[str, ...]  # file names holding their rows

    def encode(self) -> bytes:
        return json.dumps({"sources": list(self.sources), "parts": list(self.parts)},
                          indent=0).encode()

    @classmethod
    def decode(cls, name: str, data: bytes) -> Manifest:
        state = json.loads(data)
        return cls(name, tuple(state["sources"]), tuple(state["parts"]))


def plan_manifest(sources: Iterable[str], part_count: int) -> Manifest:
    """The manifest of merging these files into `part_count` parts."""
    names = sorted(sources)
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    parts = tuple(f"{COMPACTED_PREFIX}{digest}-{index}of{part_count}.parquet"
                  for index in range(1, part_count + 1))
    return Manifest(f"{COMPACTED_PREFIX}{digest}{MANIFEST_SUFFIX}", tuple(names), parts)


def is_compacted(name: str) -> bool:
    """A part of a compaction: every row in it was loaded before it was written."""
    return name.startswith(COMPACTED_PREFIX)


def is_manifest(name: str) -> bool:
    return name.startswith(COMPACTED_PREFIX) and name.endswith(MANIFEST_SUFFIX)


def complete(manifest: Manifest, present: set[str]) -> bool:
    return all(part in present for part in manifest.parts)


def visible(files: Sequence[LandingFile], manifests: Sequence[Manifest]) -> list[LandingFile]:
    """The files a reader should read, given the compactions under way in their day."""
    present = {file.name for file in files}
    hidden: set[str] = set()
    for manifest in manifests:
        hidden.update(manifest.sources if complete(manifest, present) else manifest.parts)
    return [file for file in files if file.name not in hidden]


@dataclass(frozen=True)
class Finished:
    manifest: Manifest
    completed: bool  # False: the parts were incomplete and are deleted; the sources stay


def finish_compactions(store: LandingStore, day: str,
                       before_sources_go: Callable[[Manifest], bool] | None = None
                       ) -> list[Finished]:
    """Complete or undo the compactions under way in a day folder (steps 3-4 above).

    `before_sources_go(manifest)`: called for a complete one before its sources are deleted
    (the pipeline points its per-file watermark at the parts); False undoes it instead (the
    parts' rows do not match what was loaded from the sources)."""
    finished: list[Finished] = []
    files, names = store.listing(day)  # one listing: every file, hidden ones included
    present = {file.name for file in files}
    for manifest in (store.read_manifest(day, name) for name in names):
        done = complete(manifest, present) and (before_sources_go is None
                                                or before_sources_go(manifest))
        for name in manifest.sources if done else manifest.parts:
            if name in present:
                store.remove(day, name)
        store.remove(day, manifest.name)
        finished.append(Finished(manifest, done))
    return finished
