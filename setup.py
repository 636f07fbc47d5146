"""Build hook: the wheel carries the top-level ``search_spaces/`` and ``predictors/``.

They stay at the top of the repository (that is where users and docs look) and are copied
into ``hynas/_shipped/`` of the build, where ``hynas.resources`` finds them in an
installed package. An editable install skips the copy and reads the repository's folders.
All metadata is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = {"search_spaces": ("*.yaml", "*.md"), "predictors": ("*.json", "*.md")}
HERE = Path(__file__).resolve().parent


class BuildPyWithShipped(build_py):
    """``build_py`` that also copies the shipped folders into ``<build_lib>/hynas/_shipped``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name, patterns in SHIPPED.items():
            src = HERE / name
            if not src.is_dir():
                raise FileNotFoundError(f"{src}: missing; the wheel would ship no {name}.")
            dst = Path(self.build_lib) / "hynas" / "_shipped" / name
            shutil.rmtree(dst, ignore_errors=True)  # a build folder left from an earlier build
            for pattern in patterns:
                for f in sorted(src.rglob(pattern)):
                    out = dst / f.relative_to(src)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, out)


setup(cmdclass={"build_py": BuildPyWithShipped})
