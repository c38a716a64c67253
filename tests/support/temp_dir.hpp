// tests/support/temp_dir.hpp: a fresh folder under the system's temporary folder, removed with
// everything in it when the TempDir goes out of scope; dir / "name" is a file's path in it.
// Readable by everyone (0755), so that a test running a reader as another user can get in.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <system_error>

#include <stdlib.h>

namespace glia::testing {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "glia-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
    std::filesystem::permissions(path, std::filesystem::perms(0755));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  // The path of a file in the folder, as a string.
  std::string operator/(const std::string& name) const { return (path / name).string(); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace glia::testing
