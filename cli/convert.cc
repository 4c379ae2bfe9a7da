#include "cli/convert.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "traces/binary_trace.h"
#include "traces/trace_io.h"

namespace {

int Fail(const std::string& message) {
  std::cerr << "pflab convert: " << message << "\n";
  return 1;
}

// The input's form, from its first bytes: the binary magic, or text.
bool IsBinaryFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[sizeof pflab::traces::kBinaryTraceMagic] = {};
  in.read(magic, sizeof magic);
  return pflab::traces::LooksLikeBinaryTrace(std::string_view(magic, static_cast<std::size_t>(in.gcount())));
}

}  // namespace

CLI::App* AddConvertCommand(CLI::App& app, ConvertArgs& args) {
  auto* cmd = app.add_subcommand(
      "convert",
      "convert a trace between JSONL (format v1) and the binary format (columnar, zstd); every command "
      "that takes a trace reads either");
  cmd->add_option("input", args.input, "trace file, JSONL or binary (told by its content)")->required();
  cmd->add_option("-o,--output", args.output, "trace file to write")->required();
  cmd->add_option("--to", args.to, "binary or jsonl (default: the form the input is not in)")
      ->check(CLI::IsMember({"binary", "jsonl"}));
  cmd->add_option("--level", args.level, "zstd compression level of a binary output, 1 to 19")
      ->check(CLI::Range(1, 19))
      ->capture_default_str();
  return cmd;
}

int RunConvert(const ConvertArgs& args) {
  using Clock = std::chrono::steady_clock;
  std::error_code ec;
  if (std::filesystem::equivalent(args.input, args.output, ec)) {
    return Fail(args.output + ": is the input file; write to another file");
  }
  const auto start = Clock::now();
  auto trace = pflab::traces::ReadTrace(args.input);
  if (!trace) return Fail(trace.error().message);
  const bool from_binary = IsBinaryFile(args.input);
  const bool to_binary = args.to.empty() ? !from_binary : args.to == "binary";
  const auto read = Clock::now();
  const pflab::Status written = to_binary ? pflab::traces::WriteBinaryTrace(args.output, *trace, args.level)
                                          : pflab::traces::WriteTrace(args.output, *trace);
  if (!written) return Fail(written.error().message);
  const auto done = Clock::now();
  const auto in_bytes = std::filesystem::file_size(args.input, ec);
  const auto out_bytes = std::filesystem::file_size(args.output, ec);
  std::fprintf(stderr,
               "%s (%s, %llu bytes) -> %s (%s, %llu bytes): %zu reads, %zu hints; read %.2f s, written %.2f s\n",
               args.input.c_str(), from_binary ? "binary" : "jsonl", static_cast<unsigned long long>(in_bytes),
               args.output.c_str(), to_binary ? "binary" : "jsonl", static_cast<unsigned long long>(out_bytes),
               trace->records.size(), trace->hints.size(), std::chrono::duration<double>(read - start).count(),
               std::chrono::duration<double>(done - read).count());
  return 0;
}
