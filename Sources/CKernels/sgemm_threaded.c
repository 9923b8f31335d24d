// The blocked SGEMM on several threads with one packed copy of op(B).
//
// Splitting C into independent products (one `pk_sgemm` per thread) makes every thread pack the operand
// it shares with the others: a row split packs all of op(B) once per thread, a column split all of op(A).
// In a training step that duplicated packing is about 5 % of the time, and more when B is a quantized
// weight dequantized while it is packed. Here the threads first pack disjoint column ranges of op(B) into
// one buffer (a pool region), then compute disjoint row ranges of C against it (a second region). The
// region boundary is the only synchronisation, so a pool that runs the tasks serially (busy, nested, one
// thread) still computes the right result.
//
// The buffer holds op(B) in the blocks the Goto/BLIS loops visit: for each column block jc (NC wide), for
// each depth block pc (KC deep), ceil(nc/NR) panels of kc rows of NR values. Blocks before jc are all NC
// wide, so block (jc, pc) starts at jc·K + pc·(nc rounded up to NR).
#include <pthread.h>
#include <stdlib.h>

#include "CKernels.h"
#include "sgemm_internal.h"

typedef struct {
    pk_gemm_kernel active;
    int transA;
    long M, N, K;
    float alpha, beta;
    const float *A;
    long lda;
    float *C;
    long ldc;
    const pk_b_packer *packer;
    long granule;       // columns per packing unit (a multiple of PK_NR)
    float *packed_b;    // all of op(B), block by block
    float *packed_a;    // one A block per thread
    long pack_tasks;    // phase 1: column ranges of op(B)
    long row_tasks;     // phase 2: row ranges of C
    int threads;
} shared_b_job;

static long min_long(long a, long b) { return a < b ? a : b; }

static long round_up(long value, long multiple) { return (value + multiple - 1) / multiple * multiple; }

/// Start of block (jc, pc) in the shared buffer.
static float *block_at(const shared_b_job *job, long jc, long pc) {
    const long nc = min_long(job->N - jc, PK_NC);
    return job->packed_b + jc * job->K + round_up(nc, PK_NR) * pc;
}

/// Phase 1: columns [start, end) of op(B), granule-aligned, packed into every depth block.
static void pack_columns(void *context, long task) {
    const shared_b_job *job = context;
    const long units = (job->N + job->granule - 1) / job->granule;
    const long start = min_long(job->N, units * task / job->pack_tasks * job->granule);
    const long end = min_long(job->N, units * (task + 1) / job->pack_tasks * job->granule);
    for (long jc = start / PK_NC * PK_NC; jc < end; jc += PK_NC) {
        const long nc = min_long(job->N - jc, PK_NC);
        const long from = start > jc ? start : jc, to = min_long(end, jc + nc);
        if (from >= to) continue;
        for (long pc = 0; pc < job->K; pc += PK_KC) {
            const long kc = min_long(job->K - pc, PK_KC);
            job->packer->pack(job->packer->context, pc, from, kc, to - from, block_at(job, jc, pc) + (from - jc) * kc);
        }
    }
}

/// Phase 2: rows [start, end) of C (whole 12-row tiles) against the shared op(B).
static void compute_rows(void *context, long task) {
    const shared_b_job *job = context;
    const long tile = 2 * PK_MR, tiles = (job->M + tile - 1) / tile;
    const long start = min_long(job->M, tiles * task / job->row_tasks * tile);
    const long end = min_long(job->M, tiles * (task + 1) / job->row_tasks * tile);
    if (start >= end) return;
    // Workers of this region have indices below `threads`; a larger one means the region runs serially
    // (nested) on that one thread, which may then use any block.
    const int thread = pk_parallel_thread_index();
    float *packed_a = job->packed_a + (size_t)(thread < job->threads ? thread : 0) * PK_PACK_A_FLOATS;
    for (long jc = 0; jc < job->N; jc += PK_NC) {
        const long nc = min_long(job->N - jc, PK_NC);
        for (long pc = 0; pc < job->K; pc += PK_KC) {
            const long kc = min_long(job->K - pc, PK_KC);
            pk_sgemm_block_rows(job->active, packed_a, job->transA, job->A, job->lda, start, end - start, pc, kc, jc,
                                nc, block_at(job, jc, pc), job->alpha, pc == 0 ? job->beta : 1.0f, job->C, job->ldc);
        }
    }
}

// The buffer is kept between products: allocating a few megabytes per product and freeing them among
// the step's tensors fragmented the heap (a training step's peak grew by a quarter) and faulted in fresh
// pages. One product at a time uses it; a product that finds it taken returns -1 (the caller splits C
// instead).
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static float *shared_buffer;
static size_t shared_capacity;  // floats

int pk_sgemm_shared_b(pk_gemm_kernel active, int threads, int transA, long M, long N, long K, float alpha,
                      const float *A, long lda, const pk_b_packer *packer, long granule, float beta, float *C, long ldc) {
    // op(B) and each task's A block (PK_PACK_A_FLOATS and the B size are multiples of 16 floats: every
    // part stays 64-byte aligned), in place before any of C is written: on failure C is untouched.
    const size_t b_floats = (size_t)round_up(N, PK_NR) * (size_t)K;
    const size_t floats = b_floats + (size_t)threads * PK_PACK_A_FLOATS;
    if (pthread_mutex_trylock(&shared_lock) != 0) return -1;
    if (shared_capacity < floats) {
        free(shared_buffer);
        shared_buffer = aligned_alloc(64, floats * sizeof(float));
        shared_capacity = shared_buffer != NULL ? floats : 0;
        if (shared_buffer == NULL) {
            pthread_mutex_unlock(&shared_lock);
            return -1;
        }
    }
    // A few tasks per thread in each phase, claimed as threads become free, so a thread that started late
    // or runs slower does not hold the other one up at the end of the phase.
    const long units = (N + granule - 1) / granule, tiles = (M + 2 * PK_MR - 1) / (2 * PK_MR);
    shared_b_job job = {active, transA, M, N, K, alpha, beta, A, lda, C, ldc, packer, granule, shared_buffer,
                        shared_buffer + b_floats, min_long(units, 2L * threads), min_long(tiles, 4L * threads), threads};
    pk_parallel_run(job.pack_tasks, threads, pack_columns, &job);
    pk_parallel_run(job.row_tasks, threads, compute_rows, &job);
    pthread_mutex_unlock(&shared_lock);
    return 0;
}
