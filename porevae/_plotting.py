"""The one figure writer of the package: a matplotlib figure to a PNG file, atomically.

Figures are built on their own :class:`matplotlib.figure.Figure` (no pyplot state, no display),
then written through :func:`porevae._files.atomic_path`, so a reader never sees half a PNG.
"""

from __future__ import annotations

from porevae._files import atomic_path


def savefig(fig, path, dpi: int = 100, tight: bool = True) -> str:
    """Write ``fig`` to ``path`` as PNG (``dpi`` dots per inch; ``tight`` crops the margins).

    Returns ``str(path)``.
    """
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    return str(path)
