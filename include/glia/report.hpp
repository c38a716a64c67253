// glia/report.hpp: the one include for glia's optional run reports (the glia::report CMake
// target).
//
// glia::report is glia::glia plus nlohmann-json (Debian's nlohmann-json3-dev) and
// stb_image_write (libstb-dev):
//   report/metrics_json.hpp  a RunRecord as metrics.json (save_metrics_json, load_run_record)
//                            and MetricsJsonWriter, the Trainer observer that writes it;
//   report/html_report.hpp   write_report / write_comparison: the HTML pages with SVG charts
//                            (report/svg.hpp) and PNG image grids (report/png.hpp).
// It is defined only when CMake finds both libraries. docs/report.md describes the files.
#pragma once

#include "glia/glia.hpp"
#include "glia/report/html_report.hpp"
#include "glia/report/json_io.hpp"
#include "glia/report/metrics_json.hpp"
#include "glia/report/png.hpp"
#include "glia/report/svg.hpp"
