#!/bin/sh
# Holdout workload: a document service's reads of one PDF (Poppler's tools, one process each): the
# document's information, the text of three pages in the middle, and a thumbnail of a page with a
# figure.
#
# Usage: read_pdf.sh FILE.pdf
set -eu
pdfinfo "$1" > /dev/null
pdftotext -f 150 -l 152 "$1" - > /dev/null
pdftoppm -f 296 -l 296 -r 30 -png "$1" > /dev/null
