"""Which container images the runner can run: those whose repository basename is ``ferry``."""

from __future__ import annotations

RUNNABLE = "ferry"
NOT_RUNNABLE_REASON = "ImageNotRunnable"


def repository_basename(image: str) -> str:
    """``registry:5000/x/ferry:0.1@sha256:..`` -> ``ferry``."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def runnable(image: str | None) -> bool:
    """Whether the runner can run ``image`` (its command runs in the project's virtualenv)."""
    return bool(image) and repository_basename(image or "") == RUNNABLE


def not_runnable_message(image: str | None) -> str:
    """The waiting message for an image the runner cannot run."""
    return (
        f"image {image!r} cannot be run by the localkube pod runner: it runs only images named "
        f"'{RUNNABLE}' (e.g. ferry:dev, any registry/tag), as local processes in the project's virtualenv"
    )
