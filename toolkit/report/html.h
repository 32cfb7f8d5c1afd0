// The HTML report (`--report out.html`): one self-contained page -- inline CSS,
// inline SVG plots, no script, no external file -- that any browser opens
// offline. Plots are drawn here from numbers (no plotting library): scatter
// plots with a highlighted Pareto front, horizontal bar charts, heat maps.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "runtime/core/status.h"

namespace pare {

// The colours every plot uses, in series order.
const std::vector<std::string>& plot_palette();

// "<" -> "&lt;" and the like.
std::string html_escape(const std::string& text);

// One series of a scatter plot: points (x, y) with a label each (shown on hover
// and, with `annotate`, next to the point).
struct PlotSeries {
    std::string name;
    std::vector<std::pair<double, double>> points;
    std::vector<std::string> labels;  // empty or one per point
    bool line = false;                // join the points in x order
    bool annotate = false;
};
struct ScatterSpec {
    std::string title, x_label, y_label;
    std::vector<PlotSeries> series;
    bool log_x = false;
};
std::string scatter_svg(const ScatterSpec& spec);

// Horizontal bars: one row per label, one bar per value set (e.g. size and
// latency side by side, each scaled to its own maximum and labelled in its unit).
struct BarSpec {
    std::string title;
    std::vector<std::string> labels;
    std::vector<std::string> set_names;       // one per value set
    std::vector<std::vector<double>> values;  // [set][label]
    std::vector<std::string> units;           // one per set: "KB", "ms", "%"
};
std::string bars_svg(const BarSpec& spec);

// A heat map: rows x columns of values, colour from white (0 or below) to red at
// `max` (values above are clipped, NaN cells are grey: "not applicable").
struct HeatSpec {
    std::string title, unit;
    std::vector<std::string> rows, columns;
    std::vector<std::vector<double>> values;  // [row][column]
    double max = 0;                           // 0: the largest value
};
std::string heatmap_svg(const HeatSpec& spec);

// A page built up in order: headings, paragraphs, tables, plots.
class HtmlReport {
  public:
    explicit HtmlReport(std::string title);
    void heading(const std::string& text);
    void paragraph(const std::string& text);  // escaped
    void table(const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows);
    void svg(const std::string& svg_markup);  // from the functions above
    std::string html() const;
    // Written atomically (no half-written page under the final name).
    Status write(const std::string& path) const;

  private:
    std::string title_, body_;
};

}  // namespace pare
