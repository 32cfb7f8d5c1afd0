#include "toolkit/oracle/oracle.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "runtime/ir/passes/passes.h"
#include "toolkit/data/npy.h"

namespace pare {

namespace {

std::string ort_script() {
    if (const char* s = std::getenv("PARE_ORT_SCRIPT")) return s;
    return std::string(PARE_SOURCE_DIR) + "/tools/ort_run.js";
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

namespace {

// White page with dark bars of random texture, normalized with ImageNet mean/std.
Status fill_page(Tensor& t, std::mt19937_64& rng) {
    const Shape& s = t.shape();
    if (s.size() != 4 || s[1] != 3) {
        return invalid_argument("the page input pattern needs an N,3,H,W input, got " +
                                shape_str(s));
    }
    const int64_t H = s[2], W = s[3];
    const float mean[3] = {0.485f, 0.456f, 0.406f}, stdev[3] = {0.229f, 0.224f, 0.225f};
    for (int64_t n = 0; n < s[0]; ++n) {
        std::vector<float> page(static_cast<size_t>(H * W), 1.0f);
        const int bars = 12;
        for (int b = 0; b < bars; ++b) {
            const int64_t h = 6 + static_cast<int64_t>(rng() % 10),
                          w = W / 8 + static_cast<int64_t>(rng() % (W / 3 + 1));
            const int64_t y0 =
                static_cast<int64_t>(rng() % static_cast<uint64_t>(std::max<int64_t>(1, H - h)));
            const int64_t x0 =
                static_cast<int64_t>(rng() % static_cast<uint64_t>(std::max<int64_t>(1, W - w)));
            for (int64_t y = y0; y < std::min(H, y0 + h); ++y) {
                for (int64_t x = x0; x < std::min(W, x0 + w); ++x)
                    page[y * W + x] = (rng() & 1) ? 1.0f : 0.0f;
            }
        }
        for (int64_t c = 0; c < 3; ++c) {
            float* dst = t.data<float>() + (n * 3 + c) * H * W;
            for (int64_t i = 0; i < H * W; ++i) dst[i] = (page[i] - mean[c]) / stdev[c];
        }
    }
    return Status();
}

}  // namespace

Result<TensorMap> random_inputs(const Graph& g, uint64_t seed, InputPattern pattern) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    TensorMap m;
    for (const auto& i : g.inputs) {
        bool known = i.has_shape;
        for (int64_t d : i.shape) known = known && d >= 0;
        if (!known) {
            return invalid_argument("input \"" + i.name + "\" has shape " + shape_str(i.shape) +
                                    " with unbound dimensions; give --input-shape " + i.name +
                                    "=...");
        }
        PARE_ASSIGN_OR_RETURN(Tensor t, Tensor::create(i.dtype, i.shape));
        if (i.dtype == DType::kFloat32 && pattern == InputPattern::kPage) {
            PARE_RETURN_IF_ERROR(fill_page(t, rng).with_context("input \"" + i.name + "\""));
        } else if (i.dtype == DType::kFloat32) {
            for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] = uni(rng);
        }
        m[i.name] = t;
    }
    return m;
}

Result<double> relative_l2(const Tensor& a, const Tensor& b, double* max_abs) {
    if (a.shape() != b.shape()) {
        return invalid_argument("shapes differ: " + shape_str(a.shape()) + " vs " +
                                shape_str(b.shape()));
    }
    double num = 0, den = 0, mx = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
        const double x = a.at_double(i), y = b.at_double(i);
        const double d = x - y;
        if (std::isnan(x) != std::isnan(y)) return std::numeric_limits<double>::infinity();
        if (std::isnan(x)) continue;
        num += d * d;
        den += y * y;
        mx = std::max(mx, std::fabs(d));
    }
    if (max_abs) *max_abs = mx;
    return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

namespace {

// tools/ort_run.js --serve as a child process: it loads the model, runs it once on
// the inputs and writes the outputs, then runs it once per request and replies
// with that run's milliseconds. Requests alternated with pare's own runs time both
// runtimes under the same machine conditions (this machine's speed drifts by tens
// of percent over seconds). The destructor ends it (closing its stdin) and removes
// its folder.
class OrtServer {
  public:
    ~OrtServer() {
        if (to_ >= 0) close(to_);
        if (from_ >= 0) close(from_);
        if (pid_ > 0) waitpid(pid_, nullptr, 0);
        std::error_code ec;
        if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    }

    static Result<std::unique_ptr<OrtServer>> start(const std::string& model_path,
                                                    const TensorMap& inputs, int repeat,
                                                    int threads, bool per_example = false) {
        std::unique_ptr<OrtServer> s(new OrtServer());
        s->model_ = model_path;
        char tmpl[] = "/tmp/pare-oracle-XXXXXX";
        if (!mkdtemp(tmpl)) return io_error("cannot create a temporary folder");
        s->dir_ = tmpl;
        const std::filesystem::path& dir = s->dir_;
        std::filesystem::create_directories(dir / "in");
        std::ostringstream manifest;
        manifest << "{\"inputs\": [";
        int k = 0;
        for (const auto& kv : inputs) {
            const std::string file = std::to_string(k) + ".npy";
            PARE_RETURN_IF_ERROR(write_npy(kv.second, (dir / "in" / file).string()));
            manifest << (k ? ", " : "") << "{\"name\": \"" << kv.first << "\", \"file\": \"" << file
                     << "\"}";
            ++k;
        }
        manifest << "]}";
        std::ofstream((dir / "in" / "manifest.json").string()) << manifest.str();

        const std::vector<std::string> args = {"node",
                                               ort_script(),
                                               model_path,
                                               (dir / "in").string(),
                                               (dir / "out").string(),
                                               "--threads",
                                               std::to_string(threads),
                                               "--repeat",
                                               std::to_string(std::max(1, repeat)),
                                               "--serve",
                                               per_example ? "--per-example" : "--serve"};
        const std::string err = (dir / "err.txt").string();
        int to[2], from[2];
        if (pipe(to) != 0) return io_error("cannot create a pipe to ONNX Runtime");
        if (pipe(from) != 0) {
            close(to[0]);
            close(to[1]);
            return io_error("cannot create a pipe from ONNX Runtime");
        }
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        const pid_t pid = fork();
        if (pid == 0) {  // the child: stdin, stdout on the pipes, stderr to err.txt
            dup2(to[0], 0);
            dup2(from[1], 1);
            const int fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0) dup2(fd, 2);
            for (int f : {to[0], to[1], from[0], from[1], fd})
                if (f > 2) close(f);
            execvp("node", argv.data());
            _exit(127);
        }
        close(to[0]);
        close(from[1]);
        if (pid < 0) {
            close(to[1]);
            close(from[0]);
            return io_error("cannot start node for ONNX Runtime");
        }
        s->pid_ = pid;
        s->to_ = to[1];
        s->from_ = from[0];
        std::string line;
        PARE_RETURN_IF_ERROR(s->read_line(&line));
        if (line != "ready") return s->failure("unexpected reply \"" + line + "\"");
        return s;
    }

    // ORT's outputs in the model's output order, and the median of its first runs
    // (run_ms: every run's time).
    Result<std::vector<Tensor>> outputs(double* median_ms,
                                        std::vector<double>* run_ms = nullptr) const {
        std::ifstream mf((dir_ / "out" / "manifest.json").string());
        std::stringstream ms;
        ms << mf.rdbuf();
        const std::string m = ms.str();
        // The manifest is ours: outputs in model order, files "<k>.npy", then "run_ms": [...].
        const size_t rm = m.find("\"run_ms\":[");
        if ((median_ms || run_ms) && rm != std::string::npos) {
            std::vector<double> ort_times;
            std::stringstream ts(m.substr(rm + 10, m.find(']', rm) - rm - 10));
            std::string tok;
            while (std::getline(ts, tok, ',')) ort_times.push_back(std::atof(tok.c_str()));
            if (median_ms) *median_ms = median(ort_times);
            if (run_ms) *run_ms = ort_times;
        }
        std::vector<Tensor> outs;
        for (int o = 0;; ++o) {
            const auto p = dir_ / "out" / (std::to_string(o) + ".npy");
            if (!std::filesystem::exists(p)) break;
            PARE_ASSIGN_OR_RETURN(Tensor t, read_npy(p.string()));
            outs.push_back(t);
        }
        return outs;
    }

    // One more run in ONNX Runtime: its milliseconds, timed by ONNX Runtime's process
    // after it has itself paused pause_ms (so its run starts as pare's does after
    // pare's own pause: from a thread that slept, the machine idle meanwhile).
    Result<double> timed_run(int pause_ms) {
        // A write to a child that has died raises SIGPIPE: blocked here, consumed if
        // pending, so the error is reported instead of ending the process.
        sigset_t pipe_set, old;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
        const std::string request = std::to_string(pause_ms) + "\n";
        const bool written =
            write(to_, request.data(), request.size()) == static_cast<ssize_t>(request.size());
        if (!written) {
            const timespec zero{0, 0};
            sigtimedwait(&pipe_set, nullptr, &zero);
        }
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        if (!written) return failure("it stopped taking requests");
        std::string line;
        PARE_RETURN_IF_ERROR(read_line(&line));
        return std::atof(line.c_str());
    }

  private:
    OrtServer() = default;

    Status read_line(std::string* line) {
        line->clear();
        char c;
        for (;;) {
            const ssize_t n = read(from_, &c, 1);
            if (n == 1) {
                if (c == '\n') return Status();
                *line += c;
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else {
                return failure("it exited");
            }
        }
    }

    // The error for a server that failed: its stderr (the script names what failed).
    Status failure(const std::string& what) {
        close(to_);
        to_ = -1;
        if (pid_ > 0) waitpid(pid_, nullptr, 0);
        pid_ = -1;
        std::ifstream ef((dir_ / "err.txt").string());
        std::stringstream es;
        es << ef.rdbuf();
        std::string msg = es.str();
        while (!msg.empty() && msg.back() == '\n') msg.pop_back();
        if (msg.empty()) msg = what;
        return internal_error(model_ + ": ONNX Runtime failed: " + msg);
    }

    std::string model_;
    std::filesystem::path dir_;
    pid_t pid_ = -1;
    int to_ = -1, from_ = -1;
};

}  // namespace

Result<std::vector<Tensor>> run_onnxruntime(const std::string& model_path, const TensorMap& inputs,
                                            int repeat, int threads, double* median_ms) {
    PARE_ASSIGN_OR_RETURN(std::unique_ptr<OrtServer> ort,
                          OrtServer::start(model_path, inputs, repeat, threads));
    return ort->outputs(median_ms);
}

Result<std::vector<Tensor>> run_onnxruntime_per_example(const std::string& model_path,
                                                        const TensorMap& inputs, int threads,
                                                        std::vector<double>* run_ms) {
    PARE_ASSIGN_OR_RETURN(std::unique_ptr<OrtServer> ort,
                          OrtServer::start(model_path, inputs, 1, threads, true));
    return ort->outputs(nullptr, run_ms);
}

Result<OracleReport> compare_with_onnxruntime(const std::string& model_path,
                                              const ImportOptions& import,
                                              const OracleOptions& options) {
    PARE_ASSIGN_OR_RETURN(Graph g, import_onnx_file(model_path, import));
    if (options.passes) PARE_RETURN_IF_ERROR(run_default_passes(g).with_context(model_path));
    PARE_ASSIGN_OR_RETURN(TensorMap inputs, random_inputs(g, options.seed, options.pattern));
    const int nodes = static_cast<int>(g.nodes.size());
    SessionOptions session_options;
    session_options.threads = options.threads;
    PARE_ASSIGN_OR_RETURN(Session session, Session::prepare(std::move(g), session_options));

    // ORT loads the model and computes its outputs (its warm-up); pare warms up with
    // one run; then one timed run of each in turn, each after a pause of kSettle:
    // both runtimes' idle worker threads spin for a while after a run (measured:
    // ONNX Runtime's for 50-60 ms, pare's at most 2 ms), and on a machine with few
    // cores a spinning pool would steal the other's cores. Each runtime's own
    // calling thread pauses, so both runs start alike: from a thread that slept,
    // on a machine idle meanwhile. A run requested through the pipe right after
    // pare's pause starts just as pare's thread goes idle, and on this virtual
    // machine that favours the second thread's wake-up (ONNX Runtime's
    // mobilenet_v2 on 2 threads, median of 15 such runs: 4.1 ms requested that
    // way, 9.1 ms after its own pause; on 1 thread 5.1 and 5.2).
    PARE_ASSIGN_OR_RETURN(std::unique_ptr<OrtServer> ort,
                          OrtServer::start(model_path, inputs, 1, options.threads));
    PARE_ASSIGN_OR_RETURN(std::vector<Tensor> ort_outputs, ort->outputs(nullptr));
    OracleReport report;
    report.nodes = nodes;
    TensorMap outputs;
    PARE_RETURN_IF_ERROR(session.run(inputs, &outputs).with_context(model_path));
    std::vector<double> times, ort_times, ratios;
    constexpr auto kSettle = std::chrono::milliseconds(100);
    for (int r = 0; r < std::max(1, options.repeat); ++r) {
        std::this_thread::sleep_for(kSettle);
        auto t0 = std::chrono::steady_clock::now();
        PARE_RETURN_IF_ERROR(session.run(inputs, &outputs).with_context(model_path));
        times.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
        PARE_ASSIGN_OR_RETURN(double ms, ort->timed_run(static_cast<int>(kSettle.count())));
        ort_times.push_back(ms);
        if (ms > 0) ratios.push_back(times.back() / ms);
    }
    report.ort_ms = median(ort_times);
    report.ratio = median(ratios);
    report.pare_ms = median(times);
    const Graph& sg = session.graph();
    for (size_t o = 0; o < sg.outputs.size(); ++o) {
        const std::string& name = sg.outputs[o].name;
        if (o >= ort_outputs.size())
            return internal_error(model_path + ": ONNX Runtime returned fewer outputs");
        const Tensor& ref = ort_outputs[o];
        const Tensor& got = outputs.at(name);
        OutputComparison c;
        c.name = name;
        c.shape = got.shape();
        Result<double> e = relative_l2(got, ref, &c.max_abs);
        if (!e.ok()) return e.status().with_context(model_path + ": output \"" + name + "\"");
        c.rel_l2 = e.value();
        report.worst_rel_l2 = std::max(report.worst_rel_l2, c.rel_l2);
        report.outputs.push_back(c);
    }
    return report;
}

}  // namespace pare
