// `pflab record`: runs a command with the LD_PRELOAD recorder (libpflab_record.so) and writes the reads
// of matching files as a trace v1. Exits with the command's status (128+N when a signal N killed it).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

struct RecordArgs {
  std::string output;
  std::vector<std::string> files;    // fnmatch globs; none: every regular file outside system folders
  std::string raw_dir;               // keep the raw per-process files here instead of a temporary folder
  std::vector<std::string> command;  // after `--`
};

CLI::App* AddRecordCommand(CLI::App& app, RecordArgs& args);
/// Takes everything after `--` of a `pflab record` command line into `args.command` before CLI11 parses
/// the rest (CLI11 would otherwise read the command's own options, or hand them to --file); returns the
/// argc to parse.
int SplitRecordCommand(int argc, char** argv, RecordArgs& args);
int RunRecord(const RecordArgs& args);
