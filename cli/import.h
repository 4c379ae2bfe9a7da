// `pflab import FORMAT IN -o OUT.jsonl`: turns recorded reads (strace logs, CSV lists, gcsfs/fsspec
// debug logs) into trace format v1.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

struct ImportArgs {
  std::string format;  // the subcommand that ran: strace, csv or gcsfs-log
  std::string input;
  std::string output;
  std::string file;  // strace, gcsfs-log: which file(s) / object(s) to keep
  std::string bucket = "pflab";
  std::string time_unit = "s";  // csv
  std::string size;             // csv: object size
  std::string name;             // csv: object name
  std::string kind = "gets";    // gcsfs-log: gets or reads
  bool no_stat = false;         // strace: never size an object from the path's current stat
  bool binary = false;          // write the binary form instead of JSONL
  CLI::App* strace = nullptr;
  CLI::App* csv = nullptr;
  CLI::App* gcsfs_log = nullptr;
};

CLI::App* AddImportCommand(CLI::App& app, ImportArgs& args);
/// Imports, writes the trace, and prints a one-line summary on stderr; 1 on any error.
int RunImport(const ImportArgs& args);
