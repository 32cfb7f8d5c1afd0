#include "toolkit/report/html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "toolkit/io/files.h"

namespace pare {

namespace {

std::string num(double v, int precision = 3) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    return buf;
}

std::string px(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

// About `target` round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int target = 6) {
    if (!(hi > lo)) return {lo};
    const double raw = (hi - lo) / target;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * mag >= raw) {
            step = m * mag;
            break;
        }
    std::vector<double> t;
    for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
        t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
    return t;
}

std::string text(double x, double y, const std::string& s, const std::string& extra = "") {
    return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\"" + (extra.empty() ? "" : " " + extra) +
           ">" + html_escape(s) + "</text>";
}

std::string svg_open(double w, double h, const std::string& title) {
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"" + px(w) +
           "\" height=\"" + px(h) + "\" viewBox=\"0 0 " + px(w) + " " + px(h) +
           "\" role=\"img\"><title>" + html_escape(title) + "</title>" +
           text(w / 2, 20, title, "text-anchor=\"middle\" class=\"title\"");
}

// White to red at t in [0, 1].
std::string heat_colour(double t) {
    t = std::clamp(t, 0.0, 1.0);
    const int r = static_cast<int>(255 - t * (255 - 200));
    const int g = static_cast<int>(255 - t * (255 - 40));
    const int b = static_cast<int>(255 - t * (255 - 40));
    char buf[16];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", r, g, b);
    return buf;
}

}  // namespace

const std::vector<std::string>& plot_palette() {
    static const std::vector<std::string> p = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                               "#9467bd", "#8c564b", "#e377c2", "#17becf"};
    return p;
}

std::string html_escape(const std::string& s) {
    std::string r;
    r.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '<':
                r += "&lt;";
                break;
            case '>':
                r += "&gt;";
                break;
            case '&':
                r += "&amp;";
                break;
            case '"':
                r += "&quot;";
                break;
            default:
                r += c;
        }
    }
    return r;
}

std::string scatter_svg(const ScatterSpec& spec) {
    const double W = 720, H = 430, L = 72, R = 150, T = 36, B = 52;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    auto fx = [&](double x) { return spec.log_x ? std::log10(std::max(x, 1e-12)) : x; };
    for (const auto& s : spec.series)
        for (const auto& [x, y] : s.points) {
            if (!std::isfinite(x) || !std::isfinite(y)) continue;
            x0 = std::min(x0, fx(x)), x1 = std::max(x1, fx(x));
            y0 = std::min(y0, y), y1 = std::max(y1, y);
        }
    std::string o = svg_open(W, H, spec.title);
    if (!(x1 >= x0)) return o + text(W / 2, H / 2, "(no points)") + "</svg>";
    const double padx = x1 > x0 ? (x1 - x0) * 0.06 : 1, pady = y1 > y0 ? (y1 - y0) * 0.08 : 1;
    x0 -= padx, x1 += padx, y0 -= pady, y1 += pady;
    auto sx = [&](double x) { return L + (fx(x) - x0) / (x1 - x0) * (W - L - R); };
    auto sy = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
    // Axes and grid.
    o += "<rect x=\"" + px(L) + "\" y=\"" + px(T) + "\" width=\"" + px(W - L - R) + "\" height=\"" +
         px(H - T - B) + "\" fill=\"none\" stroke=\"#999\"/>";
    for (double t : ticks(y0, y1)) {
        const double y = H - B - (t - y0) / (y1 - y0) * (H - T - B);
        o += "<line x1=\"" + px(L) + "\" x2=\"" + px(W - R) + "\" y1=\"" + px(y) + "\" y2=\"" +
             px(y) + "\" stroke=\"#e4e4e4\"/>";
        o += text(L - 6, y + 4, num(t, 4), "text-anchor=\"end\"");
    }
    for (double t : ticks(x0, x1)) {
        const double x = L + (t - x0) / (x1 - x0) * (W - L - R);
        o += "<line y1=\"" + px(T) + "\" y2=\"" + px(H - B) + "\" x1=\"" + px(x) + "\" x2=\"" +
             px(x) + "\" stroke=\"#e4e4e4\"/>";
        o += text(x, H - B + 16, num(spec.log_x ? std::pow(10.0, t) : t, 3),
                  "text-anchor=\"middle\"");
    }
    o += text(L + (W - L - R) / 2, H - 12, spec.x_label, "text-anchor=\"middle\"");
    o +=
        text(16, T + (H - T - B) / 2, spec.y_label,
             "text-anchor=\"middle\" transform=\"rotate(-90 16 " + px(T + (H - T - B) / 2) + ")\"");
    // Series, then the legend.
    for (size_t si = 0; si < spec.series.size(); ++si) {
        const PlotSeries& s = spec.series[si];
        const std::string& c = plot_palette()[si % plot_palette().size()];
        if (s.line && s.points.size() > 1) {
            auto pts = s.points;
            std::sort(pts.begin(), pts.end());
            std::string d;
            for (const auto& [x, y] : pts)
                d += (d.empty() ? "M" : " L") + px(sx(x)) + " " + px(sy(y));
            o += "<path d=\"" + d + "\" fill=\"none\" stroke=\"" + c + "\" stroke-width=\"2\"/>";
        }
        for (size_t i = 0; i < s.points.size(); ++i) {
            const auto [x, y] = s.points[i];
            if (!std::isfinite(x) || !std::isfinite(y)) continue;
            const std::string label = i < s.labels.size() ? s.labels[i] : "";
            o += "<circle cx=\"" + px(sx(x)) + "\" cy=\"" + px(sy(y)) + "\" r=\"" +
                 (s.line ? "5" : "4") + "\" fill=\"" + c +
                 "\" stroke=\"#fff\" stroke-width=\"0.5\"><title>" +
                 html_escape(s.name + (label.empty() ? "" : ": " + label) + " (" + num(x, 4) +
                             ", " + num(y, 4) + ")") +
                 "</title></circle>";
            if (s.annotate && !label.empty())
                o += text(sx(x) + 7, sy(y) - 6, label, "class=\"small\"");
        }
        const double ly = T + 8 + 20.0 * static_cast<double>(si);
        o += "<circle cx=\"" + px(W - R + 14) + "\" cy=\"" + px(ly) + "\" r=\"5\" fill=\"" + c +
             "\"/>" + text(W - R + 24, ly + 4, s.name, "class=\"small\"");
    }
    return o + "</svg>";
}

std::string bars_svg(const BarSpec& spec) {
    const size_t rows = spec.labels.size(), sets = spec.values.size();
    const double label_w = 190, bar_w = 220, gap = 60, row_h = 18, T = 52;
    const double W = label_w + static_cast<double>(sets) * (bar_w + gap) + 10;
    const double H = T + row_h * static_cast<double>(rows) + 12;
    std::string o = svg_open(W, H, spec.title);
    for (size_t k = 0; k < sets; ++k) {
        const std::vector<double>& v = spec.values[k];
        double mx = 0;
        for (double x : v) mx = std::max(mx, std::isfinite(x) ? x : 0.0);
        const double left = label_w + static_cast<double>(k) * (bar_w + gap);
        const std::string& c = plot_palette()[k % plot_palette().size()];
        const std::string unit = k < spec.units.size() ? spec.units[k] : "";
        o += text(left, T - 12,
                  (k < spec.set_names.size() ? spec.set_names[k] : "") +
                      (unit.empty() ? "" : " (" + unit + ")"),
                  "class=\"small\" font-weight=\"bold\"");
        for (size_t r = 0; r < rows && r < v.size(); ++r) {
            const double y = T + row_h * static_cast<double>(r);
            const double w = mx > 0 && std::isfinite(v[r]) ? v[r] / mx * bar_w : 0;
            o += "<rect x=\"" + px(left) + "\" y=\"" + px(y + 2) + "\" width=\"" + px(w) +
                 "\" height=\"" + px(row_h - 4) + "\" fill=\"" + c + "\"><title>" +
                 html_escape(spec.labels[r] + ": " + num(v[r], 4) + " " + unit) + "</title></rect>";
            o += text(left + w + 4, y + row_h - 5, num(v[r], 3), "class=\"small\"");
        }
    }
    for (size_t r = 0; r < rows; ++r)
        o += text(label_w - 8, T + row_h * static_cast<double>(r) + row_h - 5, spec.labels[r],
                  "text-anchor=\"end\" class=\"small\"");
    return o + "</svg>";
}

std::string heatmap_svg(const HeatSpec& spec) {
    const double label_w = 190, cell_w = 64, cell_h = 18, T = 92;
    const double W = label_w + cell_w * static_cast<double>(spec.columns.size()) + 20;
    const double H = T + cell_h * static_cast<double>(spec.rows.size()) + 30;
    double mx = spec.max;
    if (mx <= 0)
        for (const auto& row : spec.values)
            for (double v : row)
                if (std::isfinite(v)) mx = std::max(mx, v);
    if (mx <= 0) mx = 1;
    std::string o = svg_open(W, H, spec.title);
    for (size_t c = 0; c < spec.columns.size(); ++c) {
        const double x = label_w + cell_w * (static_cast<double>(c) + 0.5);
        o += text(x, T - 8, spec.columns[c],
                  "class=\"small\" transform=\"rotate(-40 " + px(x) + " " + px(T - 8) + ")\"");
    }
    for (size_t r = 0; r < spec.rows.size(); ++r) {
        const double y = T + cell_h * static_cast<double>(r);
        o += text(label_w - 8, y + cell_h - 5, spec.rows[r], "text-anchor=\"end\" class=\"small\"");
        for (size_t c = 0; c < spec.columns.size(); ++c) {
            const double v =
                r < spec.values.size() && c < spec.values[r].size() ? spec.values[r][c] : NAN;
            const double x = label_w + cell_w * static_cast<double>(c);
            const std::string fill = std::isfinite(v) ? heat_colour(v / mx) : "#d8d8d8";
            o += "<rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(cell_w - 1) +
                 "\" height=\"" + px(cell_h - 1) + "\" fill=\"" + fill + "\"><title>" +
                 html_escape(spec.rows[r] + ", " + spec.columns[c] + ": " +
                             (std::isfinite(v) ? num(v, 4) + " " + spec.unit : "n/a")) +
                 "</title></rect>";
            if (std::isfinite(v))
                o += text(x + cell_w / 2, y + cell_h - 5, num(v, 2),
                          "text-anchor=\"middle\" class=\"small\"");
        }
    }
    o += text(label_w, H - 8,
              "white 0, red " + num(mx, 3) + " " + spec.unit + " or more; grey: not applicable",
              "class=\"small\"");
    return o + "</svg>";
}

HtmlReport::HtmlReport(std::string title) : title_(std::move(title)) {}

void HtmlReport::heading(const std::string& t) { body_ += "<h2>" + html_escape(t) + "</h2>\n"; }

void HtmlReport::paragraph(const std::string& t) { body_ += "<p>" + html_escape(t) + "</p>\n"; }

void HtmlReport::table(const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows) {
    body_ += "<table><thead><tr>";
    for (const auto& h : header) body_ += "<th>" + html_escape(h) + "</th>";
    body_ += "</tr></thead><tbody>\n";
    for (const auto& row : rows) {
        body_ += "<tr>";
        for (const auto& c : row) body_ += "<td>" + html_escape(c) + "</td>";
        body_ += "</tr>\n";
    }
    body_ += "</tbody></table>\n";
}

void HtmlReport::svg(const std::string& markup) {
    body_ += "<div class=\"figure\">" + markup + "</div>\n";
}

std::string HtmlReport::html() const {
    return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
           html_escape(title_) +
           "</title>\n<style>\nbody{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}"
           "\ntable{border-collapse:collapse;margin:8px 0 16px}\nth,td{border:1px solid "
           "#ccc;padding:3px 8px;text-align:right;font-size:13px}\nth{background:#f2f2f2}\n"
           "td:first-child,th:first-child{text-align:left}\n.figure{margin:12px 0}\n"
           "svg.plot{font-size:12px;background:#fff}\nsvg .title{font-size:14px;font-weight:"
           "bold}\nsvg .small{font-size:11px}\n</style></head>\n<body>\n<h1>" +
           html_escape(title_) + "</h1>\n" + body_ + "</body></html>\n";
}

Status HtmlReport::write(const std::string& path) const { return write_file_atomic(path, html()); }

}  // namespace pare
