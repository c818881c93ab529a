"""An example extension built on uvtask/python.hpp (bindings/python/examples/)."""
import uvtask

uvtask.share_runtime()  # before importing the extension: it uses uvtask's runtime

from ._native import (  # noqa: E402
    add, cleanups, fail, heavy_worker, invalid, native_timeout, read_text, squares, started,
    stubborn)

__all__ = ["add", "cleanups", "fail", "heavy_worker", "invalid", "native_timeout", "read_text",
           "squares", "started", "stubborn"]
