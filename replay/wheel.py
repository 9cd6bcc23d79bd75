"""Public data sets read from inside published Python wheels.

Some data sets ship in packages on the Python package index (MovieLens-100k in RecBole,
the Open Bandit Dataset sample in obp). Their licences may forbid redistribution, so the
project never stores them: the wheel is fetched once with `pip download --no-deps` into
the cache and its members are read straight from the zip, without installing anything.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from nearline.broker import cache_dir


class WheelError(RuntimeError):
    """The wheel could not be fetched or lacks a member; the message says which."""


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel (`package==version`) in the cache.

    >>> Wheel("obp", "0.4.1").filename
    'obp-0.4.1-py3-none-any.whl'
    """

    package: str
    version: str

    @property
    def filename(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-py3-none-any.whl"

    def path(self, cache: Path | None = None) -> Path:
        """The wheel file, downloaded first when the cache lacks it."""
        folder = (cache or cache_dir()) / "wheels"
        path = folder / self.filename
        if path.is_file():
            return path
        folder.mkdir(parents=True, exist_ok=True)
        spec = f"{self.package}=={self.version}"
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        done = subprocess.run(
            [*pip, "--quiet", "--disable-pip-version-check", spec, "-d", str(folder)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not path.is_file():
            why = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise WheelError(f"cannot download {spec} from the package index: {why}")
        return path

    def read(self, member: str, cache: Path | None = None) -> bytes:
        """The bytes of one file inside the wheel."""
        with zipfile.ZipFile(self.path(cache)) as z:
            try:
                return z.read(member)
            except KeyError:
                raise WheelError(f"{self.filename} has no {member}") from None
