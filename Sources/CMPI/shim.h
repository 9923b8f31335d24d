// Open MPI (Debian: libopenmpi-dev, launcher from openmpi-bin). Only used with the `MPI` trait.
// MPI's handles (MPI_COMM_WORLD, MPI_DOUBLE, …) are macros Swift cannot import: these wrappers
// give the few collectives data-parallel training needs, on MPI_COMM_WORLD.
#include <mpi.h>

/// MPI_Init_thread asking for MPI_THREAD_FUNNELED (calls come from one thread at a time); 0 on success.
static inline int pk_mpi_initialize(void) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return 0;
    int provided = 0;
    return MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
}

static inline int pk_mpi_finalize(void) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    return finalized ? 0 : MPI_Finalize();
}

static inline int pk_mpi_rank(void) { int rank = 0; MPI_Comm_rank(MPI_COMM_WORLD, &rank); return rank; }
static inline int pk_mpi_size(void) { int size = 1; MPI_Comm_size(MPI_COMM_WORLD, &size); return size; }

/// In-place sum (max when `maximum`) of `count` doubles over every rank.
static inline int pk_mpi_allreduce_doubles(double *values, int count, int maximum) {
    return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, maximum ? MPI_MAX : MPI_SUM, MPI_COMM_WORLD);
}

static inline int pk_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static inline void pk_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
