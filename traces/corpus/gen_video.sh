#!/bin/sh
# Holdout data: a 120 s H.264 + AAC MP4 as a camera or a screen recorder writes it (ffmpeg's default
# mp4 muxing: the moov index after the media data, not "faststart"), 1280 x 720 at 25 frames/s, a
# keyframe every 2 s, about 4 Mbit/s. testsrc2 and a sine tone are ffmpeg's own synthetic sources, so
# the file is the same on every run of the same ffmpeg.
#
# Usage: gen_video.sh OUT.mp4
set -eu
ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 \
  -t 120 -c:v libx264 -preset veryfast -b:v 4M -maxrate 4M -bufsize 8M -g 50 -keyint_min 50 -sc_threshold 0 \
  -threads 1 -c:a aac -b:a 128k -map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact "$1"
