#include "cli/import.h"

#include <iostream>

#include "engine/units.h"
#include "traces/binary_trace.h"
#include "traces/import_csv.h"
#include "traces/import_gcsfs_log.h"
#include "traces/import_strace.h"
#include "traces/trace_io.h"

namespace {

void AddCommon(CLI::App* cmd, ImportArgs& args, const std::string& what) {
  cmd->add_option("input", args.input, what)->required();
  cmd->add_option("-o,--output", args.output, "trace file to write (format v1)")->required();
  cmd->add_flag("--binary", args.binary, "write the binary form (columnar, zstd) instead of JSONL");
}

void AddBucket(CLI::App* cmd, ImportArgs& args) {
  cmd->add_option("--bucket", args.bucket, "bucket of the objects in the trace header")->capture_default_str();
}

}  // namespace

CLI::App* AddImportCommand(CLI::App& app, ImportArgs& args) {
  auto* cmd = app.add_subcommand("import", "convert recorded reads into a trace (format v1)");
  cmd->require_subcommand(1);
  args.strace = cmd->add_subcommand("strace", "reads in the output of strace -f -ttt -T -y");
  AddCommon(args.strace, args, "strace output (-o file of strace -f -ttt -T -y -s0 -e trace=openat,read,...)");
  AddBucket(args.strace, args);
  args.strace->add_option("--file", args.file,
                          "keep files whose path equals NAME, whose basename equals NAME, or that match NAME as "
                          "a glob (default: every file read outside /dev, /proc, /sys, each an object)");
  args.strace->add_flag("--no-stat", args.no_stat,
                        "do not size objects from the paths' current sizes (use lseek SEEK_END or the largest end)");
  args.csv = cmd->add_subcommand("csv", "reads listed as offset,length[,time,stream] (header optional)");
  AddCommon(args.csv, args, "CSV file");
  AddBucket(args.csv, args);
  args.csv->add_option("--time-unit", args.time_unit, "unit of the time and dur columns: s, ms, us or ns")
      ->capture_default_str();
  args.csv->add_option("--size", args.size, "object size, e.g. 1GiB (default: the largest end read)");
  args.csv->add_option("--name", args.name, "object name (default: the input's file stem)");
  args.gcsfs_log = cmd->add_subcommand("gcsfs-log", "ranged GETs (or fsspec reads) in a gcsfs/fsspec debug log");
  AddCommon(args.gcsfs_log, args, "log written with GCSFS_DEBUG=DEBUG / fsspec.utils.setup_logging");
  args.gcsfs_log->add_option("--file", args.file,
                             "keep objects whose BUCKET/OBJECT or OBJECT or basename equals NAME, or whose "
                             "BUCKET/OBJECT matches NAME as a glob (default: all)");
  args.gcsfs_log
      ->add_option("--kind", args.kind,
                   "gets: gcsfs's ranged GETs (what the cache fetched); reads: fsspec's read lines (what the "
                   "application asked for)")
      ->capture_default_str();
  return cmd;
}

int RunImport(const ImportArgs& args) {
  pflab::Result<pflab::traces::Trace> trace = pflab::InvalidArgument("no import format given");
  std::string format;
  if (args.strace->parsed()) {
    format = "strace";
    pflab::traces::StraceImportOptions options;
    options.file = args.file;
    options.bucket = args.bucket;
    options.stat_sizes = !args.no_stat;
    trace = pflab::traces::ImportStraceFile(args.input, options);
  } else if (args.csv->parsed()) {
    format = "csv";
    pflab::traces::CsvImportOptions options;
    options.time_unit = args.time_unit;
    options.name = args.name;
    options.bucket = args.bucket;
    if (!args.size.empty()) {
      auto size = pflab::ParseSize(args.size);
      if (!size) {
        std::cerr << "pflab import: --size: " << size.error().message << "\n";
        return 1;
      }
      options.size = *size;
    }
    trace = pflab::traces::ImportCsvFile(args.input, options);
  } else if (args.gcsfs_log->parsed()) {
    format = "gcsfs-log";
    pflab::traces::GcsfsLogImportOptions options;
    options.file = args.file;
    if (args.kind == "gets") {
      options.kind = pflab::traces::GcsfsLogKind::kGets;
    } else if (args.kind == "reads") {
      options.kind = pflab::traces::GcsfsLogKind::kReads;
    } else {
      std::cerr << "pflab import: --kind: '" << args.kind << "' is not one of gets, reads\n";
      return 1;
    }
    trace = pflab::traces::ImportGcsfsLogFile(args.input, options);
  }
  // Input errors already start with FILE:LINE:, so they are printed as they are.
  if (!trace) {
    std::cerr << trace.error().message << "\n";
    return 1;
  }
  if (auto status = args.binary ? pflab::traces::WriteBinaryTrace(args.output, *trace)
                                : pflab::traces::WriteTrace(args.output, *trace);
      !status) {
    std::cerr << "pflab import: " << status.error().message << "\n";
    return 1;
  }
  std::cerr << "imported " << trace->records.size() << " reads of " << trace->objects.size() << " object"
            << (trace->objects.size() == 1 ? "" : "s") << " from " << args.input << " (" << format << ") to "
            << args.output << "\n";
  if (auto it = trace->source.find("unplaced_reads"); it != trace->source.end()) {
    for (const auto& [path, count] : it->items()) {
      std::cerr << "left out " << count.dump() << (count == 1 ? " read of " : " reads of ") << path
                << ": its openat is not in the log (opened before strace started), so where it was read is unknown\n";
    }
  }
  return 0;
}
