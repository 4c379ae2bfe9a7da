// `pflab serve`: the fake GCS server as a standalone process, for clients nobody here wrote.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

struct ServeArgs {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string root;
  std::vector<std::string> synthetic;  // BUCKET/OBJECT=SIZE
  std::vector<std::string> buckets;
  std::string latency;
  std::string bandwidth;
  std::string link_bandwidth;
  std::string faults;
  std::uint64_t seed = 1;
  unsigned threads = 2;
  bool log = false;
};

CLI::App* AddServeCommand(CLI::App& app, ServeArgs& args);
/// Serves until SIGINT or SIGTERM; prints the endpoint URL as the first line on stdout.
int RunServe(const ServeArgs& args);
