// The report layer: JSON, run records, log.csv, PNG, SVG charts and the HTML pages.
#include <catch2/catch.hpp>

#include <glia/core/text_format.hpp>
#include <glia/report.hpp>
#include <glia/train/epoch_log.hpp>

#include "report_check.hpp"  // fuzz/: fuzz_report's check of a written page

// stb_image decodes the PNGs back. STB_IMAGE_STATIC keeps its symbols local to this file, so it
// cannot clash with another test file or header that compiles stb_image too.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace glia;
using Catch::Matchers::Contains;
using glia::fuzz::update_run_summary;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "glia-report-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_plain(const std::string& path, const std::string& text) { write_file_atomic(path, text); }

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) ++n;
  return n;
}

EpochRecord make_epoch(int epoch) {
  EpochRecord e;
  e.epoch = epoch;
  e.lr = 0.1 / epoch;
  e.seconds = 12.25 + epoch;
  e.train_loss = 2.0 / 3.0 / epoch;
  e.train_correct = 30000 + 1000 * epoch;
  e.train_total = 50000;
  e.train_accuracy = 100.0 * static_cast<double>(e.train_correct) / 50000.0;  // percent, as the trainer records
  e.test_loss = 0.7 + 0.01 * epoch;
  e.test_correct = 6000 + 500 * epoch;
  e.test_total = 10000;
  e.test_accuracy = 100.0 * static_cast<double>(e.test_correct) / 10000.0;
  e.images_per_second = 4321.125;
  return e;
}

RunRecord make_run(const std::string& name, int epochs) {
  RunRecord r;
  r.name = name;
  r.recipe = "baseline";
  r.norm = name;
  r.seed = 18446744073709551557ull;  // > int64 max: must survive JSON exactly
  r.threads = 2;
  r.parameters = 48178;
  for (int i = 1; i <= epochs; ++i) r.epochs.push_back(make_epoch(i));
  r.class_names = {"cat", "dog", "ship"};
  r.confusion = {{90, 8, 2}, {20, 75, 5}, {1, 2, 97}};
  r.train_class_counts = {5000, 4990, 5010};
  update_run_summary(r);
  r.seconds = 3723.5;
  r.train_images_per_second = 4000.5;
  r.status = "finished";
  r.command = "glia_train --norm \"bn\" --epochs 3";
  r.commit = "0e0ee60";
  r.config = {{"batch_size", "128"}, {"lr", "0.1"}, {"weight_decay", "5e-4"}};
  return r;
}

// CHW image k of a test set: every pixel's channel c holds a value that encodes (k, c, y, x).
std::vector<std::uint8_t> make_images(int count, int h, int w) {
  std::vector<std::uint8_t> v;
  for (int k = 0; k < count; ++k)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) v.push_back(static_cast<std::uint8_t>((k * 50 + c * 17 + y * 5 + x * 3) % 256));
  return v;
}

}  // namespace

// ---- JSON ------------------------------------------------------------------------------------

TEST_CASE("JSON files: doubles exactly, NaN as null, any bytes as valid UTF-8, errors name the file and offset", "[report]") {
  const std::vector<double> doubles = {0.1, 1.0 / 3.0, -2.5, 1e-300, 5e-324, DBL_MAX, -DBL_MIN, 3.141592653589793,
                                        123456.789, 1.152921504606847e18, 1e21, 0.0, -0.0, 4.0};
  Json root = Json::object();
  root["doubles"] = doubles;
  root["u64_max"] = std::numeric_limits<std::uint64_t>::max();
  root["i64_min"] = std::numeric_limits<std::int64_t>::min();
  root["z_first"] = 1;  // keys keep the order they were written in
  root["a_second"] = 2;
  const Json back = parse_json(dump_json(root), "t.json");
  const JsonReader r("t.json");
  for (std::size_t i = 0; i < doubles.size(); ++i) {
    double d = 0;
    r.get(back["doubles"][i], "doubles", d);
    CHECK(same_bits(d, doubles[i]));
  }
  std::uint64_t u = 0;
  std::int64_t i64 = 0;
  r.field(back, "u64_max", "", u);
  r.field(back, "i64_min", "", i64);
  CHECK(u == std::numeric_limits<std::uint64_t>::max());
  CHECK(i64 == std::numeric_limits<std::int64_t>::min());
  CHECK(dump_json(back).find("\"z_first\"") < dump_json(back).find("\"a_second\""));
  CHECK(dump_json(Json(std::nan(""))) == "null");
  CHECK(dump_json(Json(-HUGE_VAL)) == "null");
  CHECK(dump_json(Json("bad \xFF byte")) == "\"bad \xEF\xBF\xBD byte\"");
  double nan_back = 0;
  r.get(Json(nullptr), "x", nan_back);
  CHECK(std::isnan(nan_back));
  // Types and ranges are checked, naming the file and the key.
  int small = 0;
  std::string text;
  CHECK_THROWS_WITH(r.field(parse_json("{\"k\": 3.5}", "t.json"), "k", "", small), "t.json: key 'k': expected an integer, got a fraction");
  CHECK_THROWS_WITH(r.field(parse_json("{\"k\": 3000000000}", "t.json"), "k", "", small), Contains("key 'k': out of range: 3000000000"));
  CHECK_THROWS_WITH(r.field(parse_json("{\"k\": -1}", "t.json"), "k", "", u), Contains("key 'k': out of range: -1"));
  CHECK_THROWS_WITH(r.field(parse_json("{\"k\": 1}", "t.json"), "k", "p", text), "t.json: key 'p.k': expected a string, got number");
  CHECK_THROWS_WITH(r.field(parse_json("{}", "t.json"), "seed", "", u), "t.json: missing key 'seed'");
  // Syntax errors: nlohmann's strict parser, with the file and the byte offset.
  const auto error_of = [](const std::string& json_text) -> std::string {
    try {
      parse_json(json_text, "t.json");
    } catch (const FormatError& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK_THAT(error_of("[1, 2,]"), Contains("t.json: invalid JSON at offset 6") && Contains("line 1, column 7"));
  CHECK_THAT(error_of("{\"a\": 1,}"), Contains("offset 8"));
  CHECK_THAT(error_of("01"), Contains("t.json: invalid JSON at offset"));
  CHECK_THAT(error_of("1 2"), Contains("offset 2"));
  CHECK_THAT(error_of("\"\xC3(\""), Contains("t.json: invalid JSON") && Contains("UTF-8") && Contains("\\xC3("));
  CHECK_THAT(error_of("[1] // comment"), Contains("t.json: invalid JSON"));
  CHECK_THAT(error_of("NaN"), Contains("offset 0"));
  CHECK(error_of("{\"a\": {\"k\": 1, \"k\": 2}}") == "t.json: invalid JSON: duplicate key 'k'");
  CHECK(parse_json("[{\"k\": 1}, {\"k\": 2}]", "t.json")[1]["k"] == 2);  // the same key in two objects
  CHECK_THAT(error_of("1e999"), Contains("t.json: invalid JSON") && Contains("1e999"));
  CHECK_THAT(error_of(""), Contains("t.json: invalid JSON at offset 0"));
  CHECK_THAT(error_of("{\n  \"a\": [1,\n  2 3]\n}"), Contains("offset 17") && Contains("line 3, column 5"));
  CHECK(parse_json(std::string(2000, '[') + std::string(2000, ']'), "deep.json").is_array());
  CHECK_THROWS_AS(read_json_file("/nonexistent/glia/x.json", "metrics file"), IoError);
}

TEST_CASE("Each record's fields are listed once: log.csv, metrics.json and the checkpoint use the same names", "[report]") {
  std::vector<std::string> names;
  const EpochRecord names_only;
  for_each_field(names_only, [&](const char* name, const auto&) { names.push_back(name); });
  REQUIRE(names.size() == 12);
  std::string header;
  for (const auto& n : names) header += (header.empty() ? "" : ",") + n;
  CHECK(log_csv_header() == header);
  const Json epoch = epoch_json(make_epoch(1));
  std::vector<std::string> keys;
  for (const auto& kv : epoch.items()) keys.push_back(kv.key());
  CHECK(keys == names);
  Checkpoint c;
  RunRecord run = make_run("bn", 1);
  put_run_record(c, run);
  for (const auto& n : names) CHECK(c.meta.count("last_epoch." + n) == 1);
  for_each_summary_field(run, [&](const char* name, const auto&) {
    CHECK(c.meta.count(std::string("run.") + name) == 1);
    CHECK(metrics_json(run).contains(name));
  });
}

// ---- RunRecord, metrics.json, log.csv --------------------------------------------------------

TEST_CASE("RunRecord round-trips through metrics.json", "[report]") {
  TempDir tmp;
  RunRecord run = make_run("bn", 3);
  run.epochs[1].test_loss = std::nan("");  // a diverged evaluation is written as null
  CHECK(run.best_epoch == 3);
  CHECK(run.best_test_accuracy == 75.0);
  CHECK(run.final_train_accuracy == 66.0);

  const std::string dir = tmp / "runs/bn";  // created on demand
  const std::string path = save_metrics_json(dir, run);
  CHECK(path == dir + "/metrics.json");
  CHECK_THAT(read_file(path), Contains("\"test_loss\": null") && Contains("\"seed\": 18446744073709551557"));
  const RunRecord back = load_run_record(dir);
  CHECK(back.name == run.name);
  CHECK(back.recipe == run.recipe);
  CHECK(back.norm == run.norm);
  CHECK(back.seed == run.seed);
  CHECK(back.threads == 2);
  CHECK(back.parameters == 48178);
  CHECK(back.class_names == run.class_names);
  CHECK(back.confusion == run.confusion);
  CHECK(back.train_class_counts == run.train_class_counts);
  CHECK(back.best_test_accuracy == run.best_test_accuracy);
  CHECK(back.best_epoch == run.best_epoch);
  CHECK(back.final_test_accuracy == run.final_test_accuracy);
  CHECK(back.final_train_accuracy == run.final_train_accuracy);
  CHECK(back.final_test_accuracy_tta == -1);  // not measured: absent from the file
  CHECK_THAT(read_file(path), !Contains("final_test_accuracy_tta"));
  CHECK(back.seconds == run.seconds);
  CHECK(back.train_images_per_second == run.train_images_per_second);
  CHECK(back.status == "finished");
  CHECK(back.command == run.command);
  CHECK(back.commit == run.commit);
  CHECK(back.config == run.config);
  run.final_test_accuracy_tta = 76.5;
  save_metrics_json(dir, run);
  CHECK(load_run_record(dir).final_test_accuracy_tta == 76.5);
  REQUIRE(back.epochs.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    const EpochRecord &a = run.epochs[i], &b = back.epochs[i];
    CHECK(b.epoch == a.epoch);
    CHECK(same_bits(b.lr, a.lr));
    CHECK(b.seconds == a.seconds);
    CHECK(same_bits(b.train_loss, a.train_loss));
    CHECK(b.train_correct == a.train_correct);
    CHECK(b.train_total == a.train_total);
    CHECK(b.train_accuracy == a.train_accuracy);
    if (i == 1) CHECK(std::isnan(b.test_loss));
    else CHECK(b.test_loss == a.test_loss);
    CHECK(b.test_correct == a.test_correct);
    CHECK(b.test_total == a.test_total);
    CHECK(b.test_accuracy == a.test_accuracy);
    CHECK(b.images_per_second == a.images_per_second);
  }
  // Saving again replaces the file whole (no temporary left behind).
  run.status = "stopped: interrupted";
  save_metrics_json(dir, run);
  CHECK(load_run_record(dir).status == "stopped: interrupted");
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) files += entry.is_regular_file() ? 1 : 0;
  CHECK(files == 1);
}

TEST_CASE("load_run_record names the file and the missing or bad key", "[report]") {
  TempDir tmp;
  Json v = metrics_json(make_run("gn", 2));
  v["epochs"][1].erase("test_loss");
  write_plain(tmp / "metrics.json", dump_json(v));
  const std::string file = tmp / "metrics.json";
  CHECK_THROWS_WITH(load_run_record(tmp.path), Contains(file) && Contains("missing key 'epochs[1].test_loss'"));

  Json w = metrics_json(make_run("gn", 1));
  w["threads"] = "two";
  write_plain(file, dump_json(w));
  CHECK_THROWS_WITH(load_run_record(tmp.path), Contains(file) && Contains("key 'threads'") && Contains("expected an integer"));

  Json c = metrics_json(make_run("gn", 1));
  c["confusion"] = parse_json("[[1, 2], [3]]", "literal");
  write_plain(file, dump_json(c));
  CHECK_THROWS_WITH(load_run_record(tmp.path), Contains("confusion[1]") && Contains("square"));

  write_plain(file, "{\"name\": \"x\",}");
  CHECK_THROWS_WITH(load_run_record(tmp.path), Contains(file) && Contains("offset 13"));
  Json s = metrics_json(make_run("gn", 1));
  s["schema"] = "glia.run_record/9";
  write_plain(file, dump_json(s));
  CHECK_THROWS_WITH(load_run_record(tmp.path), Contains(file) && Contains("key 'schema'") && Contains("glia.run_record/1"));
  CHECK_THROWS_AS(load_run_record(tmp / "missing"), IoError);
}

TEST_CASE("log.csv: header once, one line per epoch, read back", "[report]") {
  TempDir tmp;
  const std::string dir = tmp / "run";
  std::vector<EpochRecord> epochs = {make_epoch(1), make_epoch(2), make_epoch(3)};
  epochs[2].train_loss = std::nan("");
  epochs[2].test_loss = HUGE_VAL;
  std::string path;
  for (const auto& e : epochs) path = append_log_csv(dir, e);
  CHECK(path == dir + "/log.csv");
  const std::string text = read_file(path);
  CHECK(count_of(text, "\n") == 4);
  CHECK(text.rfind(
            "epoch,lr,seconds,train_loss,train_correct,train_total,train_accuracy,test_loss,test_correct,test_total,"
            "test_accuracy,images_per_second\n1,0.1,13.25,0.6666666666666666,31000,50000,62,0.71,6500,10000,65,4321.125\n",
            0) == 0);
  std::vector<EpochRecord> back = read_log_csv(path);
  REQUIRE(back.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(back[i].epoch == epochs[i].epoch);
    CHECK(same_bits(back[i].lr, epochs[i].lr));
    CHECK(back[i].train_correct == epochs[i].train_correct);
    CHECK(back[i].test_total == epochs[i].test_total);
    CHECK(back[i].test_accuracy == epochs[i].test_accuracy);
    CHECK(back[i].images_per_second == epochs[i].images_per_second);
  }
  CHECK(same_bits(back[0].train_loss, epochs[0].train_loss));
  CHECK(std::isnan(back[2].train_loss));
  CHECK(back[2].test_loss == HUGE_VAL);

  // A killed run's torn last line (no newline) is skipped; a bad complete line is an error.
  {
    std::ofstream out(path, std::ios::app);
    out << "4,0.05,1";
  }
  CHECK(read_log_csv(path).size() == 3);
  append_line(path, "");  // completes the torn line: now it is a bad line 5
  CHECK_THROWS_WITH(read_log_csv(path), Contains(path + ":5: expected 12 fields, got 3"));
  write_plain(path, log_csv_header() + "\n" + log_csv_line(epochs[0]) + "\n2,0.1,x,1,1,1,1,1,1,1,1,1\n");
  CHECK_THROWS_WITH(read_log_csv(path), Contains(path + ":3: column 'seconds': not a number 'x'"));
  // Columns are found by name, in any order; extra columns are ignored.
  write_plain(path, "note,images_per_second,test_accuracy,test_total,test_correct,test_loss,train_accuracy,train_total,"
                    "train_correct,train_loss,seconds,lr,epoch\nhi,1,0.5,10,5,0.25,0.75,20,15,0.125,2.5,0.01,7\n");
  back = read_log_csv(path);
  REQUIRE(back.size() == 1);
  CHECK(back[0].epoch == 7);
  CHECK(back[0].lr == 0.01);
  CHECK(back[0].train_correct == 15);
  CHECK(back[0].test_accuracy == 0.5);
  write_plain(path, "epoch,lr\n1,0.1\n");
  CHECK_THROWS_WITH(read_log_csv(path), Contains(":1: missing column 'seconds'"));
  CHECK_THROWS_AS(read_log_csv(tmp / "none.csv"), IoError);
}

// ---- PNG ------------------------------------------------------------------------------------

TEST_CASE("encode_png decodes back to the same pixels", "[report]") {
  RgbImage img(5, 7);
  for (std::size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
  const std::vector<std::uint8_t> png = encode_png(img);
  REQUIRE(png.size() > 8);
  CHECK(std::vector<std::uint8_t>(png.begin(), png.begin() + 8) ==
        std::vector<std::uint8_t>{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
  int w = 0, h = 0, c = 0;
  unsigned char* decoded = stbi_load_from_memory(png.data(), static_cast<int>(png.size()), &w, &h, &c, 3);
  REQUIRE(decoded != nullptr);
  CHECK(w == 7);
  CHECK(h == 5);
  CHECK(c == 3);
  CHECK(std::vector<std::uint8_t>(decoded, decoded + 7 * 5 * 3) == img.pixels);
  stbi_image_free(decoded);

  TempDir tmp;
  write_png(tmp / "x.png", img);
  const std::string file = read_file(tmp / "x.png");
  CHECK(file == std::string(png.begin(), png.end()));
  CHECK_THROWS_AS(encode_png(RgbImage()), ValueError);
  RgbImage bad(2, 2);
  bad.pixels.pop_back();
  CHECK_THROWS_AS(encode_png(bad), ValueError);
  CHECK_THROWS_AS(write_png(tmp / "no/such/dir/x.png", img), IoError);
}

TEST_CASE("image_grid places image k at row k / cols, column k % cols", "[report]") {
  const int h = 3, w = 4, count = 5;
  const std::vector<std::uint8_t> chw = make_images(count, h, w);
  const Index rows = 2, cols = 3, scale = 2, margin = 1;
  const RgbImage g = image_grid(chw, h, w, rows, cols, scale, margin, {9, 8, 7});
  CHECK(g.height == rows * (h * scale + margin) + margin);
  CHECK(g.width == cols * (w * scale + margin) + margin);
  for (int k = 0; k < count; ++k) {
    const Index y0 = margin + (k / cols) * (h * scale + margin), x0 = margin + (k % cols) * (w * scale + margin);
    for (int y = 0; y < h * scale; ++y)
      for (int x = 0; x < w * scale; ++x)
        for (int c = 0; c < 3; ++c) {
          const std::uint8_t want = chw[static_cast<std::size_t>(((k * 3 + c) * h + y / scale) * w + x / scale)];
          if (g.at(y0 + y, x0 + x)[c] != want) FAIL("image " << k << " pixel (" << y << "," << x << "," << c << ")");
        }
  }
  // Margins and the empty sixth cell are background.
  CHECK(g.at(0, 0)[0] == 9);
  CHECK(g.at(0, 0)[2] == 7);
  CHECK(g.at(margin + h * scale, 5)[1] == 8);  // the margin row between grid rows
  const Index y5 = margin + (h * scale + margin), x5 = margin + 2 * (w * scale + margin);
  CHECK(g.at(y5 + 1, x5 + 1)[0] == 9);
  CHECK(g.at(g.height - 1, g.width - 1)[0] == 9);
  CHECK_THROWS_AS(image_grid(chw, h, w, 2, 2), ValueError);  // 5 images, 4 cells
  CHECK_THROWS_AS(image_grid(std::vector<std::uint8_t>(10), h, w, 2, 2), ValueError);
}

// ---- SVG ------------------------------------------------------------------------------------

TEST_CASE("SVG charts hold their series, labels and values", "[report]") {
  svg::Series train("train <acc>", {50, 60, 70});
  svg::Series test("test & co", {45, std::nan(""), 65}, "#123456", true);
  svg::LineChartOptions o;
  o.title = "Accuracy";
  o.y_label = "accuracy (%)";
  const std::string chart = svg::line_chart({train, test}, o);
  CHECK(chart.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"360\"", 0) == 0);
  CHECK_THAT(chart, Contains("data-name=\"train &lt;acc&gt;\"") && Contains("data-name=\"test &amp; co\""));
  CHECK_THAT(chart, Contains(">Accuracy</text>") && Contains(">accuracy (%)</text>") && Contains(">epoch</text>"));
  CHECK_THAT(chart, Contains("stroke=\"#123456\"") && Contains("stroke-dasharray"));
  CHECK(count_of(chart, "class=\"legend\"") == 2);
  CHECK(count_of(chart, "<path d=\"M") == 2);
  CHECK(count_of(chart, " M") == 1);  // the NaN makes a gap: the test series restarts its line once
  // Integer epoch ticks 1..3 and y ticks on a 1-2-5 step.
  CHECK_THAT(chart, Contains(">1</text>") && Contains(">3</text>") && Contains(">50</text>") && Contains(">70</text>"));
  CHECK(chart.find("<script") == std::string::npos);
  CHECK(svg::line_chart({train, test}, o) == chart);  // deterministic
  svg::Series bad("bad", {1, 2});
  bad.x = {1};
  CHECK_THROWS_AS(svg::line_chart({bad}), ValueError);
  CHECK_THAT(svg::line_chart({}), Contains("no data"));

  const std::string bars = svg::bar_chart({"airplane", "cat"}, {5000, 4990});
  CHECK_THAT(bars, Contains("data-label=\"airplane\"") && Contains(">5000</text>") && Contains(">4990</text>"));
  CHECK_THROWS_AS(svg::bar_chart({"a"}, {1, 2}), ValueError);

  const std::string cm = svg::confusion_matrix({"cat", "dog"}, {{90, 10}, {25, 1075}});
  CHECK(count_of(cm, "class=\"cell\"") == 4);
  CHECK_THAT(cm, Contains(">90</text>") && Contains(">10</text>") && Contains(">25</text>") && Contains(">1075</text>"));
  CHECK_THAT(cm, Contains("true cat, predicted dog: 10"));
  CHECK(count_of(cm, "class=\"true-label\"") == 2);
  CHECK(count_of(cm, "class=\"pred-label\"") == 2);
  CHECK_THAT(cm, Contains(">predicted</text>") && Contains(">true</text>"));
  CHECK_THROWS_AS(svg::confusion_matrix({}, {{1, 2}}), ValueError);
  // Fewer names than classes: the rest are labelled by number.
  const std::string numbered = svg::confusion_matrix({"a"}, {{1, 2}, {3, 4}});
  CHECK_THAT(numbered, Contains(">a</text>") && Contains(">1</text>") && Contains("true 1, predicted a: 3"));
}

// ---- HTML ------------------------------------------------------------------------------------

TEST_CASE("write_report writes index.html with the table, charts and image grids", "[report]") {
  TempDir tmp;
  const std::string dir = tmp / "bn";
  RunRecord run = make_run("bn", 3);
  ReportImages images;
  images.height = 4;
  images.width = 5;
  images.misclassified = make_images(12, 4, 5);  // more than the 5x2 grid shows
  for (int k = 0; k < 12; ++k) {
    images.mis_true.push_back(k % 3);
    images.mis_pred.push_back((k + 1) % 3);
  }
  images.mis_true[0] = 0;
  images.mis_pred[0] = 1;  // "cat/dog"
  images.samples = make_images(3, 4, 5);
  images.sample_labels = {2, 0, 7};  // 7 has no name: shown as the number

  const std::string index = write_report(dir, run, &images);
  CHECK(index == dir + "/index.html");
  const std::string page = read_file(index);
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  // Per-epoch table: epoch, LR, time, train loss, train correct, train accuracy, test loss, test correct, test accuracy.
  CHECK_THAT(page, Contains("<tr><td class=\"num\">1</td><td class=\"num\">0.1</td><td class=\"num\">13.2&nbsp;s</td>"
                            "<td class=\"num\">0.6667</td><td class=\"num\">31000 / 50000</td><td class=\"num\">62.00&nbsp;%</td>"
                            "<td class=\"num\">0.7100</td><td class=\"num\">6500 / 10000</td><td class=\"num\">65.00&nbsp;%</td></tr>"));
  CHECK_THAT(page, Contains("<td class=\"num\">3</td><td class=\"num\">0.03333</td>"));
  CHECK(count_of(page, "<tr><td class=\"num\">") == 3);
  // Charts: LR, loss, accuracy, confusion matrix, class counts.
  CHECK(count_of(page, "<svg ") == 5);
  CHECK_THAT(page, Contains("data-name=\"learning rate\"") && Contains("data-name=\"train loss\"") &&
                       Contains("data-name=\"test loss\"") && Contains("data-name=\"train accuracy\"") &&
                       Contains("data-name=\"test accuracy\""));
  CHECK_THAT(page, Contains("true cat, predicted dog: 8") && Contains("data-label=\"ship\""));
  // Summary and config.
  CHECK_THAT(page, Contains("18446744073709551557") && Contains("<th>threads</th><td>2</td>") && Contains("48178"));
  CHECK_THAT(page, Contains("75.00&nbsp;% (epoch 3)") && Contains("1&nbsp;h&nbsp;02&nbsp;min"));
  CHECK_THAT(page, Contains("<th>weight_decay</th><td>5e-4</td>") && Contains("--norm &quot;bn&quot;"));
  CHECK_THAT(page, Contains("class=\"status finished\""));
  CHECK(page.find("http-equiv=\"refresh\"") == std::string::npos);
  // Image grids: 10 misclassified tiles captioned true/predicted, 3 samples.
  CHECK(count_of(page, "src=\"misclassified.png\"") == 10);
  CHECK(count_of(page, "src=\"samples.png\"") == 3);
  CHECK_THAT(page, Contains("<figcaption>cat/dog</figcaption>") && Contains("title=\"true: cat, predicted: dog\""));
  CHECK_THAT(page, Contains("<figcaption>ship</figcaption>") && Contains("<figcaption>7</figcaption>"));
  // Offline: no scripts and no links outside the folder.
  CHECK(page.find("<script") == std::string::npos);
  CHECK(page.find("https:") == std::string::npos);
  CHECK(count_of(page, "http:") == count_of(page, "xmlns=\"http://www.w3.org/2000/svg\""));

  // The PNGs exist and hold the 5x2 and 10x1 grids at scale 3 with a margin of 4.
  int w = 0, h = 0, c = 0;
  unsigned char* mis = stbi_load((dir + "/misclassified.png").c_str(), &w, &h, &c, 3);
  REQUIRE(mis != nullptr);
  CHECK(w == 5 * (5 * 3 + 4) + 4);
  CHECK(h == 2 * (4 * 3 + 4) + 4);
  const RgbImage expected = image_grid(images.misclassified.data(), 10, 4, 5, 2, 5, 3, 4);
  CHECK(std::vector<std::uint8_t>(mis, mis + w * h * 3) == expected.pixels);
  stbi_image_free(mis);
  unsigned char* samples = stbi_load((dir + "/samples.png").c_str(), &w, &h, &c, 3);
  REQUIRE(samples != nullptr);
  CHECK(w == 10 * (5 * 3 + 4) + 4);
  CHECK(h == 1 * (4 * 3 + 4) + 4);
  stbi_image_free(samples);
  CHECK(std::filesystem::exists(dir + "/report_images.json"));

  // Without images, the PNGs and their captions are reused; a running run reloads itself.
  run.status = "running";
  run.epochs.push_back(make_epoch(4));
  write_report(dir, run, nullptr);
  const std::string again = read_file(index);
  CHECK(count_of(again, "<tr><td class=\"num\">") == 4);
  CHECK(count_of(again, "src=\"misclassified.png\"") == 10);
  CHECK_THAT(again, Contains("<figcaption>cat/dog</figcaption>") && Contains("<figcaption>7</figcaption>"));
  CHECK_THAT(again, Contains("http-equiv=\"refresh\"") && Contains("class=\"status running\""));
  // Without the layout file, an existing PNG is still shown, whole and without captions.
  std::filesystem::remove(dir + "/report_images.json");
  const std::string plain = read_file(write_report(dir, run, nullptr));
  CHECK(count_of(plain, "src=\"misclassified.png\"") == 1);
  CHECK(count_of(plain, "src=\"samples.png\"") == 1);
  CHECK(plain.find("<figcaption>") == std::string::npos);

  // A fresh folder without images: sections say there is nothing; empty run still renders.
  const std::string empty_page = read_file(write_report(tmp / "empty", RunRecord{}, nullptr));
  CHECK_THAT(empty_page, Contains("No epoch finished yet.") && Contains("No misclassified images recorded."));
  CHECK(empty_page.find("misclassified.png") == std::string::npos);

  images.mis_pred.pop_back();
  CHECK_THROWS_AS(write_report(dir, run, &images), ValueError);
}

TEST_CASE("write_comparison lists every run and their test-accuracy curves", "[report]") {
  TempDir tmp;
  std::vector<RunRecord> runs = {make_run("bn", 3), make_run("gn", 2), make_run("ln", 1)};
  runs[1].epochs[1].test_accuracy = 81.25;
  update_run_summary(runs[1]);
  runs[2].status = "stopped: diverged";
  const std::string path = write_comparison(tmp.path, runs, {"bn/index.html", "gn/index.html", ""});
  CHECK(path == tmp / "comparison.html");
  const std::string page = read_file(path);
  CHECK_THAT(page, Contains("Comparison of 3 run(s)"));
  for (const char* name : {"bn", "gn", "ln"}) CHECK(count_of(page, std::string("data-name=\"") + name + "\"") == 2);
  CHECK_THAT(page, Contains("<a href=\"bn/index.html\">bn</a>") && Contains("<a href=\"gn/index.html\">gn</a>") &&
                       Contains("<tr><td>ln</td>"));
  CHECK_THAT(page, Contains("81.25&nbsp;%") && Contains("class=\"status stopped\">stopped: diverged"));
  CHECK(count_of(page, "<tr><td>") == 3);
  CHECK(page.find("<script") == std::string::npos);
  CHECK_THROWS_AS(write_comparison(tmp.path, runs, {"x"}), ValueError);
}

// ---- Numbers, invalid values and uninitialised memory (issue "Reports cannot leak memory") ------

namespace {

const std::string kRegressions = std::filesystem::path(GLIA_TEST_FIXTURES).parent_path().string() + "/fuzz-regressions/";

// The metrics.json part of a saved fuzz_report input (the bytes before the first NUL).
std::string metrics_part(const std::string& regression) {
  const std::string in = read_file(kRegressions + regression);
  REQUIRE_FALSE(in.empty());
  return in.substr(0, in.find('\0'));
}

// A page is text: valid UTF-8, no NUL or other control character, finite coordinates
// (fuzz/report_check.hpp, the fuzz_report harness's own check).
void check_clean_text(const std::string& name, const std::string& text) {
  INFO(name);
  CHECK(text.find('\0') == std::string::npos);
  CHECK(textfmt::is_valid_utf8(text));
  CHECK(fuzz::report_detail::text_violation(name, text) == "");
}

}  // namespace

TEST_CASE("Number formatting: every double, in every report helper", "[report]") {
  const double inf = HUGE_VAL, nan = std::nan(""), denormal = 5e-324;
  // The one formatter (text_format.hpp).
  CHECK(textfmt::shortest(1e62) == "1e+62");
  CHECK(textfmt::shortest(DBL_MAX) == "1.7976931348623157e+308");
  CHECK(textfmt::shortest(-DBL_MAX) == "-1.7976931348623157e+308");
  CHECK(textfmt::shortest(denormal) == "5e-324");
  CHECK(textfmt::shortest(DBL_MIN) == "2.2250738585072014e-308");
  CHECK(textfmt::shortest(-0.0) == "-0");
  CHECK(textfmt::shortest(nan) == "nan");
  CHECK(textfmt::shortest(inf) == "inf");
  CHECK(textfmt::shortest(-inf) == "-inf");
  CHECK(textfmt::fixed(1234.5, 2) == "1234.50");
  CHECK(textfmt::fixed(1e20, 1) == "100000000000000000000.0");
  CHECK(textfmt::fixed(1e61, 2) == "1.00e+61");  // 65 characters in fixed notation
  CHECK(textfmt::fixed(1e62, 2) == "1.00e+62");
  CHECK(textfmt::fixed(1e300, 2) == "1.00e+300");
  CHECK(textfmt::fixed(-1e308, 2) == "-1.00e+308");
  CHECK(textfmt::fixed(DBL_MAX, 1) == "1.8e+308");
  CHECK(textfmt::fixed(denormal, 2) == "0.00");
  CHECK(textfmt::fixed(-denormal, 2) == "0.00");
  CHECK(textfmt::fixed(-0.0, 2) == "0.00");
  CHECK(textfmt::fixed(-0.004, 2) == "0.00");
  CHECK(textfmt::fixed(-0.005001, 2) == "-0.01");
  CHECK(textfmt::fixed(nan, 2) == "nan");
  CHECK(textfmt::fixed(-inf, 2) == "-inf");
  const std::string deepest = textfmt::fixed(denormal, 100000);  // decimals clamped to kMaxDecimals
  CHECK(deepest.size() == 2 + static_cast<std::size_t>(textfmt::kMaxDecimals));
  CHECK(deepest == "0." + std::string(323, '0') + "49406564584124654");
  CHECK(textfmt::fixed(2.5, -3) == "2");
  CHECK(textfmt::scientific(1.5e-7, 2) == "1.50e-07");
  CHECK(textfmt::scientific(-0.0, 2) == "0");
  CHECK(textfmt::general(1e-5, 4) == "1e-05");
  CHECK(textfmt::general(1.23456e300, 4) == "1.235e+300");
  CHECK(textfmt::general(denormal, 4) == "4.941e-324");
  CHECK(textfmt::general(-0.0, 4) == "0");
  // Every helper goes through it: svg::fixed (chart labels, coordinates, the old percent and
  // number cells), log.csv fields and checkpoint metadata (field_text). metrics.json's numbers
  // are nlohmann's (also the shortest text that reads back the same; NaN and Inf as null).
  CHECK(svg::fixed(1e62, 2) == "1.00e+62");
  CHECK(svg::fixed(1e300, 1) == "1.0e+300");
  CHECK(svg::fixed(-0.0, 1) == "0.0");
  CHECK(svg::fixed(inf, 1) == "inf");
  CHECK(dump_json(Json(1e62)) == "1e+62");
  CHECK(dump_json(Json(DBL_MAX)) == "1.7976931348623157e+308");
  CHECK(dump_json(Json(denormal)) == "5e-324");
  CHECK(dump_json(Json(-0.0)) == "-0.0");
  CHECK(dump_json(Json(nan)) == "null");
  CHECK(dump_json(Json(std::numeric_limits<std::int64_t>::min())) == "-9223372036854775808");
  CHECK(field_text(1e62) == "1e+62");
  CHECK(field_text(-DBL_MAX) == "-1.7976931348623157e+308");
  CHECK(field_text(-0.0) == "-0");
  CHECK(field_text(-inf) == "-inf");
  // The HTML cells: valid values as data, impossible ones marked.
  detail::report::Cells cells;
  CHECK(cells.percent(62.0) == "62.00&nbsp;%");
  CHECK(cells.percent(nan) == "&ndash;");
  CHECK_THAT(cells.percent(1e62), Contains("class=\"invalid\"") && Contains(">invalid (1e+62)<"));
  CHECK_THAT(cells.percent(250), Contains(">invalid (250)<"));
  CHECK_THAT(cells.percent(-0.5), Contains(">invalid (-0.5)<"));
  CHECK_THAT(cells.percent(inf), Contains(">invalid (inf)<"));
  CHECK(cells.percent(-0.0) == "0.00&nbsp;%");
  CHECK(cells.loss(1e300) == "1.0000e+300");
  CHECK(cells.loss(denormal) == "0.0000");
  CHECK(cells.loss(inf) == "inf");  // a diverged evaluation
  CHECK_THAT(cells.loss(-DBL_MAX), Contains(">invalid (-1.7976931348623157e+308)<"));
  CHECK(cells.rate(DBL_MAX) == "1.798e+308");
  CHECK(cells.rate(denormal) == "4.941e-324");
  CHECK(cells.rate(0.03333333) == "0.03333");
  CHECK(cells.duration(1e300) == "1e+300&nbsp;s");
  CHECK(cells.duration(denormal) == "0.0&nbsp;s");
  CHECK(cells.duration(3723.5) == "1&nbsp;h&nbsp;02&nbsp;min");
  CHECK_THAT(cells.duration(-1e308), Contains(">invalid (-1e+308)<"));
  CHECK(cells.number(DBL_MAX, 1) == "1.8e+308");
  CHECK_THAT(cells.number(inf, 1), Contains(">invalid (inf)<"));
  CHECK_THAT(cells.epoch(-3), Contains(">invalid (-3)<"));
  CHECK_THAT(cells.epoch(0), Contains(">invalid (0)<"));
  CHECK(cells.epoch(1) == "1");
  CHECK_THAT(cells.correct_of(12, 10), Contains(">invalid (12 / 10)<"));
  CHECK(cells.correct_of(10, 10) == "10 / 10");
  CHECK(cells.invalid() == 10);
}

TEST_CASE("SVG charts stay finite and readable with huge, tiny and non-finite values", "[report]") {
  const double inf = HUGE_VAL, nan = std::nan("");
  // Values beyond 1e100, or not finite, are gaps; the rest is drawn on a sane axis.
  const std::string wild = svg::line_chart({svg::Series("wild", {1e300, -1e308, 5e-324, DBL_MAX, nan, inf, 1, 2})});
  check_clean_text("wild", wild);
  CHECK(count_of(wild, "<circle") == 3);  // 5e-324, 1 and 2
  // A range of 1e-300 (the old axis wanted 300 decimals) is widened; coordinates stay finite.
  const std::string tiny = svg::line_chart({svg::Series("tiny", {1e-300, 2e-300})});
  check_clean_text("tiny", tiny);
  CHECK(count_of(tiny, "<circle") == 2);
  // Huge but drawable values: scientific tick labels with enough digits to tell them apart.
  const std::string huge = svg::line_chart({svg::Series("huge", {1e50, 3e50})});
  check_clean_text("huge", huge);
  CHECK_THAT(huge, Contains(">1.5e+50</text>") && Contains(">3.0e+50</text>"));
  // Only non-finite values: "no data", not NaN coordinates.
  CHECK_THAT(svg::line_chart({svg::Series("none", {nan, inf})}), Contains("no data"));
  // Bars: a value that is not drawn keeps its label; NaN says n/a.
  const std::string bars = svg::bar_chart({"a", "b", "c"}, {1e300, nan, 10});
  check_clean_text("bars", bars);
  CHECK_THAT(bars, Contains(">1e+300</text>") && Contains(">n/a</text>") && Contains(">10</text>"));
  // Confusion matrix: a negative count is marked and left out; row sums beyond int64 are fine.
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  const std::string cm = svg::confusion_matrix({"a", "b"}, {{-1, 5}, {big, big}});
  check_clean_text("confusion", cm);
  CHECK(count_of(cm, "class=\"cell invalid\"") == 1);
  CHECK_THAT(cm, Contains("true a, predicted a: -1 (invalid)"));
}

TEST_CASE("escape_xml keeps SVG and HTML text valid UTF-8 without control characters", "[report]") {
  CHECK(svg::escape_xml("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&#39;");
  CHECK(svg::escape_xml(std::string("nul\0x", 5)) == "nul\xEF\xBF\xBDx");
  CHECK(svg::escape_xml("bell\x07 esc\x1B del\x7F") == "bell\xEF\xBF\xBD esc\xEF\xBF\xBD del\xEF\xBF\xBD");
  CHECK(svg::escape_xml("tab\tlf\ncr\r") == "tab\tlf\ncr\r");
  CHECK(svg::escape_xml("bad \xFF\xC3( \xE4\xB8\xAD") == "bad \xEF\xBF\xBD\xEF\xBF\xBD( \xE4\xB8\xAD");
  CHECK(textfmt::is_valid_utf8("\xC3\xA9\xF0\x9F\x98\x80"));
  CHECK_FALSE(textfmt::is_valid_utf8("\xA5"));
  CHECK_FALSE(textfmt::is_valid_utf8("\xED\xA0\x80"));  // a surrogate
  // A run whose strings hold control characters (from \u0000 escapes in metrics.json).
  TempDir tmp;
  RunRecord run = make_run("nul\x01name", 1);
  run.class_names[0] = std::string("c\0t", 3);
  run.config["k\x1B"] = "v\x7F";
  check_clean_text("index.html", read_file(write_report(tmp / "r", run, nullptr)));
}

TEST_CASE("write_report shows impossible values as invalid and writes the same bytes twice", "[report]") {
  TempDir tmp;
  // The saved inputs of tests/fuzz-regressions/ (metrics.json parts), as `glia-cifar10 report`
  // reads them: load_run_record, then write_report into two folders.
  const auto pages = [&](const std::string& regression) {
    const std::string run_dir = tmp / regression;
    std::filesystem::create_directories(run_dir);
    write_plain(run_dir + "/metrics.json", metrics_part(regression));
    const RunRecord run = load_run_record(run_dir);
    const std::string a = read_file(write_report(run_dir + "/a", run, nullptr));
    const std::string b = read_file(write_report(run_dir + "/b", run, nullptr));
    CHECK(a == b);
    check_clean_text(regression, a);
    const std::string c = read_file(write_comparison(run_dir + "/c", {run, run}));
    CHECK(c == read_file(write_comparison(run_dir + "/d", {run, run})));
    check_clean_text(regression + " comparison", c);
    return std::make_pair(a, c);
  };
  // 1e62: the number the old formatter wrote as 64 bytes of stack memory.
  const auto [big, big_cmp] = pages("report-number-1e62-overflows-fixed-buffer");
  CHECK_THAT(big, Contains("<th>final test accuracy</th><td><span class=\"invalid\" title=\"impossible value\">invalid (1e+62)</span>"));
  CHECK_THAT(big, Contains("<th>train images / s</th><td>1.0e+62</td>"));
  CHECK_THAT(big, Contains("class=\"invalid-note\">This record holds 1 impossible value(s)"));
  CHECK_THAT(big_cmp, Contains(">invalid (1e+62)<") && Contains(">1.0e+62</td>"));

  // Extreme but possible values are data, in short scientific notation.
  const auto [extreme, extreme_cmp] = pages("report-extreme-doubles");
  CHECK_THAT(extreme, Contains("<th>time</th><td>1e+300&nbsp;s</td>") && Contains("<th>train images / s</th><td>1.8e+308</td>"));
  CHECK_THAT(extreme, Contains("<td class=\"num\">1</td><td class=\"num\">4.941e-324</td><td class=\"num\">1e+62&nbsp;s</td>"
                               "<td class=\"num\">1.0000e+300</td>"));
  CHECK_THAT(extreme, Contains("<td class=\"num\">1.7977e+308</td>") && Contains(">invalid (-1e+308)<"));
  CHECK(extreme.find("-0.0000") == std::string::npos);
  CHECK_THAT(extreme, Contains("This record holds 1 impossible value(s)"));  // the test loss of -1e308
  CHECK(count_of(extreme_cmp, "class=\"invalid") == 0);

  // Impossible values: marked, counted, and kept out of the charts.
  const auto [bad, bad_cmp] = pages("report-impossible-values");
  for (const char* marker : {">invalid (250)<", ">invalid (-3)<", ">invalid (600 / 500)<", ">invalid (120 / 100)<",
                             ">invalid (-1e+308)<", ">invalid (1e+62)<", ">invalid (-0.1)<", ">invalid (-1)<",
                             ">invalid (-2)<", ">invalid (-7)<", ">invalid (count -1)<", ">invalid (-5)<"})
    CHECK_THAT(bad, Contains(marker));
  // threads, parameters, best accuracy and epoch, final train accuracy, time; epoch 1's two
  // accuracies; epoch -3's number, LR, time and train count; the next epoch's test count and
  // loss; a confusion row; a class count.
  CHECK_THAT(bad, Contains("class=\"invalid-note\">This record holds 16 impossible value(s)"));
  CHECK_THAT(bad, Contains("class=\"cell invalid\"") && Contains("Class counts not drawn: dog: <span class=\"invalid\""));
  // No accuracy axis stretched to 250 % (or 1e62).
  const std::size_t chart = bad.find("aria-label=\"Accuracy\"");
  REQUIRE(chart != std::string::npos);
  const std::string accuracy_chart = bad.substr(chart, bad.find("</svg>", chart) - chart);
  CHECK_THAT(accuracy_chart, Contains(">60</text>"));
  CHECK(accuracy_chart.find(">250</text>") == std::string::npos);
  CHECK(accuracy_chart.find("e+62") == std::string::npos);
  CHECK(accuracy_chart.find(">100</text>") == std::string::npos);
  CHECK_THAT(bad_cmp, Contains("This record holds") && Contains(">invalid (250)<") && Contains(">invalid (-2)<"));
}

TEST_CASE("A loss of 6e66 read from log.csv is shown as data and charted on a scientific axis", "[report]") {
  // fuzz_report's finding on the code before the fix (tests/fuzz-regressions/
  // report-log-train-loss-6e66: an empty metrics.json, then a one-epoch log.csv): the epoch
  // table's loss and the loss chart's tick labels came out as stack memory.
  TempDir tmp;
  const std::string in = read_file(kRegressions + "report-log-train-loss-6e66");
  REQUIRE(in.find('\0') == 0);
  write_plain(tmp / "log.csv", in.substr(1));
  RunRecord run;
  run.epochs = read_log_csv(tmp / "log.csv");
  REQUIRE(run.epochs.size() == 1);
  CHECK(run.epochs[0].train_loss == 6e66);
  update_run_summary(run);
  const std::string page = read_file(write_report(tmp / "a", run, nullptr));
  CHECK(page == read_file(write_report(tmp / "b", run, nullptr)));
  check_clean_text("index.html", page);
  CHECK_THAT(page, Contains("<td class=\"num\">6.0000e+66</td>") && Contains(">2e+66</text>") && Contains(">6e+66</text>"));
  const std::string cmp = read_file(write_comparison(tmp / "c", {run}));
  check_clean_text("comparison.html", cmp);
  CHECK_THAT(cmp, Contains(">6.0e+66</text>"));
}

TEST_CASE("report_images.json with an out-of-bounds layout is refused, not multiplied", "[report]") {
  TempDir tmp;
  const std::string dir = tmp / "r";
  std::filesystem::create_directories(dir);
  write_plain(dir + "/misclassified.png", "not read");
  write_plain(dir + "/report_images.json",
              R"({"misclassified": {"file": "misclassified.png", "count": 1, "cols": 1, "height": 4611686018427387904,
                  "width": 32, "scale": 4, "margin": 4, "captions": ["a"], "tooltips": ["a"]},
                  "samples": {"file": "samples.png", "count": 0, "cols": 1, "height": 32, "width": 32, "scale": 3,
                  "margin": 4, "captions": [], "tooltips": []}})");
  CHECK_THROWS_MATCHES(write_report(dir, make_run("bn", 1), nullptr), FormatError,
                       Catch::Matchers::Message(dir + "/report_images.json: key 'misclassified': inconsistent image grid layout"));
}
