#include "reports/json_fields.h"

#include <cmath>

namespace pflab::reports {

std::string JsonKind(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
      return value.get<std::int64_t>() < 0 ? "a negative integer" : "an integer";
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number with a fraction";
    default: return "something else";
  }
}

Result<double> JsonNumber(const nlohmann::json& value, const std::string& where) {
  if (!value.is_number()) return InvalidArgument(where + ": expected a number, got " + JsonKind(value));
  const double v = value.get<double>();
  if (!std::isfinite(v)) return InvalidArgument(where + ": expected a finite number");
  return v;
}

Result<std::uint64_t> JsonCount(const nlohmann::json& value, const std::string& where) {
  if (!value.is_number_unsigned()) {
    return InvalidArgument(where + ": expected a non-negative integer, got " + JsonKind(value));
  }
  return value.get<std::uint64_t>();
}

Result<std::int64_t> JsonInteger(const nlohmann::json& value, const std::string& where) {
  if (value.is_number_integer() && !value.is_number_unsigned()) return value.get<std::int64_t>();
  if (value.is_number_unsigned() && value.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(value.get<std::uint64_t>());
  }
  return InvalidArgument(where + ": expected an integer below 2^63, got " + JsonKind(value));
}

Result<std::string> JsonString(const nlohmann::json& value, const std::string& where) {
  if (!value.is_string()) return InvalidArgument(where + ": expected a string, got " + JsonKind(value));
  return value.get<std::string>();
}

Status JsonFields::RequireObject() const {
  if (object_.is_object()) return OkStatus();
  return InvalidArgument(where_ + ": expected an object, got " + JsonKind(object_));
}

Result<const nlohmann::json*> JsonFields::Get(const char* key, bool optional) const {
  if (!object_.is_object()) return InvalidArgument(where_ + ": expected an object, got " + JsonKind(object_));
  auto it = object_.find(key);
  if (it == object_.end()) {
    if (optional) return static_cast<const nlohmann::json*>(nullptr);
    return InvalidArgument(Path(key) + ": missing");
  }
  return &*it;
}

Result<double> JsonFields::Number(const char* key) const {
  auto v = Get(key);
  if (!v) return v.error();
  return JsonNumber(**v, Path(key));
}

Result<std::uint64_t> JsonFields::Count(const char* key, std::optional<std::uint64_t> fallback) const {
  auto v = Get(key, fallback.has_value());
  if (!v) return v.error();
  if (*v == nullptr) return *fallback;
  return JsonCount(**v, Path(key));
}

Result<std::string> JsonFields::String(const char* key, std::optional<std::string> fallback) const {
  auto v = Get(key, fallback.has_value());
  if (!v) return v.error();
  if (*v == nullptr) return *fallback;
  return JsonString(**v, Path(key));
}

}  // namespace pflab::reports
