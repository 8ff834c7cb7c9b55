"""MediConfusion as a pytest release gate for multimodal medical models.

PYTEST_DONT_REWRITE: this module holds no assertions. The marker keeps pytest from warning that the
package "was already imported" when an in-process pytest run (``pytester.runpytest``) starts after the
plugin was loaded outside the assertion-rewriting import hook, as happens with editable installs run
through the ``pytest`` script. Submodules are still rewritten.
"""

from __future__ import annotations

__version__ = "0.2.0"
