#!/bin/sh
# vendor_web.sh OUTDIR - the dashboard's third-party code, fetched from npm at
# build time (never copied into the tree): web/vendor/package.json and its
# lock pin the versions; `npm ci` installs them under OUTDIR/npm and the
# files the server embeds are put in OUTDIR:
#   uplot.min.js        uPlot (MIT), the overview's charts (IIFE: window.uPlot)
#   uplot.min.css       its stylesheet
#   uplot-LICENSE.txt   its license, served beside it (/uplot-LICENSE.txt)
set -e
out=$1
[ -n "$out" ] || { echo "usage: vendor_web.sh OUTDIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/../web/vendor" && pwd)
command -v npm >/dev/null 2>&1 || { echo "vendor_web.sh: npm is missing (make deps installs it)" >&2; exit 1; }
mkdir -p "$out/npm"
cp "$src/package.json" "$src/package-lock.json" "$out/npm/"
(cd "$out/npm" && timeout 300 npm ci --no-audit --no-fund --ignore-scripts --silent)
u=$out/npm/node_modules/uplot
cp "$u/dist/uPlot.iife.min.js" "$out/uplot.min.js"
cp "$u/dist/uPlot.min.css" "$out/uplot.min.css"
cp "$u/LICENSE" "$out/uplot-LICENSE.txt"
