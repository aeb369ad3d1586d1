"""Rebuild maps/static/vendor/ from the npm registry and the installed folium package.

    python -m maps.vendor_fetch [--dest DIR]

A maintainer's tool, not used at run time. For each package it runs `npm pack NAME@VERSION` in a
temporary directory, unpacks the tarball and copies the files folium 0.20 references (plus the
images and fonts their CSS loads, plus the licence). Two files are not on npm and are made here:

- `bootstrap-glyphicons-3.4.1/css/bootstrap-glyphicons.css`: folium links Bootstrap 3.0.0's
  stand-alone glyphicons sheet from a CDN; npm has no 3.0.0, so the `@font-face` and
  `.glyphicon*` rules are cut out of bootstrap@3.4.1's dist/css/bootstrap.css (same class names,
  fonts in ../fonts/ as upstream).
- `folium-0.20.0/leaflet.awesome.rotate.min.css`: folium's `.fa-rotate-N` helper classes,
  regenerated (one rotate rule per degree 0..360).

`leaflet_heat.min.js` is copied from the installed folium package (folium/templates/), which is
the file folium's HeatMap links (Leaflet.heat 0.2.0 with folium's weights patch).
Finally it writes SHA256SUMS over every file.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import folium

from maps.vendor import VENDOR_DIR

# (npm spec, destination folder, ((path inside the package, destination path), ...))
NPM_FILES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "leaflet@1.9.3",
        "leaflet-1.9.3",
        (
            ("dist/leaflet.js", "leaflet.js"),
            ("dist/leaflet.css", "leaflet.css"),
            *(
                (f"dist/images/{n}", f"images/{n}")
                for n in (
                    "layers.png",
                    "layers-2x.png",
                    "marker-icon.png",
                    "marker-icon-2x.png",
                    "marker-shadow.png",
                )
            ),
            ("LICENSE", "LICENSE"),
        ),
    ),
    (
        "jquery@3.7.1",
        "jquery-3.7.1",
        (("dist/jquery.min.js", "jquery.min.js"), ("LICENSE.txt", "LICENSE.txt")),
    ),
    (
        "bootstrap@5.2.2",
        "bootstrap-5.2.2",
        (
            ("dist/js/bootstrap.bundle.min.js", "js/bootstrap.bundle.min.js"),
            ("dist/css/bootstrap.min.css", "css/bootstrap.min.css"),
            ("LICENSE", "LICENSE"),
        ),
    ),
    (
        "bootstrap@3.4.1",
        "bootstrap-glyphicons-3.4.1",
        (
            *(
                (
                    f"dist/fonts/glyphicons-halflings-regular.{e}",
                    f"fonts/glyphicons-halflings-regular.{e}",
                )
                for e in ("eot", "svg", "ttf", "woff", "woff2")
            ),
            ("LICENSE", "LICENSE"),
        ),
    ),
    (
        "@fortawesome/fontawesome-free@6.2.0",
        "fontawesome-free-6.2.0",
        (
            ("css/all.min.css", "css/all.min.css"),
            *(
                (f"webfonts/fa-{f}.{e}", f"webfonts/fa-{f}.{e}")
                for f in ("brands-400", "regular-400", "solid-900", "v4compatibility")
                for e in ("woff2", "ttf")
            ),
            ("LICENSE.txt", "LICENSE.txt"),
        ),
    ),
    (
        # Leaflet.awesome-markers 2.0.2 as published on npm by its packager (the upstream
        # `leaflet.awesome-markers` package has no 2.0.2); the package carries no licence file.
        "drmonty-leaflet-awesome-markers@2.0.2",
        "leaflet.awesome-markers-2.0.2",
        (
            ("js/leaflet.awesome-markers.js", "leaflet.awesome-markers.js"),
            ("css/leaflet.awesome-markers.css", "leaflet.awesome-markers.css"),
            *(
                (f"css/images/{n}", f"images/{n}")
                for n in (
                    "markers-soft.png",
                    "markers-soft@2x.png",
                    "markers-shadow.png",
                    "markers-shadow@2x.png",
                )
            ),
        ),
    ),
    ("leaflet.heat@0.2.0", "folium-0.20.0", (("LICENSE", "LICENSE-leaflet.heat"),)),
)

AWESOME_MARKERS_LICENSE = """\
Leaflet.awesome-markers 2.0.2 (https://github.com/lvoogdt/Leaflet.awesome-markers)
Copyright (C) 2013 L. Voogdt

The npm package this copy comes from (drmonty-leaflet-awesome-markers 2.0.2) declares the MIT
licence in its package.json and the file headers say "License: MIT"; its text follows.

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def _npm_pack(spec: str, workdir: Path) -> Path:
    out = subprocess.run(
        ["npm", "pack", spec, "--silent"],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tarball = workdir / out.stdout.strip().splitlines()[-1]
    unpacked = workdir / tarball.stem
    with tarfile.open(tarball) as tar:
        tar.extractall(unpacked, filter="data")
    return unpacked / "package"


def glyphicons_css(bootstrap3_css: str) -> str:
    """The `@font-face` and `.glyphicon*` rules of Bootstrap 3's CSS, as a stand-alone sheet."""
    start = bootstrap3_css.index('@font-face {\n  font-family: "Glyphicons Halflings";')
    last = [
        m.end()
        for m in re.finditer(r"^\.glyphicon-[a-z0-9-]+:before \{\n[^}]*\}\n", bootstrap3_css, re.M)
    ]
    end = max(e for e in last if e > start)
    header = (
        "/*!\n * Glyphicons Halflings rules of Bootstrap v3.4.1 (https://getbootstrap.com/)\n"
        " * Copyright 2011-2019 Twitter, Inc.\n"
        " * Licensed under MIT (https://github.com/twbs/bootstrap/blob/master/LICENSE)\n"
        " * Cut from dist/css/bootstrap.css by maps/vendor_fetch.py.\n */\n"
    )
    return header + bootstrap3_css[start:end]


def rotate_css() -> str:
    rules = "".join(
        f".fa-rotate-{d}{{-ms-transform:rotate({d}deg);-webkit-transform:rotate({d}deg);"
        f"transform:rotate({d}deg)}}"
        for d in range(361)
    )
    return (
        "/* folium leaflet.awesome.rotate (MIT, folium developers), regenerated */\n" + rules + "\n"
    )


def fetch(dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="citytraffic-vendor-") as tmp:
        work = Path(tmp)
        for spec, folder, files in NPM_FILES:
            package = _npm_pack(spec, work)
            for src, dst in files:
                target = dest / folder / dst
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(package / src, target)
            if spec == "bootstrap@3.4.1":
                css = (package / "dist/css/bootstrap.css").read_text(encoding="utf-8")
                target = dest / folder / "css/bootstrap-glyphicons.css"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(glyphicons_css(css), encoding="utf-8")
    (dest / "leaflet.awesome-markers-2.0.2/LICENSE").write_text(AWESOME_MARKERS_LICENSE)
    folium_dir = Path(folium.__file__).resolve().parent
    shutil.copyfile(
        folium_dir / "templates/leaflet_heat.min.js", dest / "folium-0.20.0/leaflet_heat.min.js"
    )
    licences = sorted(folium_dir.parent.glob("folium-*.dist-info/licenses/LICENSE.txt"))
    if licences:
        shutil.copyfile(licences[-1], dest / "folium-0.20.0/LICENSE.txt")
    (dest / "folium-0.20.0/leaflet.awesome.rotate.min.css").write_text(rotate_css())
    write_sums(dest)


def write_sums(dest: Path) -> None:
    lines = []
    for path in sorted(p for p in dest.rglob("*") if p.is_file()):
        rel = path.relative_to(dest).as_posix()
        if rel in ("SHA256SUMS", "VENDOR.md"):
            continue
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {rel}\n")
    (dest / "SHA256SUMS").write_text("".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=VENDOR_DIR)
    args = parser.parse_args(argv)
    fetch(args.dest)
    sys.stderr.write(f"vendored assets written to {args.dest}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
