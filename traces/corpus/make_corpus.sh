#!/usr/bin/env bash
# Makes the real trace corpus (traces/corpus/*.jsonl): generates the data files into a git-ignored work
# folder, runs each workload under `pflab record`, checks that every trace loads and replays, and prints
# the statistics README.md quotes. Re-runnable: data files are regenerated only when missing or older
# than their generator (or with --regen); traces are always re-recorded.
#
# Usage: traces/corpus/make_corpus.sh [--pflab PATH] [--work DIR] [--only NAME[,NAME...]] [--regen] [--strace]
#   --pflab  the pflab binary (default: build/pflab of this repository); the recorder library is found
#            by pflab itself
#   --work   where data files go (default: traces/corpus/work, git-ignored)
#   --only   record only these traces (names as in the table below, without .jsonl)
#   --strace run the workloads under strace instead and write WORK/strace/NAME.{txt,jsonl}: what the
#            recorder should see, to compare with; these traces never go into the corpus
#
# Run by hand, not by `make test`. Prerequisites (checked first, with the command that installs them):
# /usr/bin/python3 with h5py, zarr, netCDF4, numpy, GDAL, astropy, ReportLab; node >= 18 with
# hyparquet(-writer) installed by `npm ci` here; unzip, tar, dd, cat, sha256sum, ffmpeg (with ffprobe),
# Poppler's tools, squashfs-tools' mksquashfs and unsquashfs, e2fsprogs' mke2fs and debugfs, rocksdb-tools'
# ldb, Xapian's Python bindings and xapian-compact, qemu-utils' qemu-img and qemu-io, samtools.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
pflab="$repo/build/pflab"
work="$here/work"
only=""
regen=0
use_strace=0
while [ $# -gt 0 ]; do
  case "$1" in
    --pflab) pflab=$(realpath "$2"); shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --only) only=",$2,"; shift 2 ;;
    --regen) regen=1; shift ;;
    --strace) use_strace=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "make_corpus: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3

# --- prerequisites: say exactly what to install, install nothing ourselves -------------------------
missing_deb=()
for mod in h5py:python3-h5py zarr:python3-zarr netCDF4:python3-netcdf4 numpy:python3-numpy osgeo.gdal:python3-gdal \
  astropy:python3-astropy reportlab:python3-reportlab xapian:python3-xapian; do
  "$py" -c "import ${mod%%:*}" 2>/dev/null || missing_deb+=("${mod#*:}")
done
for cmd in unzip:unzip tar:tar dd:coreutils cat:coreutils sha256sum:coreutils node:nodejs npm:npm \
  ffmpeg:ffmpeg ffprobe:ffmpeg pdfinfo:poppler-utils pdftotext:poppler-utils pdftoppm:poppler-utils \
  mksquashfs:squashfs-tools unsquashfs:squashfs-tools mke2fs:e2fsprogs debugfs:e2fsprogs ldb:rocksdb-tools \
  xapian-compact:xapian-tools qemu-img:qemu-utils qemu-io:qemu-utils samtools:samtools; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "${cmd%%:*}" >/dev/null 2>&1 || missing_deb+=("${cmd#*:}")
done
if [ ${#missing_deb[@]} -gt 0 ]; then
  echo "make_corpus: missing Debian packages; install them with:" >&2
  echo "  apt-get install -y --no-install-recommends $(printf '%s\n' "${missing_deb[@]}" | sort -u | tr '\n' ' ')" >&2
  exit 1
fi
if [ ! -d "$here/node_modules/hyparquet" ] || [ ! -d "$here/node_modules/hyparquet-writer" ]; then
  echo "make_corpus: the Parquet reader and writer are not installed; install them with:" >&2
  echo "  npm ci --prefix $here" >&2
  exit 1
fi
if [ "$use_strace" = 1 ] && ! command -v strace >/dev/null 2>&1; then
  echo "make_corpus: --strace needs strace: apt-get install -y strace" >&2
  exit 1
fi
if [ "$use_strace" = 0 ] && [ ! -x "$pflab" ]; then
  echo "make_corpus: $pflab not found; build it (and the recorder library) first, or pass --pflab" >&2
  exit 1
fi

mkdir -p "$work"
work=$(cd "$work" && pwd)

# --- data: each file is remade when missing or older than its generator -----------------------------
# gen OUTPUT... -- COMMAND...: runs COMMAND (in $work) unless every OUTPUT exists and is newer than the
# generator script named in COMMAND (or than synthetic_files.py, for the generators that import it).
gen() {
  local outs=() script="" stale=$regen
  while [ "$1" != "--" ]; do outs+=("$1"); shift; done
  shift
  for a in "$@"; do case "$a" in *.py|*.mjs|*.sh) script="$a" ;; esac; done
  local sources=("$script")
  if grep -q '^from synthetic_files import' "$script"; then sources+=("$here/synthetic_files.py"); fi
  for o in "${outs[@]}"; do
    if [ ! -e "$work/$o" ]; then stale=1; fi
    for src in "${sources[@]}"; do
      if [ "$src" -nt "$work/$o" ]; then stale=1; fi
    done
  done
  if [ "$stale" = 1 ]; then
    echo "make_corpus: generating ${outs[*]}" >&2
    (cd "$work" && "$@")
  fi
}
gen field.h5 -- "$py" "$here/gen_hdf5.py" field.h5
gen grid.h5 -- "$py" "$here/gen_hdf5_contiguous.py" grid.h5
gen field.zarr field.zarr.zip -- "$py" "$here/gen_zarr.py" field.zarr field.zarr.zip
gen climate.nc -- "$py" "$here/gen_netcdf.py" climate.nc
gen sensors.parquet -- node "$here/gen_parquet.mjs" sensors.parquet
gen orders.db -- "$py" "$here/gen_sqlite.py" orders.db
gen logs.zip logs.tar -- "$py" "$here/gen_archives.py" logs.zip logs.tar
gen big.bin -- "$py" "$here/gen_big.py" big.bin
gen dem.tif -- "$py" "$here/gen_cog.py" dem.tif
gen clip.mp4 -- sh "$here/gen_video.sh" clip.mp4
gen survey.fits -- "$py" "$here/gen_fits.py" survey.fits
gen report.pdf -- "$py" "$here/gen_pdf.py" report.pdf
gen parcels.shp parcels.shx parcels.dbf parcels.qix -- "$py" "$here/gen_shapefile.py" parcels.shp
gen env.sqfs -- "$py" "$here/gen_squashfs.py" env.sqfs
gen disk.img -- "$py" "$here/gen_ext4.py" disk.img
gen kv.rocksdb -- "$py" "$here/gen_rocksdb.py" kv.rocksdb
gen wx.nc -- "$py" "$here/gen_netcdf3.py" wx.nc
gen idx.glass -- "$py" "$here/gen_xapian.py" idx.glass
gen disk.qcow2 -- "$py" "$here/gen_qcow2.py" disk.qcow2
gen parcels.gpkg -- "$py" "$here/gen_gpkg.py" parcels.gpkg
gen sample.bam sample.bam.bai -- "$py" "$here/gen_bam.py" sample.bam
gen buildings.fgb -- "$py" "$here/gen_fgb.py" buildings.fgb

# --- workloads ---------------------------------------------------------------------------------------
# record NAME GLOB -- COMMAND...: records COMMAND (run in $work) into $here/NAME.jsonl, reading only
# files whose absolute path matches GLOB (fnmatch without FNM_PATHNAME: '*' also matches '/'), then
# checks the trace loads and replays.
record() {
  local name="$1" glob="$2"
  shift 3
  if [ -n "$only" ] && [[ "$only" != *",$name,"* ]]; then return 0; fi
  if [ "$use_strace" = 1 ]; then
    echo "make_corpus: strace $name: $*" >&2
    mkdir -p "$work/strace"
    (cd "$work" && strace -f -ttt -T -y -s 0 -o "$work/strace/$name.txt" \
      -e trace=openat,read,pread64,readv,preadv,lseek,mmap,close "$@" >/dev/null)
    # The glob's literal part (the file or folder path) is what strace_reads.py looks for in paths.
    local needle="${glob//\*/}"
    "$py" "$here/strace_reads.py" "$work/strace/$name.txt" "$needle" --jsonl "$work/strace/$name.jsonl" | tail -2 >&2
    return 0
  fi
  echo "make_corpus: recording $name: $*" >&2
  (cd "$work" && "$pflab" record -o "$here/$name.jsonl" --file "$glob" -- "$@" >/dev/null)
  "$pflab" compare "$here/$name.jsonl" --policies none,fsspec-readahead,gcsfs-adaptive -q >/dev/null
}

# libuv (node's I/O thread pool) can submit file reads through io_uring, which no read hook sees; it is
# off by default in node 20's libuv, and this keeps it off whatever the version.
export UV_USE_IO_URING=0

record hdf5_hyperslabs "$work/field.h5" -- "$py" "$here/read_hdf5.py" field.h5
record zarr_directory "$work/field.zarr/*" -- "$py" "$here/read_zarr.py" dir field.zarr
record zarr_zip "$work/field.zarr.zip" -- "$py" "$here/read_zarr.py" zip field.zarr.zip
record netcdf_slices "$work/climate.nc" -- "$py" "$here/read_netcdf.py" climate.nc
record parquet_columns "$work/sensors.parquet" -- node "$here/read_parquet.mjs" sensors.parquet
record sqlite_indexed "$work/orders.db" -- "$py" "$here/read_sqlite.py" orders.db
rm -rf "$work/unzip_out"
record unzip_subset "$work/logs.zip" -- unzip -q -o logs.zip 'data/part-012?.log' 'data/part-05[0-4]?.log' \
  data/part-0999.log -d unzip_out
record tar_list "$work/logs.tar" -- tar tvf logs.tar
record seqcopy_dd "$work/big.bin" -- dd if=big.bin of=/dev/null bs=1M status=none
record seqcopy_cat_sha256 "$work/big.bin" -- sh -c 'cat big.bin | sha256sum'
# Recorded after auto (issue 15) was tuned, and checked against it before being added: reports/findings/
# auto.md, "Real traces outside the tuning set".
record zipfile_members "$work/logs.zip" -- "$py" "$here/read_zipfile.py" logs.zip
record tarfile_extract "$work/logs.tar" -- "$py" "$here/read_tarfile.py" logs.tar
record hdf5_contiguous "$work/grid.h5" -- "$py" "$here/read_hdf5_contiguous.py" grid.h5
record sqlite_groupby "$work/orders.db" -- "$py" "$here/read_sqlite_groupby.py" orders.db
# Recorded in a later session, also after tuning, and compared before anything was changed (the same
# section of reports/findings/auto.md).
record cog_windows "$work/dem.tif" -- "$py" "$here/read_cog.py" dem.tif
record video_thumbnails "$work/clip.mp4" -- sh "$here/read_video.sh" clip.mp4
record fits_cutouts "$work/survey.fits" -- "$py" "$here/read_fits.py" survey.fits
record pdf_pages "$work/report.pdf" -- sh "$here/read_pdf.sh" report.pdf
# Recorded in the session after those, again after tuning, and compared before anything was changed.
record shapefile_query "$work/parcels.*" -- "$py" "$here/read_shapefile.py" parcels.shp
record squashfs_extract "$work/env.sqfs" -- sh "$here/read_squashfs.sh" env.sqfs
record ext4_image "$work/disk.img" -- sh "$here/read_ext4.sh" disk.img
# Recorded in a later session, after tuning, and compared before anything was changed. The service
# session opens the database for writing, as a service does: RocksDB writes a new manifest and options
# file (and reads the options back), so their names move on at every recording.
record rocksdb_lookups "$work/kv.rocksdb/*" -- "$py" "$here/read_rocksdb.py" kv.rocksdb
# Recorded in the same session, after the change the RocksDB trace led to, and compared before anything
# else was changed.
record netcdf3_series "$work/wx.nc" -- "$py" "$here/read_netcdf3.py" wx.nc
record xapian_search "$work/idx.glass" -- "$py" "$here/read_xapian.py" idx.glass
# Recorded after the changes the two traces above led to, and compared before anything else was changed.
record qcow2_convert "$work/disk.qcow2" -- sh "$here/read_qcow2.sh" disk.qcow2
record gpkg_query "$work/parcels.gpkg" -- "$py" "$here/read_gpkg.py" parcels.gpkg
# Recorded in the session after, with auto unchanged since the two above, and compared before anything was
# changed.
record bam_regions "$work/sample.bam*" -- "$py" "$here/read_bam.py" sample.bam
# Recorded after the change bam_regions led to, and compared before anything else was changed.
record fgb_views "$work/buildings.fgb" -- "$py" "$here/read_fgb.py" buildings.fgb

if [ "$use_strace" = 1 ]; then
  "$py" "$here/describe.py" "$work"/strace/*.jsonl
else
  "$py" "$here/describe.py" "$here"/*.jsonl
fi
