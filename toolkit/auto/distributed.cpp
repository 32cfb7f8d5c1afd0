#include "toolkit/auto/distributed.h"

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <thread>

#include "toolkit/onnx/onnx_io.h"

namespace pare {

namespace {

constexpr int kTagWork = 1;     // rank 0 -> worker: "INDEX\n" + job
constexpr int kTagStop = 2;     // rank 0 -> worker: no more jobs; drop queued ones
constexpr int kTagResult = 3;   // worker -> rank 0: "INDEX\n" + result
constexpr int kTagDropped = 4;  // worker -> rank 0: "INDEX", a queued job not started
constexpr int kTagText = 5;     // mpi_broadcast

bool g_initialized = false;

void send_text(const std::string& s, int dest, int tag) {
    MPI_Send(s.data(), static_cast<int>(s.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD);
}

// Messages sent without waiting for the receiver: a blocking send of more than
// the eager limit (a few KB) waits until the other rank receives it, and that
// rank may be in the middle of a trial -- which serialized the ranks. Each
// message is kept until MPI is done with it.
class Outbox {
  public:
    void send(std::string text, int dest, int tag) {
        items_.emplace_back(std::move(text), MPI_REQUEST_NULL);
        auto& [buf, req] = items_.back();
        MPI_Isend(buf.data(), static_cast<int>(buf.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD,
                  &req);
        reap();
    }
    void reap() {
        for (auto it = items_.begin(); it != items_.end();) {
            int done = 0;
            MPI_Test(&it->second, &done, MPI_STATUS_IGNORE);
            it = done ? items_.erase(it) : std::next(it);
        }
    }
    ~Outbox() {
        for (auto& item : items_) MPI_Wait(&item.second, MPI_STATUS_IGNORE);
    }

  private:
    std::list<std::pair<std::string, MPI_Request>> items_;
};

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

// "INDEX\nPAYLOAD" -> (INDEX, PAYLOAD).
std::pair<int, std::string> unpack(const std::string& msg) {
    const size_t nl = msg.find('\n');
    return {std::atoi(msg.c_str()), nl == std::string::npos ? "" : msg.substr(nl + 1)};
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

Status run_jobs(JobSource& src, const JobRunner& run) {
    const MpiWorld w = mpi_world();
    Outbox outbox;
    std::map<int, int> inflight;  // jobs on other ranks: index -> rank
    std::vector<int> queued(static_cast<size_t>(w.size), 0);
    int index = src.first_index;
    bool exhausted = false;
    // Every result waiting (block: until no job is in flight on another rank).
    auto collect = [&](bool block) -> Status {
        MPI_Status st;
        if (w.size > 1) outbox.reap();
        while (w.size > 1 &&
               ((block && !inflight.empty()) || waiting(MPI_ANY_SOURCE, MPI_ANY_TAG, &st))) {
            const std::string msg = receive(MPI_ANY_SOURCE, MPI_ANY_TAG, &st);
            const int from = st.MPI_SOURCE;
            const auto [i, payload] = unpack(msg);
            if (!inflight.count(i) || inflight[i] != from)
                return internal_error("rank " + std::to_string(from) + " answered job " +
                                      std::to_string(i) + ", which it was not given");
            inflight.erase(i);
            --queued[static_cast<size_t>(from)];
            if (st.MPI_TAG == kTagDropped) {
                if (src.dropped) src.dropped(i);
            } else if (st.MPI_TAG == kTagResult) {
                PARE_RETURN_IF_ERROR(src.done(i, payload, from));
            } else {
                return internal_error("unexpected message from rank " + std::to_string(from));
            }
        }
        return Status();
    };
    while (!exhausted && src.time_left()) {
        // Two jobs queued on every other rank, so none waits for rank 0.
        for (int r = 1; r < w.size && !exhausted; ++r) {
            while (queued[static_cast<size_t>(r)] < 2) {
                std::string job;
                if (!src.next(index, &job)) {
                    exhausted = true;
                    break;
                }
                outbox.send(std::to_string(index) + "\n" + job, r, kTagWork);
                inflight[index++] = r;
                ++queued[static_cast<size_t>(r)];
            }
        }
        // One job here.
        std::string job;
        if (!exhausted && src.next(index, &job)) {
            const int i = index++;
            PARE_ASSIGN_OR_RETURN(std::string result, run(job));
            PARE_RETURN_IF_ERROR(src.done(i, result, 0));
        } else {
            exhausted = true;
        }
        PARE_RETURN_IF_ERROR(collect(false));
    }
    for (int r = 1; r < w.size; ++r) outbox.send("stop", r, kTagStop);
    return collect(true);
}

Status serve_jobs(const JobRunner& run) {
    const MpiWorld w = mpi_world();
    Outbox outbox;
    for (;;) {
        outbox.reap();
        MPI_Status st;
        const std::string msg = receive(0, MPI_ANY_TAG, &st);
        if (st.MPI_TAG == kTagStop) return Status();
        if (st.MPI_TAG != kTagWork)
            return internal_error("rank " + std::to_string(w.rank) + ": unexpected message");
        const auto [index, job] = unpack(msg);
        MPI_Status stop;
        if (waiting(0, kTagStop, &stop)) {  // the search is over: do not start it
            outbox.send(std::to_string(index), 0, kTagDropped);
            continue;
        }
        PARE_ASSIGN_OR_RETURN(std::string result, run(job));
        outbox.send(std::to_string(index) + "\n" + result, 0, kTagResult);
    }
}

// --- pare auto on the engine ----------------------------------------------------

namespace {

// A trial job (trial JSON) -> trial JSON, NUL, the candidate's ONNX bytes.
JobRunner trial_runner(const AutoSearch& search) {
    return [&search](const std::string& job) -> Result<std::string> {
        PARE_ASSIGN_OR_RETURN(AutoTrial j, trial_from_json(job));
        std::string bytes;
        const AutoTrial t = search.evaluate(j.config, j.index, &bytes);
        return trial_to_json(t) + '\0' + bytes;
    };
}

}  // namespace

Status run_distributed(const AutoSearch& search, AutoState* s, const std::string& state_path,
                       const std::string& out_path) {
    const AutoOptions& o = search.options();
    const auto t0 = std::chrono::steady_clock::now();
    const double elapsed0 = s->elapsed_s;
    struct Pending {
        AutoConfig config;
        double budget = 0;
    };
    std::map<int, Pending> pending;  // proposed, not finished
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
    JobSource src;
    src.first_index = s->next_index();
    src.time_left = [&] {
        if (s->trials.empty() && pending.empty()) return true;  // the first trial always runs
        return elapsed0 + since(t0) + mean_trial() <= o.time_budget_s;
    };
    src.next = [&](int index, std::string* job) {
        AutoTrial j;
        j.index = index;
        j.config = search.propose(view(), index, &j.budget);
        pending[index] = {j.config, j.budget};
        if (o.progress)
            std::fprintf(stderr, "auto: trial %d (%.0f of %.0f s spent): %s, predicted %.3f ms\n",
                         index, elapsed0 + since(t0), o.time_budget_s,
                         config_summary(j.config).c_str(), search.predict_ms(j.config));
        *job = trial_to_json(j);
        return true;
    };
    src.done = [&](int index, const std::string& result, int worker) -> Status {
        const size_t nul = result.find('\0');
        PARE_ASSIGN_OR_RETURN(AutoTrial t, trial_from_json(result.substr(0, nul)));
        const auto p = pending.find(index);
        if (p == pending.end() || t.index != index)
            return internal_error("a result for trial " + std::to_string(index) +
                                  ", which is not in flight");
        t.budget = p->second.budget;
        t.predicted_ms = search.predict_ms(t.config);
        t.worker = worker;
        pending.erase(p);
        s->elapsed_s = elapsed0 + since(t0);
        return search.record(s, std::move(t),
                             nul == std::string::npos ? "" : result.substr(nul + 1), state_path,
                             out_path);
    };
    src.dropped = [&](int index) { pending.erase(index); };
    return run_jobs(src, trial_runner(search));
}

Status serve_trials(const AutoSearch& search) { return serve_jobs(trial_runner(search)); }

// --- pare nas on the engine -----------------------------------------------------

Result<NasResult> run_nas(const NasSpace& space, const ArchOptions& base, const NasOptions& o,
                          const NasTrainer& train) {
    PARE_ASSIGN_OR_RETURN(NasResult r, shortlist_nas(space, base, o));
    const auto t0 = std::chrono::steady_clock::now();
    const double spent0 = r.seconds;
    int inflight = 0, finished = 0;
    double total = 0;
    JobSource src;
    src.time_left = [&] {
        if (finished == 0 && inflight == 0) return true;  // the first candidate always trains
        const double mean = finished > 0 ? total / finished : 0.0;
        return spent0 + since(t0) + mean <= o.time_budget_s;
    };
    src.next = [&](int index, std::string* job) {
        if (index >= static_cast<int>(r.candidates.size())) return false;
        const NasCandidate& c = r.candidates[static_cast<size_t>(index)];
        if (o.progress)
            std::fprintf(stderr,
                         "nas: candidate %d (%.0f of %.0f s spent): %s, %.2fM MACs, "
                         "predicted %.3f ms\n",
                         index, spent0 + since(t0), o.time_budget_s,
                         nas_arch_summary(c.arch).c_str(), static_cast<double>(c.macs) / 1e6,
                         c.predicted_ms);
        *job = nas_job(c);
        ++inflight;
        return true;
    };
    src.done = [&](int index, const std::string& result, int worker) -> Status {
        NasCandidate& c = r.candidates[static_cast<size_t>(index)];
        PARE_RETURN_IF_ERROR(read_nas_result(result, &c));
        c.worker = worker;
        --inflight;
        ++finished;
        total += c.seconds;
        if (o.progress)
            std::fprintf(stderr,
                         "nas: candidate %d (rank %d): %.2f%% validation top-1 after short "
                         "training, %.3f ms measured (predicted %.3f), %.0f s\n",
                         index, worker, c.val_top1, c.measured_ms, c.predicted_ms, c.seconds);
        return Status();
    };
    src.dropped = [&](int) { --inflight; };
    PARE_RETURN_IF_ERROR(
        run_jobs(src, [&](const std::string& job) { return run_nas_job(job, base, o, train); }));
    r.best = choose_nas(r, o);
    if (r.best < 0)
        return invalid_argument(
            "every trained candidate measured more than 10% over the latency "
            "budget: the block table underestimates this space here");
    r.seconds = spent0 + since(t0);
    return r;
}

Status serve_nas(const ArchOptions& base, const NasOptions& o, const NasTrainer& train) {
    return serve_jobs([&](const std::string& job) { return run_nas_job(job, base, o, train); });
}

}  // namespace pare
