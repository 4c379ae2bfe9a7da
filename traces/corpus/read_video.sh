#!/bin/sh
# Holdout workload: a video preview service's reads of one MP4: ffprobe for the format and streams,
# then one ffmpeg per thumbnail (a fast seek to the keyframe before each time, then the frames decoded
# up to it), as thumbnailers and media pipelines run them.
#
# Usage: read_video.sh FILE.mp4
set -eu
ffprobe -v error -show_format -show_streams "$1" > /dev/null
for t in 7 31 58 86 113; do
  ffmpeg -v error -ss "$t" -i "$1" -frames:v 1 -f null -
done
