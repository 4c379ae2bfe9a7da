#include "cli/live.h"

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

std::string LiveArgs::FirstGiven() const {
  if (!token_file.empty()) return "--token-file";
  if (!credentials.empty()) return "--credentials";
  if (anonymous) return "--anonymous";
  if (!ca_file.empty()) return "--ca-file";
  if (!objects.empty()) return "--object";
  if (!create_objects.empty()) return "--create-objects";
  if (keep_objects) return "--keep-objects";
  return "";
}

void AddLiveOptions(CLI::App* cmd, LiveArgs* args) {
  cmd->add_option("--token-file", args->token_file,
                  "for --transport http: a file holding an OAuth2 access token to send (e.g. from `gcloud auth "
                  "print-access-token`); see docs/live.md for the order credentials are looked for in");
  cmd->add_option("--credentials", args->credentials,
                  "for --transport http: a service-account key or authorized_user JSON file (default: "
                  "$GOOGLE_APPLICATION_CREDENTIALS, then gcloud's application-default file, then the GCE "
                  "metadata server)");
  cmd->add_flag("--anonymous", args->anonymous, "for --transport http: send no credentials (public objects)");
  cmd->add_option("--ca-file", args->ca_file,
                  "for --transport http: PEM certificates to trust for https instead of the system's");
  cmd->add_option("--object", args->objects,
                  "for --transport http: read trace object ID (its id, e.g. o0, or its name) from an existing "
                  "object, ID=gs://BUCKET/NAME; repeatable. The object must be at least as large");
  cmd->add_option("--create-objects", args->create_objects,
                  "for --transport http: create the trace objects no --object maps as synthetic objects named "
                  "gs://BUCKET/PREFIX<name> (never over existing ones), and delete them after the runs");
  cmd->add_flag("--keep-objects", args->keep_objects, "with --create-objects: leave the created objects in place");
}

pflab::Result<std::unique_ptr<LiveSetup>> LiveSetup::Create(const LiveArgs& args, pflab::replay::LiveOptions* live,
                                                            bool verify_bytes,
                                                            std::function<void(const std::string&)> note) {
  std::unique_ptr<LiveSetup> setup(new LiveSetup());
  setup->args_ = args;
  setup->note_ = std::move(note);
  if (args.keep_objects && args.create_objects.empty()) {
    return pflab::InvalidArgument("--keep-objects is for --create-objects");
  }
  if (args.anonymous && (!args.token_file.empty() || !args.credentials.empty())) {
    return pflab::InvalidArgument(
        "--anonymous sends no credentials: it does not go with --token-file or --credentials");
  }
  for (const auto& text : args.objects) {
    auto mapping = pflab::replay::ObjectMapping::Parse(text);
    if (!mapping) return pflab::InvalidArgument("--object " + mapping.error().message);
    setup->objects_options_.mappings.push_back(*mapping);
  }
  if (!args.objects.empty() && verify_bytes) {
    return pflab::InvalidArgument(
        "--verify-bytes checks the synthetic content pflab serves and creates; objects mapped with --object hold "
        "their own bytes (leave out --verify-bytes, or use --create-objects for synthetic ones)");
  }
  if (!args.create_objects.empty()) {
    auto url = pflab::replay::GcsUrl::Parse(args.create_objects, /*name_required=*/false);
    if (!url) return pflab::InvalidArgument("--create-objects: " + url.error().message);
    setup->objects_options_.create = *url;
  }
  if (!args.ca_file.empty()) {
    if (!std::ifstream(args.ca_file).good())
      return pflab::InvalidArgument("--ca-file " + args.ca_file + ": cannot read it");
    live->http.ca_file = args.ca_file;
  }

  pflab::CredentialsOptions options;
  options.anonymous = args.anonymous;
  options.token_file = args.token_file;
  options.credentials_file = args.credentials;
  // Credentials are looked for (files, the metadata server) only for https endpoints; a plain-http one
  // (an emulator, `pflab serve`) gets only what is given explicitly, as the official clients send an
  // emulator no credentials.
  options.discover = live->endpoint.scheme == "https";
  options.config.tls.ca_file = args.ca_file;
  options.config.scope = args.create_objects.empty() ? pflab::kReadOnlyScope : pflab::kReadWriteScope;
  auto credentials = pflab::FindCredentials(options);
  if (!credentials) return pflab::InvalidArgument("credentials: " + credentials.error().message);
  setup->credentials_ = *credentials;
  setup->note_("auth: " + setup->credentials_->Describe());
  // A token now, so bad credentials fail before anything runs rather than as every read's error.
  if (auto header = setup->credentials_->AuthorizationHeader(); !header) {
    return pflab::Error{header.error().code, "credentials: " + header.error().message};
  }
  live->http.credentials = setup->credentials_;
  setup->client_ = std::make_unique<pflab::GcsObjectClient>(live->endpoint, options.config.tls, setup->credentials_);
  return setup;
}

LiveSetup::~LiveSetup() {
  if (finished_) return;
  if (auto status = Finish(); !status) std::cerr << "pflab: " << status.error().message << "\n";
}

pflab::Status LiveSetup::PrepareObjects(const std::vector<const pflab::traces::Trace*>& traces,
                                        pflab::replay::LiveOptions* live) {
  auto objects = pflab::replay::LiveObjects::Prepare(traces, objects_options_, *client_, note_);
  if (!objects) return objects.error();
  objects_ = std::move(*objects);
  live->objects = objects_->Refs();
  if (objects_->objects().empty()) return pflab::OkStatus();  // all read as named: nothing to record
  objects_json_ = nlohmann::json::object();
  for (const auto& [key, object] : objects_->objects()) {
    objects_json_[object.trace_object] = {{"url", "gs://" + object.ref.bucket + "/" + object.ref.name},
                                          {"generation", std::to_string(object.ref.generation)},
                                          {"size", object.ref.size},
                                          {"created", object.created}};
  }
  return pflab::OkStatus();
}

pflab::Status LiveSetup::Finish() {
  finished_ = true;
  if (!objects_ || args_.keep_objects) {
    if (objects_ && args_.keep_objects) {
      for (const auto& [key, object] : objects_->objects()) {
        if (object.created) note_("kept gs://" + object.ref.bucket + "/" + object.ref.name + " (--keep-objects)");
      }
    }
    return pflab::OkStatus();
  }
  if (auto status = objects_->DeleteCreated(*client_, note_); !status) {
    return pflab::Error{status.error().code, "deleting the objects created for the run: " + status.error().message};
  }
  return pflab::OkStatus();
}

nlohmann::json LiveSetup::ToJson() const {
  nlohmann::json out = {{"auth", credentials_ ? credentials_->Kind() : "anonymous"}};
  if (!objects_json_.is_null()) out["objects"] = objects_json_;
  return out;
}
