// Build-time tool: writes a C++ source file that holds the bytes of other files as string constants,
// so the pflab binary carries its data (the network profiles, the HTML report's charting libraries)
// and works wherever it is installed or copied.
//
//   pflab_embed_file OUT.cc NAME=FILE [NAME=FILE]...
//
// defines `extern const std::string_view pflab::embedded::NAME` for each FILE, byte for byte
// (embedded NUL bytes included). Printable ASCII stays as it is and everything else becomes a
// three-digit octal escape, which, unlike a hex escape, cannot swallow the character after it.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace {

bool IsIdentifier(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// The bytes as adjacent string literals of at most ~100 source characters per line.
void WriteLiteral(std::ostream& out, const std::string& bytes) {
  std::string line;
  auto flush = [&] {
    out << "    \"" << line << "\"\n";
    line.clear();
  };
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' && c != '?') {
      line += static_cast<char>(c);
    } else {
      char escape[5];
      std::snprintf(escape, sizeof escape, "\\%03o", c);
      line += escape;
    }
    if (line.size() >= 100) flush();
  }
  if (!line.empty() || bytes.empty()) flush();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: pflab_embed_file OUT.cc NAME=FILE [NAME=FILE]...\n";
    return 2;
  }
  const std::string out_path = argv[1];
  std::ostringstream out;
  out << "// Generated at build time by tools/embed_file.cc; do not edit.\n"
      << "#include <string_view>\n\nnamespace pflab::embedded {\n";
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto eq = arg.find('=');
    const std::string name = eq == std::string::npos ? "" : arg.substr(0, eq);
    if (!IsIdentifier(name)) {
      std::cerr << "pflab_embed_file: '" << arg << "': expected NAME=FILE with NAME a C++ identifier\n";
      return 2;
    }
    const std::string file = arg.substr(eq + 1);
    std::ifstream in(file, std::ios::binary);
    if (!in.is_open()) {
      std::cerr << "pflab_embed_file: " << file << ": cannot open\n";
      return 1;
    }
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
      std::cerr << "pflab_embed_file: " << file << ": cannot read\n";
      return 1;
    }
    out << "\n// " << file << " (" << bytes.size() << " bytes)\n"
        << "extern const std::string_view " << name << ";\n"
        << "const std::string_view " << name << "{\n";
    WriteLiteral(out, bytes);
    out << "    , " << bytes.size() << "};\n";
  }
  out << "\n}  // namespace pflab::embedded\n";
  // Written whole to a temporary file first, so an interrupted build never leaves half a source file.
  const std::string tmp = out_path + ".tmp";
  {
    std::ofstream file(tmp, std::ios::binary);
    file << out.str();
    file.close();
    if (!file) {
      std::cerr << "pflab_embed_file: " << tmp << ": cannot write\n";
      return 1;
    }
  }
  if (std::rename(tmp.c_str(), out_path.c_str()) != 0) {
    std::cerr << "pflab_embed_file: " << out_path << ": cannot write\n";
    return 1;
  }
  return 0;
}
