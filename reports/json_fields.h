// Typed reads of fields of a parsed JSON document, with errors in our words that name the file and
// the field's path ("r.json: runs[2].metrics.elapsed_s: expected a number, got a string"), for the
// readers of results files and their timelines. Values are never printed back (a document's value
// may be large or deeply nested), only their kind.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/result.h"

namespace pflab::reports {

/// "a string", "an array", "a negative integer", ...: what a value is, for messages.
std::string JsonKind(const nlohmann::json& value);

/// A JSON object being read, and where it is ("FILE: runs[2]"), for messages.
class JsonFields {
 public:
  JsonFields(const nlohmann::json& object, std::string where) : object_(object), where_(std::move(where)) {}

  /// An error unless the value is an object.
  Status RequireObject() const;
  /// The field, or an error "WHERE.KEY: missing" (nullptr when absent and `optional`).
  Result<const nlohmann::json*> Get(const char* key, bool optional = false) const;
  /// Any finite number.
  Result<double> Number(const char* key) const;
  /// A non-negative integer; `fallback` when the field is absent (absent is an error without one).
  Result<std::uint64_t> Count(const char* key, std::optional<std::uint64_t> fallback = std::nullopt) const;
  /// A string; `fallback` when absent.
  Result<std::string> String(const char* key, std::optional<std::string> fallback = std::nullopt) const;
  /// The path of a field, for messages and nested readers: "WHERE.KEY".
  std::string Path(const char* key) const { return where_ + "." + key; }
  const std::string& where() const { return where_; }

 private:
  const nlohmann::json& object_;
  std::string where_;
};

/// `value` as a finite number, a non-negative integer, a string; errors name `where`.
Result<double> JsonNumber(const nlohmann::json& value, const std::string& where);
Result<std::uint64_t> JsonCount(const nlohmann::json& value, const std::string& where);
Result<std::int64_t> JsonInteger(const nlohmann::json& value, const std::string& where);
Result<std::string> JsonString(const nlohmann::json& value, const std::string& where);

}  // namespace pflab::reports
