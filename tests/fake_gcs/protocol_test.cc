// The fake server's protocol pieces without a socket: ranges as GCS resolves them
// (shared/research/fake_gcs.md section 1.4), decoding, checksums, and the fault instruction set and
// its dequeue rules (section 2.3).
#include "fake_gcs/protocol.h"

#include <catch2/catch.hpp>
#include <limits>

#include "fake_gcs/faults.h"
#include "net/checksums.h"

namespace pflab::fake_gcs {
namespace {

using Kind = ResolvedRange::Kind;

TEST_CASE("ranges resolve as GCS answers them", "[fake_gcs][protocol]") {
  struct Case {
    std::optional<std::string> header;
    std::uint64_t size;
    Kind kind;
    std::uint64_t begin, end;
  };
  const std::vector<Case> cases = {
      {std::nullopt, 100, Kind::kWhole, 0, 100},       {"bytes=0-9", 100, Kind::kPartial, 0, 10},
      {"bytes=90-200", 100, Kind::kPartial, 90, 100},  // end past EOF is clamped
      {"bytes=10-", 100, Kind::kPartial, 10, 100},     {"bytes=-5", 100, Kind::kPartial, 95, 100},
      {"bytes=-500", 100, Kind::kPartial, 0, 100},  // more than the object: all of it
      {"bytes=100-", 100, Kind::kUnsatisfiable, 0, 0}, {"bytes=100-200", 100, Kind::kUnsatisfiable, 0, 0},
      {"bytes=0-", 0, Kind::kUnsatisfiable, 0, 0},  // any range of an empty object
      {"bytes=-0", 100, Kind::kUnsatisfiable, 0, 0},   {"bytes=5-4", 100, Kind::kWhole, 0, 100},  // b < a: ignored
      {"items=0-4", 100, Kind::kWhole, 0, 100},                                                   // bad unit: ignored
      {"bytes=0-1,5-6", 100, Kind::kWhole, 0, 100},  // several ranges: ignored
      {"bytes=abc", 100, Kind::kWhole, 0, 100},        {"bytes=1-x", 100, Kind::kWhole, 0, 100},
      {" bytes= 3 - 4 ", 100, Kind::kPartial, 3, 5},
  };
  for (const auto& c : cases) {
    INFO((c.header ? *c.header : "(none)") << " size " << c.size);
    std::optional<std::string_view> h;
    if (c.header) h = *c.header;
    const auto r = ResolveRange(h, c.size);
    CHECK(r.kind == c.kind);
    if (c.kind != Kind::kUnsatisfiable) {
      CHECK(r.begin == c.begin);
      CHECK(r.end == c.end);
    }
  }
}

// Found by fuzz/range_header_fuzz.cc: a range whose numbers had more than 19 digits (leading zeros,
// or an end past 2^64-1 meaning "to the end") was ignored and the whole object sent with 200, where
// HTTP (RFC 9110 section 14.1.2: any number of digits) and GCS answer 206 with the range.
TEST_CASE("ranges with long numbers resolve like short ones", "[fake_gcs][protocol]") {
  auto r = ResolveRange("bytes=0998-0000000000008433332000", 1000);
  CHECK(r.kind == Kind::kPartial);
  CHECK(r.begin == 998);
  CHECK(r.end == 1000);
  r = ResolveRange("bytes=10-99999999999999999999999", 100);  // past 2^64-1: to the end
  CHECK(r.kind == Kind::kPartial);
  CHECK(r.begin == 10);
  CHECK(r.end == 100);
  r = ResolveRange("bytes=18446744073709551615-", 100);
  CHECK(r.kind == Kind::kUnsatisfiable);
  r = ResolveRange("bytes=99999999999999999999999-", 100);  // a start past 2^64-1 is past the end too
  CHECK(r.kind == Kind::kUnsatisfiable);
  r = ResolveRange("bytes=-000000000000000000000000005", 100);
  CHECK(r.kind == Kind::kPartial);
  CHECK(r.begin == 95);
  r = ResolveRange("bytes=5-18446744073709551615", std::numeric_limits<std::uint64_t>::max());
  CHECK(r.kind == Kind::kPartial);
  CHECK(r.end == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("percent decoding: once, '+' is a space only in queries", "[fake_gcs][protocol]") {
  CHECK(*PercentDecode("a%2Fb%20c+d", false) == "a/b c+d");
  CHECK(*PercentDecode("a%2Fb%20c+d", true) == "a/b c d");
  CHECK(*PercentDecode("%25%32%46", false) == "%2F");  // decoded once, not twice
  CHECK(*PercentDecode("caf%C3%A9", false) == "caf\xc3\xa9");
  CHECK_FALSE(PercentDecode("bad%2", false));
  CHECK_FALSE(PercentDecode("bad%zz", false));
  auto q = ParseQuery("alt=media&name=a%2Fb+c&empty=&flag");
  REQUIRE(q);
  CHECK(q->at("alt") == "media");
  CHECK(q->at("name") == "a/b c");
  CHECK(q->at("empty").empty());
  CHECK(q->count("flag") == 1);
  CHECK_FALSE(ParseQuery("a=%"));
}

TEST_CASE("CRC32C, MD5 and base64 match published values", "[fake_gcs][protocol]") {
  // The CRC-32C check value (RFC 3720 B.4 / every CRC catalogue): "123456789" -> 0xE3069283.
  CHECK(Crc32cExtend(0, "123456789", 9) == 0xE3069283u);
  // Extending in pieces equals one pass, on both code paths' lengths (under and over 8 bytes).
  const std::string text = "The quick brown fox jumps over the lazy dog";
  CHECK(Crc32cExtend(Crc32cExtend(0, text.data(), 13), text.data() + 13, text.size() - 13) ==
        Crc32cExtend(0, text.data(), text.size()));
  CHECK(Crc32cToBase64(Crc32cExtend(0, "hello world", 11)) == "yZRlqg==");
  Md5 md5;
  md5.Update("hello world", 11);
  CHECK(Md5ToBase64(md5.Final()) == "XrY7u+Ae7tCTyyK7j1rNww==");
  for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {  // RFC 4648 section 10
    auto back = Base64Decode(Base64Encode(s));
    REQUIRE(back);
    CHECK(*back == s);
  }
  CHECK(Base64Encode("foobar") == "Zm9vYmFy");
  CHECK(Base64Encode("fo") == "Zm8=");
  CHECK_FALSE(Base64Decode("Zm8"));
  CHECK_FALSE(Base64Decode("Z=8="));
  CHECK(*FindGoogHash("crc32c=AAAAAA==,md5=XrY7u+Ae7tCTyyK7j1rNww==", "md5") == "XrY7u+Ae7tCTyyK7j1rNww==");
  CHECK(*FindGoogHash("crc32c=AAAAAA==, md5=x", "crc32c") == "AAAAAA==");
  CHECK_FALSE(FindGoogHash("md5=x", "crc32c"));
}

TEST_CASE("object names that could leave a directory root are refused", "[fake_gcs][protocol]") {
  for (const std::string& bad :
       std::vector<std::string>{"", "../x", "a/../b", "a/..", "/abs", "a/./b", "./a", std::string("a\0b", 3)}) {
    INFO(bad);
    CHECK_FALSE(ValidateObjectName(bad).ok());
  }
  for (const std::string good : {"a", "a/b/c.txt", "dir/", "with space", "caf\xc3\xa9", "a+b", "...", "a..b"}) {
    INFO(good);
    CHECK(ValidateObjectName(good).ok());
  }
}

TEST_CASE("every testbench instruction parses; unknown ones are refused by name", "[fake_gcs][faults]") {
  for (const std::string ok : {"return-503", "return-429", "return-408", "return-400", "return-reset-connection",
                               "return-broken-stream", "return-broken-stream-after-256K", "stall-for-2s-after-128K",
                               "return-503-after-256K", "return-broken-stream-final-chunk-after-5B",
                               "redirect-send-token-abc", "return-503-if-dp-enforced", "corrupt-byte"}) {
    INFO(ok);
    CHECK(ParseInstruction(ok).ok());
  }
  for (const std::string bad : {"return-", "return-abc", "explode", "stall-for-2-after-1K", "return-99"}) {
    INFO(bad);
    auto f = ParseInstruction(bad);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().message.find(bad) != std::string::npos);
  }
  auto stall = ParseInstruction("stall-for-3s-after-64K");
  REQUIRE(stall);
  CHECK(stall->kind == Fault::Kind::kStall);
  CHECK(stall->stall == 3 * kSecond);
  CHECK(stall->after_bytes == 64 * 1024);
}

TEST_CASE("faults fire only where the testbench fires them", "[fake_gcs][faults]") {
  const std::string get = "storage.objects.get", list = "storage.objects.list", insert = "storage.objects.insert";
  auto f = [](const char* s) { return *ParseInstruction(s); };
  // Immediate faults: before the handler, never again on the body.
  CHECK(FaultFires(f("return-503"), get, std::nullopt));
  CHECK_FALSE(FaultFires(f("return-503"), get, 100));
  CHECK(FaultFires(f("return-reset-connection"), list, std::nullopt));
  // Body faults need a body long enough.
  CHECK_FALSE(FaultFires(f("return-broken-stream"), get, std::nullopt));
  CHECK(FaultFires(f("return-broken-stream"), get, 5));
  CHECK_FALSE(FaultFires(f("return-broken-stream"), get, 4));
  CHECK(FaultFires(f("return-broken-stream"), list, 100));  // any method
  CHECK(FaultFires(f("return-broken-stream-after-1K"), get, 1025));
  CHECK_FALSE(FaultFires(f("return-broken-stream-after-1K"), get, 1024));
  CHECK_FALSE(FaultFires(f("return-broken-stream-after-1K"), list, 5000));  // objects.get only
  CHECK(FaultFires(f("stall-for-1s-after-0K"), get, 0));
  CHECK(FaultFires(f("stall-for-1s-after-2K"), get, 2048));
  CHECK_FALSE(FaultFires(f("stall-for-1s-after-2K"), get, 2047));
  // Upload-only forms never fire on downloads, so a test queuing them never completes there.
  CHECK_FALSE(FaultFires(f("return-503-after-1K"), get, std::nullopt));
  CHECK_FALSE(FaultFires(f("return-503-after-1K"), get, 5000));
  CHECK(FaultFires(f("return-503-after-1K"), insert, 5000));
  CHECK_FALSE(FaultFires(f("redirect-send-token-x"), get, std::nullopt));
}

TEST_CASE("retry tests: validation, FIFO per method, dequeue only when fired, completed", "[fake_gcs][faults]") {
  RetryTests tests;
  CHECK_FALSE(tests.Create(nlohmann::json::object()).ok());
  CHECK_FALSE(tests.Create({{"instructions", {{"storage.objects.frobnicate", {"return-503"}}}}}).ok());
  CHECK_FALSE(tests.Create({{"instructions", {{"storage.objects.get", {"return-abc"}}}}}).ok());
  auto created =
      tests.Create({{"instructions", {{"storage.objects.get", {"return-broken-stream-after-2K", "return-503"}}}}});
  REQUIRE(created);
  const std::string id = (*created)["id"];
  CHECK((*created)["completed"] == false);
  CHECK((*created)["transport"] == "HTTP");
  // A 1 KiB body does not reach the cut: nothing fires, nothing is dequeued.
  auto t = tests.Take(id, "storage.objects.get", 1024);
  REQUIRE(t);
  CHECK_FALSE(*t);
  // Another method's queue is empty.
  t = tests.Take(id, "storage.objects.list", std::nullopt);
  REQUIRE(t);
  CHECK_FALSE(*t);
  t = tests.Take(id, "storage.objects.get", 4096);
  REQUIRE(t);
  REQUIRE(*t);
  CHECK((*t)->instruction == "return-broken-stream-after-2K");
  CHECK((*tests.Get(id))["instructions"]["storage.objects.get"].size() == 1);
  t = tests.Take(id, "storage.objects.get", std::nullopt);
  REQUIRE(*t);
  CHECK((*t)->status == 503);
  CHECK((*tests.Get(id))["completed"] == true);
  CHECK(tests.List()["retry_test"].size() == 1);
  CHECK(tests.Delete(id).ok());
  CHECK_FALSE(tests.Get(id).ok());
  CHECK_FALSE(tests.Take(id, "storage.objects.get", std::nullopt).ok());
}

TEST_CASE("fault profiles: validated with the field named, deterministic from the seed", "[fake_gcs][faults]") {
  using nlohmann::json;
  CHECK_FALSE(FaultProfile::Parse(json::array(), "p.json").ok());
  auto bad = FaultProfile::Parse({{"faults", {{{"instruction", "return-503"}, {"probability", 2}}}}}, "p.json");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("p.json: faults[0]: probability") == 0);
  CHECK_FALSE(FaultProfile::Parse({{"faults", {{{"instruction", "nope"}, {"probability", 0.5}}}}}, "p").ok());
  CHECK_FALSE(FaultProfile::Parse({{"faults", json::array()}, {"sed", 1}}, "p").ok());
  const json spec = {{"seed", 42},
                     {"faults",
                      {{{"instruction", "return-503"}, {"probability", 0.3}},
                       {{"instruction", "corrupt-byte"}, {"probability", 0.2}, {"methods", {"storage.objects.get"}}}}}};
  auto a = FaultProfile::Parse(spec, "p"), b = FaultProfile::Parse(spec, "p");
  REQUIRE(a);
  REQUIRE(b);
  int fired = 0, corrupt = 0;
  for (int i = 0; i < 2000; ++i) {
    const auto fa = a->Draw("storage.objects.get", std::nullopt), fb = b->Draw("storage.objects.get", std::nullopt);
    REQUIRE(fa.has_value() == fb.has_value());
    fired += fa.has_value();
    const auto ca = a->Draw("storage.objects.get", 100), cb = b->Draw("storage.objects.get", 100);
    REQUIRE(ca.has_value() == cb.has_value());
    corrupt += ca.has_value();
    CHECK_FALSE(a->Draw("storage.objects.list", 100).has_value());  // corrupt-byte is for objects.get here
    (void)b->Draw("storage.objects.list", 100);
  }
  CHECK(fired > 450);  // 0.3 of 2000 = 600
  CHECK(fired < 750);
  CHECK(corrupt > 300);  // 0.2 of 2000 = 400
  CHECK(corrupt < 500);
}

TEST_CASE("resumable Content-Range: the four forms, and garbage refused by name", "[fake_gcs][resumable]") {
  auto chunk = ParseUploadContentRange("bytes 0-262143/*");
  REQUIRE(chunk);
  CHECK(chunk->has_bytes);
  CHECK(chunk->first == 0);
  CHECK(chunk->last == 262143);
  CHECK_FALSE(chunk->total);
  auto last = ParseUploadContentRange(" bytes 262144-262148/262149 ");
  REQUIRE(last);
  CHECK(last->first == 262144);
  CHECK(last->total == 262149u);
  auto query = ParseUploadContentRange("bytes */*");
  REQUIRE(query);
  CHECK_FALSE(query->has_bytes);
  CHECK_FALSE(query->total);
  auto finish = ParseUploadContentRange("bytes */0");
  REQUIRE(finish);
  CHECK_FALSE(finish->has_bytes);
  CHECK(finish->total == 0u);
  for (const char* bad :
       {"bytes 5-4/*", "bytes 0-9/5", "bytes 0-9", "items 0-9/10", "bytes a-b/*", "bytes -5/*", "bytes 0-1/x", ""}) {
    INFO(bad);
    auto r = ParseUploadContentRange(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("Content-Range '" + std::string(bad) + "'") == 0);
  }
}

TEST_CASE("object resources: writable fields applied, nulls clear, wrong types refused", "[fake_gcs][object_ops]") {
  ObjectAttributes a;
  REQUIRE(ApplyObjectResource(nlohmann::json::parse(R"({"contentType": "text/x", "cacheControl": "no-cache",
      "contentEncoding": "gzip", "contentDisposition": "inline", "contentLanguage": "en",
      "metadata": {"k1": "v1", "k2": "v2"}, "name": "read-only", "size": "99"})"),
                              a)
              .ok());
  CHECK(a.content_type == "text/x");
  CHECK(a.cache_control == "no-cache");
  CHECK(a.content_encoding == "gzip");
  CHECK(a.content_disposition == "inline");
  CHECK(a.content_language == "en");
  CHECK(a.metadata == std::map<std::string, std::string>{{"k1", "v1"}, {"k2", "v2"}});
  REQUIRE(
      ApplyObjectResource(nlohmann::json::parse(R"({"contentType": null, "metadata": {"k1": null, "k3": "v3"}})"), a)
          .ok());
  CHECK(a.content_type == "application/octet-stream");
  CHECK(a.metadata == std::map<std::string, std::string>{{"k2", "v2"}, {"k3", "v3"}});
  REQUIRE(ApplyObjectResource(nlohmann::json::parse(R"({"metadata": null, "cacheControl": null})"), a).ok());
  CHECK(a.metadata.empty());
  CHECK(a.cache_control.empty());
  CHECK_FALSE(ApplyObjectResource(nlohmann::json::parse(R"({"contentType": 5})"), a).ok());
  CHECK_FALSE(ApplyObjectResource(nlohmann::json::parse(R"({"metadata": ["x"]})"), a).ok());
  CHECK_FALSE(ApplyObjectResource(nlohmann::json::parse(R"({"metadata": {"k": true}})"), a).ok());
  CHECK_FALSE(ApplyObjectResource(nlohmann::json::array(), a).ok());
}

TEST_CASE("preconditions: generation 0 is no object, metageneration conditions fail on none",
          "[fake_gcs][object_ops]") {
  StoredObject live;
  live.generation = 7;
  live.metageneration = 3;
  using Field = std::optional<std::int64_t> Preconditions::*;
  auto holds = [&](Field field, std::int64_t value, const StoredObject* o) {
    Preconditions c;
    c.*field = value;
    return CheckPreconditions(c, o, "gs://b/o").ok();
  };
  const Field gen = &Preconditions::if_generation_match, not_gen = &Preconditions::if_generation_not_match;
  const Field meta = &Preconditions::if_metageneration_match, not_meta = &Preconditions::if_metageneration_not_match;
  CHECK(CheckPreconditions({}, nullptr, "gs://b/o").ok());
  CHECK(holds(gen, 0, nullptr));
  CHECK_FALSE(holds(gen, 0, &live));
  CHECK(holds(gen, 7, &live));
  CHECK_FALSE(holds(not_gen, 7, &live));
  CHECK(holds(not_gen, 0, &live));
  CHECK_FALSE(holds(not_gen, 0, nullptr));
  CHECK(holds(meta, 3, &live));
  CHECK_FALSE(holds(meta, 3, nullptr));
  CHECK_FALSE(holds(not_meta, 3, &live));
  CHECK(holds(not_meta, 2, &live));
  Preconditions five;
  five.if_generation_match = 5;
  auto failed = CheckPreconditions(five, &live, "gs://b/o");
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == ErrorCode::kFailedPrecondition);
  CHECK(failed.error().message == "ifGenerationMatch=5 but gs://b/o has generation 7");
}

}  // namespace
}  // namespace pflab::fake_gcs
