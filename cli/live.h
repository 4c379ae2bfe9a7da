// The options of live runs (`compare --transport http`): credentials, the TLS trust, and which objects
// the runs read (mapped onto existing ones, or created for the run and deleted after it).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/result.h"
#include "net/credentials.h"
#include "net/gcs_objects.h"
#include "replay/live.h"
#include "replay/live_objects.h"

struct LiveArgs {
  std::string token_file;
  std::string credentials;
  bool anonymous = false;
  std::string ca_file;
  std::vector<std::string> objects;  // ID=gs://BUCKET/NAME
  std::string create_objects;        // gs://BUCKET[/PREFIX]
  bool keep_objects = false;

  /// The option given that only an http transport takes, or empty.
  std::string FirstGiven() const;
};

void AddLiveOptions(CLI::App* cmd, LiveArgs* args);

/// A live run's credentials, TLS and objects, set up from the options. Objects created for the run are
/// deleted by Finish, or by the destructor when the command leaves early.
class LiveSetup {
 public:
  /// Finds the credentials (printing which on `note`) and checks them by getting a token; parses the
  /// object options. Fills live->http's credentials and CA file. Nothing is created yet.
  static pflab::Result<std::unique_ptr<LiveSetup>> Create(const LiveArgs& args, pflab::replay::LiveOptions* live,
                                                          bool verify_bytes,
                                                          std::function<void(const std::string&)> note);
  ~LiveSetup();

  /// Maps and creates the traces' objects; fills live->objects.
  pflab::Status PrepareObjects(const std::vector<const pflab::traces::Trace*>& traces,
                               pflab::replay::LiveOptions* live);
  /// Deletes what was created, unless --keep-objects.
  pflab::Status Finish();
  /// For the results' config: the kind of credentials and the objects read (never a secret).
  nlohmann::json ToJson() const;

 private:
  LiveSetup() = default;

  LiveArgs args_;
  std::function<void(const std::string&)> note_;
  std::shared_ptr<pflab::Credentials> credentials_;
  std::unique_ptr<pflab::GcsObjectClient> client_;
  pflab::replay::LiveObjectsOptions objects_options_;
  std::optional<pflab::replay::LiveObjects> objects_;
  nlohmann::json objects_json_;  // what was read, kept past the deletes
  bool finished_ = false;
};
