// glia/data/cifar10.hpp: reading the CIFAR-10 binary version.
//
// Contract:
// - load_cifar10(dir, split, limit) reads dir/data_batch_1.bin .. data_batch_5.bin (Train,
//   50,000 images) or dir/test_batch.bin (Test, 10,000 images). Each file is a sequence of
//   3073-byte records: 1 label byte (0..9), then 1024 red, 1024 green and 1024 blue bytes, each
//   plane row-major 32 x 32. That is already CHW, so records are copied as they are into an
//   ImageDataset of 3 x 32 x 32 uint8 images. limit > 0 stops after that many records (the
//   first ones, in file order) and reads no further; limit 0 reads everything.
// - Class names come from dir/batches.meta.txt (one per line, line i = label i; blank lines,
//   trailing spaces/tabs/CRs and a leading UTF-8 byte-order mark ignored) when it exists, else
//   the standard ten names. Each must be a valid class name (class_names.hpp: 1..128 bytes of
//   UTF-8, no control characters) and differ from the others. The file is read with bounded
//   memory: a line is refused at the byte that makes its name longer than 128 bytes (a 10 MB
//   line is never held whole), and the file after 64 KiB.
// - Every file of the split is checked with stat before anything is read, so a missing data_batch_5
//   is reported at once and a huge file is refused without reading it:
//     IoError     a missing file (the message says where to download the data), a folder or
//                 other non-regular file where a batch file should be, a file that cannot be
//                 opened or read (with the system's reason and the byte offset);
//     FormatError an empty file; a size that is not a multiple of 3073 (the message gives the
//                 size and the offset of the incomplete trailing record); a file of more than
//                 100,000 records (10 x an official batch: not a CIFAR-10 batch); a label above 9
//                 (file, record index, byte offset, value); a batches.meta.txt without exactly
//                 ten names, with a line of more than 128 bytes, an invalid class name or the
//                 same name twice (the message gives the line number and byte offset, and
//                 shows the name with control bytes as \xNN);
//     ValueError  a negative limit.
//   Every message names the file at fault.
// - is_cifar10_dir(dir) is true when dir holds data_batch_1.bin or test_batch.bin; it never
//   throws.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "glia/core/error.hpp"
#include "glia/data/class_names.hpp"
#include "glia/data/dataset.hpp"

namespace glia {

enum class CifarSplit { Train, Test };

namespace detail {

constexpr Index kCifarImageBytes = 3 * 32 * 32;
constexpr Index kCifarRecordBytes = 1 + kCifarImageBytes;
// The official batches hold 10,000 records; ten times that is certainly not a CIFAR-10 batch,
// and refusing it up front keeps a wrong path (a disk image, a 10 GB file) from being read.
constexpr Index kCifarMaxRecords = 100000;
constexpr const char* kCifarDownloadHint =
    "download the CIFAR-10 binary version from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz "
    "(or run scripts/download-cifar10) and pass its cifar-10-batches-bin folder";

inline std::string join_path(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

inline std::vector<std::string> cifar10_files(CifarSplit split) {
  if (split == CifarSplit::Test) return {"test_batch.bin"};
  return {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"};
}

// The size of a batch file, after checking (with stat only) that it can be one.
inline Index cifar10_checked_size(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found)
    throw IoError(cat("CIFAR-10: missing file '", path, "'; ", kCifarDownloadHint));
  if (ec) throw IoError(cat("CIFAR-10: cannot access '", path, "': ", ec.message()));
  if (st.type() == fs::file_type::directory)
    throw IoError(cat("CIFAR-10: '", path, "' is a directory, expected a batch file"));
  if (st.type() != fs::file_type::regular)  // a FIFO or device would block or never end
    throw IoError(cat("CIFAR-10: '", path, "' is not a regular file"));
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) throw IoError(cat("CIFAR-10: cannot get the size of '", path, "': ", ec.message()));
  if (size == 0) throw FormatError(cat("CIFAR-10: '", path, "' is empty (0 bytes)"));
  if (size > static_cast<std::uintmax_t>(kCifarMaxRecords * kCifarRecordBytes))
    throw FormatError(cat("CIFAR-10: '", path, "' has ", size, " bytes, more than ", kCifarMaxRecords, " records of ",
                          kCifarRecordBytes, " bytes: not a CIFAR-10 batch file"));
  const Index bytes = static_cast<Index>(size);
  if (bytes % kCifarRecordBytes != 0) {
    const Index whole = bytes / kCifarRecordBytes;
    throw FormatError(cat("CIFAR-10: '", path, "' has ", bytes, " bytes, not a multiple of the ", kCifarRecordBytes,
                          "-byte record: record ", whole, " at byte offset ", whole * kCifarRecordBytes,
                          " is incomplete (", bytes % kCifarRecordBytes, " of ", kCifarRecordBytes, " bytes)"));
  }
  return bytes;
}

// batches.meta.txt may hold ten names of at most kMaxClassNameBytes and some blank lines: a
// longer file is not one (refused after this many bytes, however it is laid out).
constexpr long long kCifarMaxMetaBytes = 64 * 1024;

// Reads the non-blank lines of batches.meta.txt (one class name each; trailing spaces, tabs and
// CRs removed; a UTF-8 byte-order mark at the start skipped) until EOF or an 11th name, with
// places[i] = "line L (byte offset B)". Bounded: a line is refused as soon as it is longer than
// a class name may be, so a 10 MB line is never held, and the file after kCifarMaxMetaBytes.
inline void read_class_name_lines(std::FILE* f, const std::string& path, std::vector<std::string>& names,
                                  std::vector<std::string>& places) {
  unsigned char bom[3] = {0, 0, 0};
  long long at = static_cast<long long>(std::fread(bom, 1, 3, f));
  if (at == 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF) {
    // skipped
  } else if (std::fseek(f, 0, SEEK_SET) == 0) {
    at = 0;
  } else {
    throw IoError(cat("CIFAR-10: cannot read '", path, "': ", std::strerror(errno)));
  }
  std::string line, blanks;  // blanks: spaces, tabs, CRs after the last other byte of the line
  long long line_no = 1, line_start = at;
  auto place = [&] { return cat("line ", line_no, " (byte offset ", line_start, ")"); };
  for (int c; names.size() <= 10 && (c = std::getc(f)) != EOF;) {
    if (++at > kCifarMaxMetaBytes)
      throw FormatError(cat("CIFAR-10: '", path, "' has more than ", kCifarMaxMetaBytes,
                            " bytes: too long for a list of ten class names (one per line)"));
    if (c == '\n') {
      if (!line.empty()) {
        names.push_back(line);
        places.push_back(place());
      }
      line.clear();
      blanks.clear();
      ++line_no;
      line_start = at;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      if (line.size() + blanks.size() < kMaxClassNameBytes) blanks += static_cast<char>(c);
      else blanks = std::string(kMaxClassNameBytes, ' ');  // any further byte makes the line too long
    } else {
      if (line.size() + blanks.size() + 1 > kMaxClassNameBytes)
        throw FormatError(cat("CIFAR-10: '", path, "': ", place(), ": the line is longer than ", kMaxClassNameBytes,
                              " bytes (it starts '", printable_name(line.substr(0, 32)), "...'); a class name is 1..",
                              kMaxClassNameBytes, " bytes of UTF-8 without control characters"));
      line += blanks;
      line += static_cast<char>(c);
      blanks.clear();
    }
  }
  if (std::ferror(f))
    throw IoError(cat("CIFAR-10: cannot read '", path, "' at byte offset ", at, ": ", std::strerror(errno)));
  if (!line.empty() && names.size() <= 10) {  // a last line without a line feed
    names.push_back(line);
    places.push_back(place());
  }
}

inline std::vector<std::string> cifar10_class_names(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string path = join_path(dir, "batches.meta.txt");
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found)
    return {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  if (st.type() != fs::file_type::regular) throw IoError(cat("CIFAR-10: '", path, "' is not a regular file"));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw IoError(cat("CIFAR-10: cannot open '", path, "': ", std::strerror(errno)));
  std::vector<std::string> names, places;
  read_class_name_lines(file.get(), path, names, places);
  validate_class_names(names, places, cat("CIFAR-10: '", path, "'"));
  if (names.size() > 10)
    throw FormatError(cat("CIFAR-10: '", path, "' has more than 10 class names, expected 10 (one per line); ",
                          "the 11th is on ", places.back()));
  if (names.size() != 10)
    throw FormatError(
        cat("CIFAR-10: '", path, "' has ", names.size(), " class names, expected 10 (one per line)"));
  return names;
}

}  // namespace detail

inline bool is_cifar10_dir(const std::string& dir) {
  std::error_code ec;
  for (const char* name : {"data_batch_1.bin", "test_batch.bin"})
    if (std::filesystem::is_regular_file(detail::join_path(dir, name), ec)) return true;
  return false;
}

inline ImageDataset load_cifar10(const std::string& dir, CifarSplit split, Index limit = 0) {
  using detail::kCifarImageBytes;
  using detail::kCifarRecordBytes;
  if (limit < 0) throw ValueError(detail::cat("load_cifar10: negative limit ", limit));
  const std::vector<std::string> names = detail::cifar10_files(split);

  // Stat every file first: fail before a long read, and size the buffers exactly.
  std::vector<std::string> paths;
  std::vector<Index> records;
  Index total = 0;
  for (const std::string& name : names) {
    paths.push_back(detail::join_path(dir, name));
    records.push_back(detail::cifar10_checked_size(paths.back()) / kCifarRecordBytes);
    total += records.back();
  }
  if (limit > 0) total = std::min(total, limit);

  ImageDataset d;
  d.source = dir;
  d.class_names = detail::cifar10_class_names(dir);
  d.labels.reserve(static_cast<std::size_t>(total));
  d.pixels.resize(static_cast<std::size_t>(total * kCifarImageBytes));

  constexpr Index kChunk = 1024;  // records per read: 3 MB, so memory stays flat
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(kChunk * kCifarRecordBytes));
  for (std::size_t f = 0; f < paths.size() && d.size() < total; ++f) {
    const std::string& path = paths[f];
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) throw IoError(detail::cat("CIFAR-10: cannot open '", path, "': ", std::strerror(errno)));
    const Index wanted = std::min(records[f], total - d.size());
    for (Index r0 = 0; r0 < wanted; r0 += kChunk) {
      const Index n = std::min(kChunk, wanted - r0);
      const std::size_t bytes = static_cast<std::size_t>(n * kCifarRecordBytes);
      const std::size_t got = std::fread(buf.data(), 1, bytes, file.get());
      if (got != bytes) {
        const Index at = r0 * kCifarRecordBytes + static_cast<Index>(got);
        if (std::ferror(file.get()))
          throw IoError(
              detail::cat("CIFAR-10: cannot read '", path, "' at byte offset ", at, ": ", std::strerror(errno)));
        throw IoError(detail::cat("CIFAR-10: '", path, "' ended at byte offset ", at,
                                  ", before the size it had when checked (was it modified while being read?)"));
      }
      for (Index r = 0; r < n; ++r) {
        const std::uint8_t* rec = buf.data() + r * kCifarRecordBytes;
        if (rec[0] > 9)
          throw FormatError(detail::cat("CIFAR-10: '", path, "': record ", r0 + r, " (byte offset ",
                                        (r0 + r) * kCifarRecordBytes, ") has label ", int(rec[0]), ", expected 0..9"));
        std::memcpy(d.pixels.data() + d.size() * kCifarImageBytes, rec + 1, kCifarImageBytes);
        d.labels.push_back(rec[0]);
      }
    }
  }
  return d;
}

}  // namespace glia
