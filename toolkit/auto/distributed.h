// pare auto across processes with MPI (Debian's OpenMPI): `mpirun -np N pare auto
// ...`. Rank 0 keeps the state, proposes every trial and evaluates trials
// itself between dispatches; ranks 1..N-1 evaluate the trials rank 0 sends them
// (each has two queued, so none waits while rank 0 is busy with its own) and
// send back the figures and the candidate's ONNX bytes. Waiting ranks poll with
// short sleeps rather than spinning, so a rank busy training keeps its core.
// Without mpirun (no OMPI_COMM_WORLD_SIZE in the environment) MPI is never
// initialized and nothing here is used.
#pragma once

#include <string>

#include "toolkit/auto/auto.h"

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

// Rank 0: the search as AutoSearch::run, with the other ranks evaluating too.
Status run_distributed(const AutoSearch& search, AutoState* state, const std::string& state_path,
                       const std::string& out_path);
// Ranks 1..N-1: evaluate what rank 0 sends until it says stop.
Status serve_trials(const AutoSearch& search);

}  // namespace pare
