// The HTML report: escaped text, one SVG mark per data point, and each plot
// rendered by headless Chromium (Debian's chromium, which `make test` installs)
// into pixels that are not blank.
#include <gtest/gtest.h>
#include <stb/stb_image.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "toolkit/io/files.h"
#include "toolkit/report/html.h"

using namespace pare;
namespace fs = std::filesystem;

namespace {

size_t count(const std::string& s, const std::string& needle) {
    size_t n = 0;
    for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
    return n;
}

ScatterSpec two_series() {
    ScatterSpec s;
    s.title = "accuracy <vs> latency";
    s.x_label = "latency (ms)";
    s.y_label = "top-1 (%)";
    PlotSeries a{"candidates", {}, {}, false, false};
    for (int i = 0; i < 12; ++i) {
        a.points.emplace_back(0.2 + 0.1 * i, 90 + 3 * std::sin(i));
        a.labels.push_back("trial " + std::to_string(i));
    }
    PlotSeries front{
        "Pareto front", {{0.2, 92}, {0.5, 93}, {1.1, 94}}, {"a", "b", "c"}, true, true};
    s.series = {a, front};
    return s;
}

BarSpec bars() {
    BarSpec b;
    b.title = "per layer";
    b.labels = {"conv1", "conv2", "fc"};
    b.set_names = {"weights", "latency"};
    b.units = {"KB", "ms"};
    b.values = {{1, 20, 300}, {0.5, 0.25, 0.125}};
    return b;
}

HeatSpec heat() {
    HeatSpec h;
    h.title = "points lost";
    h.unit = "points";
    h.rows = {"conv1", "conv2"};
    h.columns = {"int8", "sparse90", "rank/2"};
    h.values = {{0.1, 40, NAN}, {-0.2, 3, 12}};
    h.max = 5;
    return h;
}

// Renders `html` in headless Chromium; the screenshot's pixels (RGB).
struct Shot {
    int w = 0, h = 0;
    std::vector<unsigned char> rgb;
};
Shot render(const fs::path& dir, const std::string& name, const std::string& html) {
    const fs::path page = dir / (name + ".html"), png = dir / (name + ".png");
    EXPECT_TRUE(write_file_atomic(page.string(), html).ok());
    const std::string cmd =
        "chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "
        "--window-size=1000,900 --screenshot=" +
        png.string() + " file://" + page.string() + " > " + (dir / "chromium.log").string() +
        " 2>&1";
    const int st = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "chromium failed (is Debian's chromium "
                                                          "installed? make deps installs it)";
    Shot s;
    int ch = 0;
    unsigned char* px = stbi_load(png.string().c_str(), &s.w, &s.h, &ch, 3);
    EXPECT_NE(px, nullptr) << "no screenshot " << png;
    if (px) {
        s.rgb.assign(px, px + static_cast<size_t>(s.w) * s.h * 3);
        stbi_image_free(px);
    }
    return s;
}

// Pixels within 20 (per channel) of the colour "#rrggbb".
int64_t pixels_near(const Shot& s, const std::string& hex) {
    const int r = std::stoi(hex.substr(1, 2), nullptr, 16),
              g = std::stoi(hex.substr(3, 2), nullptr, 16),
              b = std::stoi(hex.substr(5, 2), nullptr, 16);
    int64_t n = 0;
    for (size_t i = 0; i + 2 < s.rgb.size(); i += 3)
        n += std::abs(s.rgb[i] - r) < 20 && std::abs(s.rgb[i + 1] - g) < 20 &&
             std::abs(s.rgb[i + 2] - b) < 20;
    return n;
}

}  // namespace

TEST(Report, TextIsEscapedAndEveryPointIsDrawn) {
    EXPECT_EQ(html_escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    const std::string svg = scatter_svg(two_series());
    EXPECT_EQ(count(svg, "<circle"), 12u + 3u + 2u);  // points, then one legend mark per series
    EXPECT_EQ(count(svg, "<path"), 1u);               // the front's line
    EXPECT_NE(svg.find("accuracy &lt;vs&gt; latency"), std::string::npos);
    EXPECT_EQ(svg.find("<vs>"), std::string::npos);
    const std::string b = bars_svg(bars());
    EXPECT_EQ(count(b, "<rect"), 6u);
    const std::string h = heatmap_svg(heat());
    EXPECT_EQ(count(h, "<rect"), 6u);
    EXPECT_NE(h.find("#d8d8d8"), std::string::npos);  // the NaN cell: grey
    HtmlReport page("t <1>");
    page.heading("h");
    page.table({"a", "b"}, {{"1", "<2>"}});
    page.svg(svg);
    const std::string html = page.html();
    EXPECT_NE(html.find("<td>&lt;2&gt;</td>"), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos);  // self-contained, static
    EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // no external URL
}

TEST(Report, ChromiumRendersEachPlotWithItsColours) {
    const fs::path dir = test::temp_dir("report");
    // Each plot alone on a page: its own colours must show up in the pixels.
    {
        HtmlReport p("scatter");
        p.svg(scatter_svg(two_series()));
        const Shot s = render(dir, "scatter", p.html());
        ASSERT_GT(s.w, 0);
        EXPECT_GT(pixels_near(s, plot_palette()[0]), 12 * 20) << "the candidates are missing";
        EXPECT_GT(pixels_near(s, plot_palette()[1]), 3 * 20) << "the front is missing";
    }
    {
        HtmlReport p("bars");
        p.svg(bars_svg(bars()));
        const Shot s = render(dir, "bars", p.html());
        EXPECT_GT(pixels_near(s, plot_palette()[0]), 200 * 10)
            << "the first set's bars are missing";
        EXPECT_GT(pixels_near(s, plot_palette()[1]), 200 * 10)
            << "the second set's bars are missing";
    }
    {
        HtmlReport p("heat");
        p.svg(heatmap_svg(heat()));
        const Shot s = render(dir, "heat", p.html());
        EXPECT_GT(pixels_near(s, "#c82828"), 2 * 400) << "the hot cells are missing";
        EXPECT_GT(pixels_near(s, "#d8d8d8"), 40 * 10) << "the n/a cell is missing";
    }
    // A page without plots has none of those colours: the check can fail.
    {
        HtmlReport p("empty");
        p.paragraph("text only");
        const Shot s = render(dir, "empty", p.html());
        EXPECT_LT(pixels_near(s, plot_palette()[0]), 50);
        EXPECT_LT(pixels_near(s, "#c82828"), 50);
    }
    fs::remove_all(dir);
}
