#include "toolkit/auto/distributed.h"

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>

#include "toolkit/onnx/onnx_io.h"

namespace pare {

namespace {

constexpr int kTagWork = 1;     // rank 0 -> worker: a trial to evaluate (trial JSON)
constexpr int kTagStop = 2;     // rank 0 -> worker: no more trials; skip queued ones
constexpr int kTagResult = 3;   // worker -> rank 0: trial JSON, NUL, the model's ONNX bytes
constexpr int kTagSkipped = 4;  // worker -> rank 0: a queued trial not started (its index)
constexpr int kTagText = 5;     // mpi_broadcast

bool g_initialized = false;

void send_text(const std::string& s, int dest, int tag) {
    MPI_Send(s.data(), static_cast<int>(s.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD);
}

// Is a message from source with tag waiting? (tag, source: MPI_ANY_... allowed.)
bool waiting(int source, int tag, MPI_Status* st) {
    int flag = 0;
    MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, st);
    return flag != 0;
}

// The next message from source with tag, polling every 20 ms (no busy wait).
std::string receive(int source, int tag, MPI_Status* st) {
    while (!waiting(source, tag, st)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    int n = 0;
    MPI_Get_count(st, MPI_CHAR, &n);
    std::string s(static_cast<size_t>(n), '\0');
    MPI_Recv(s.data(), n, MPI_CHAR, st->MPI_SOURCE, st->MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return s;
}

double since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

MpiWorld mpi_world() {
    static const MpiWorld world = [] {
        MpiWorld w;
        if (!std::getenv("OMPI_COMM_WORLD_SIZE")) return w;
        int provided = 0;
        MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
        g_initialized = true;
        MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &w.size);
        return w;
    }();
    return world;
}

void mpi_finish() {
    if (g_initialized) MPI_Finalize();
    g_initialized = false;
}

Result<std::string> mpi_broadcast(const std::string& text) {
    const MpiWorld w = mpi_world();
    if (w.size == 1) return text;
    if (w.rank == 0) {
        for (int r = 1; r < w.size; ++r) send_text(text, r, kTagText);
        return text;
    }
    MPI_Status st;
    return receive(0, kTagText, &st);
}

Status run_distributed(const AutoSearch& search, AutoState* s, const std::string& state_path,
                       const std::string& out_path) {
    const MpiWorld w = mpi_world();
    if (w.size == 1) return search.run(s, state_path, out_path);
    const AutoOptions& o = search.options();
    const auto t0 = std::chrono::steady_clock::now();
    const double elapsed0 = s->elapsed_s;
    struct Pending {
        int worker = 0;
        AutoConfig config;
        double budget = 0;
    };
    std::map<int, Pending> pending;  // trials on other ranks, by index
    std::vector<int> queued(static_cast<size_t>(w.size), 0);
    int next = s->next_index();
    auto mean_trial = [&] {
        double m = 0;
        for (const AutoTrial& t : s->trials) m += t.seconds;
        return s->trials.empty() ? 0.0 : m / static_cast<double>(s->trials.size());
    };
    // What propose() sees: the finished trials and, so that nothing is proposed
    // twice, the ones in flight (as unfinished).
    auto view = [&] {
        AutoState v = *s;
        for (const auto& [index, p] : pending) {
            AutoTrial t;
            t.index = index;
            t.config = p.config;
            v.trials.push_back(t);
        }
        return v;
    };
    auto record = [&](AutoTrial t, const std::string& bytes) -> Status {
        s->elapsed_s = elapsed0 + since(t0);
        return search.record(s, std::move(t), bytes, state_path, out_path);
    };
    // Every result waiting (block: until no trial is in flight on another rank).
    auto collect = [&](bool block) -> Status {
        MPI_Status st;
        while ((block && !pending.empty()) || waiting(MPI_ANY_SOURCE, MPI_ANY_TAG, &st)) {
            const std::string msg = receive(MPI_ANY_SOURCE, MPI_ANY_TAG, &st);
            const int from = st.MPI_SOURCE;
            if (st.MPI_TAG == kTagSkipped) {
                pending.erase(std::atoi(msg.c_str()));
                --queued[static_cast<size_t>(from)];
                continue;
            }
            if (st.MPI_TAG != kTagResult)
                return internal_error("rank 0 got an unexpected message from rank " +
                                      std::to_string(from));
            const size_t nul = msg.find('\0');
            PARE_ASSIGN_OR_RETURN(AutoTrial t, trial_from_json(msg.substr(0, nul)));
            const auto p = pending.find(t.index);
            if (p == pending.end())
                return internal_error("rank " + std::to_string(from) + " returned trial " +
                                      std::to_string(t.index) + ", which it was not given");
            t.budget = p->second.budget;
            t.predicted_ms = search.predict_ms(t.config);
            t.worker = from;
            pending.erase(p);
            --queued[static_cast<size_t>(from)];
            PARE_RETURN_IF_ERROR(record(t, nul == std::string::npos ? "" : msg.substr(nul + 1)));
        }
        return Status();
    };
    for (;;) {
        const double elapsed = elapsed0 + since(t0);
        if (!(s->trials.empty() && pending.empty()) && elapsed + mean_trial() > o.time_budget_s)
            break;
        // Two trials queued on every other rank, so none waits for rank 0.
        for (int r = 1; r < w.size; ++r) {
            while (queued[static_cast<size_t>(r)] < 2) {
                double budget = 0;
                Pending p;
                p.worker = r;
                p.config = search.propose(view(), next, &budget);
                p.budget = budget;
                AutoTrial job;
                job.index = next;
                job.config = p.config;
                job.budget = budget;
                send_text(trial_to_json(job), r, kTagWork);
                if (o.progress)
                    std::fprintf(stderr, "auto: trial %d -> rank %d: %s, predicted %.3f ms\n", next,
                                 r, config_summary(p.config).c_str(), search.predict_ms(p.config));
                pending[next++] = p;
                ++queued[static_cast<size_t>(r)];
            }
        }
        // One trial here.
        double budget = 0;
        const int index = next++;
        const AutoConfig c = search.propose(view(), index, &budget);
        if (o.progress)
            std::fprintf(stderr, "auto: trial %d -> rank 0 (%.0f of %.0f s spent): %s\n", index,
                         elapsed, o.time_budget_s, config_summary(c).c_str());
        Graph model;
        AutoTrial t = search.evaluate(c, index, &model);
        t.budget = budget;
        std::string bytes;
        if (t.ok) {
            Result<std::string> e = export_onnx_bytes(model);
            if (!e.ok()) return e.status();
            bytes = std::move(e).value();
        }
        PARE_RETURN_IF_ERROR(record(t, bytes));
        PARE_RETURN_IF_ERROR(collect(false));
    }
    for (int r = 1; r < w.size; ++r) send_text("stop", r, kTagStop);
    return collect(true);
}

Status serve_trials(const AutoSearch& search) {
    const MpiWorld w = mpi_world();
    for (;;) {
        MPI_Status st;
        const std::string msg = receive(0, MPI_ANY_TAG, &st);
        if (st.MPI_TAG == kTagStop) return Status();
        if (st.MPI_TAG != kTagWork)
            return internal_error("rank " + std::to_string(w.rank) + ": unexpected message");
        PARE_ASSIGN_OR_RETURN(AutoTrial job, trial_from_json(msg));
        MPI_Status stop;
        if (waiting(0, kTagStop, &stop)) {  // the search is over: do not start it
            send_text(std::to_string(job.index), 0, kTagSkipped);
            continue;
        }
        Graph model;
        AutoTrial t = search.evaluate(job.config, job.index, &model);
        t.worker = w.rank;
        std::string bytes;
        if (t.ok) {
            Result<std::string> b = export_onnx_bytes(model);
            if (b.ok()) {
                bytes = std::move(b).value();
            } else {
                t.ok = false;
                t.error = b.status().message();
            }
        }
        send_text(trial_to_json(t) + '\0' + bytes, 0, kTagResult);
    }
}

}  // namespace pare
