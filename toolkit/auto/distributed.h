// Searches across processes with MPI (Debian's OpenMPI): `mpirun -np N pare auto
// ...` or `mpirun -np N pare nas ...`. Rank 0 keeps the state, makes every job (a trial, a
// candidate), runs jobs itself between dispatches, and keeps two queued on
// every other rank, so none waits while rank 0 is busy with its own; the other
// ranks run what they are sent and send back the result (text, and bytes such
// as a model). Waiting ranks poll with short sleeps rather than spinning, so a
// rank busy training keeps its core. Without mpirun (no OMPI_COMM_WORLD_SIZE in
// the environment) MPI is never initialized and jobs run one after another.
#pragma once

#include <functional>
#include <string>

#include "toolkit/auto/auto.h"
#include "toolkit/auto/nas.h"

namespace pare {

// This process's rank and the number of ranks: (0, 1) when not under mpirun.
// The first call initializes MPI under mpirun.
struct MpiWorld {
    int rank = 0, size = 1;
};
MpiWorld mpi_world();
// MPI_Finalize when mpi_world() initialized MPI.
void mpi_finish();

// Rank 0 sends `text` to every other rank; the others receive it (polling).
Result<std::string> mpi_broadcast(const std::string& text);

// Rank 0's side of a search. Jobs and results are opaque strings.
struct JobSource {
    int first_index = 0;
    // The job numbered `index`, or false when there is none (the search is over).
    std::function<bool(int index, std::string* job)> next;
    // Whether another job fits in the time left.
    std::function<bool()> time_left;
    // A job's result, from `worker` (0: rank 0 itself).
    std::function<Status(int index, const std::string& result, int worker)> done;
    // A job dispatched but not started before the end.
    std::function<void(int index)> dropped;
};
using JobRunner = std::function<Result<std::string>(const std::string& job)>;
// Rank 0: jobs from `source` run here and on every other rank until it has none
// or no time is left; then the jobs in flight finish (queued ones are dropped).
// One process: the same, one job at a time.
Status run_jobs(JobSource& source, const JobRunner& run);
// Ranks 1..N-1: run what rank 0 sends until it says stop.
Status serve_jobs(const JobRunner& run);

// pare auto on the engine above: AutoSearch::run's search with every rank
// evaluating trials (rank 0), and a worker's loop (other ranks).
Status run_distributed(const AutoSearch& search, AutoState* state, const std::string& state_path,
                       const std::string& out_path);
Status serve_trials(const AutoSearch& search);

// pare nas on the engine: the shortlist made on rank 0 (shortlist_nas), its
// candidates measured and trained on every rank until the time budget is spent,
// the best chosen (rank 0); the other ranks' loop.
Result<NasResult> run_nas(const NasSpace& space, const ArchOptions& base, const NasOptions& options,
                          const NasTrainer& train);
Status serve_nas(const ArchOptions& base, const NasOptions& options, const NasTrainer& train);

}  // namespace pare
