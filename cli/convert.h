// `pflab convert IN -o OUT`: a trace from one form to the other, JSONL (format v1) and binary (columnar,
// zstd). The input's form is told by its content; the output's is --to, by default the other form.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

struct ConvertArgs {
  std::string input;
  std::string output;
  std::string to;  // "binary" or "jsonl"; empty: the form the input is not in
  int level = 3;   // zstd level of a binary output
};

CLI::App* AddConvertCommand(CLI::App& app, ConvertArgs& args);
/// Reads, converts, writes, and prints a one-line summary on stderr; 1 on any error.
int RunConvert(const ConvertArgs& args);
