// Object checksums as GCS reports them: CRC32C (Castagnoli) and MD5, each base64 of the raw digest
// (CRC32C big-endian), as in the `crc32c`/`md5Hash` metadata fields and the `x-goog-hash` header.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pflab {

/// Extends a CRC32C over more bytes; start with 0. Uses SSE4.2 when the CPU has it.
std::uint32_t Crc32cExtend(std::uint32_t crc, const void* data, std::size_t size);

/// Incremental MD5 (OpenSSL).
class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;
  void Update(const void* data, std::size_t size);
  std::array<std::uint8_t, 16> Final();

 private:
  void* ctx_;  // EVP_MD_CTX, kept opaque so OpenSSL's headers stay out of ours
};

std::string Base64Encode(std::string_view bytes);
/// Standard alphabet with padding; nullopt on any other character or a bad length.
std::optional<std::string> Base64Decode(std::string_view text);

/// The `crc32c` field/header value: base64 of the 4 big-endian bytes.
std::string Crc32cToBase64(std::uint32_t crc);
/// The `md5Hash` field/header value.
std::string Md5ToBase64(const std::array<std::uint8_t, 16>& digest);

/// Finds `name=` (crc32c or md5) in one or more x-goog-hash values, which GCS sends either as
/// separate header lines or as one comma-joined line; pass every line joined by commas.
std::optional<std::string> FindGoogHash(std::string_view header, std::string_view name);

}  // namespace pflab
