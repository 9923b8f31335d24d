// The blocked SGEMM on several threads with one packed copy of op(B).
//
// Splitting C into independent products (one `pk_sgemm` per thread) makes every thread pack the operand
// it shares with the others: a row split packs all of op(B) once per thread, a column split all of op(A).
// In a training step that duplicated packing is about 5 % of the time, and more when B is a quantized
// weight dequantized while it is packed. Here one pool region packs op(B) into one buffer and then
// computes parts of C against it. Its tasks, claimed in order, are first the packing of each block of
// op(B) (split into a part per thread, so the first block is ready soon), then parts of C: ranges of
// rows, the last row tiles split by columns. A computing task waits for each block's parts before it
// uses the block; as every packing task is claimed before any computing task, the parts it waits for are
// already being packed by other threads, and a thread that finishes packing computes the first blocks
// while the last ones are still being packed. Run
// serially (a busy or nested pool, one thread), the tasks simply pack everything first.
//
// The buffer holds op(B) in the blocks of the Goto/BLIS loops: for each column block jc (NC wide), for
// each depth block pc (KC deep), ceil(nc/NR) panels of kc rows of NR values. Blocks before jc are all NC
// wide, so block (jc, pc) starts at jc·K + pc·(nc rounded up to NR). As all of op(B) is at hand, a row
// task packs each MC×KC block of A once and sweeps it across every column block (the single-threaded
// loops pack it again for each column block); blocks are therefore packed, and numbered, depth block
// by depth block (pc-major), the order the computing tasks use them.
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "CKernels.h"
#include "cpu_pause.h"
#include "sgemm_internal.h"


/// Rows [row0, row1) and columns [col0, col1) of C.
typedef struct {
    long row0, row1, col0, col1;
} pk_part_of_c;

typedef struct {
    pk_gemm_kernel active;
    int transA;
    long N, K;
    float alpha, beta;
    const float *A;
    long lda;
    float *C;
    long ldc;
    const pk_b_packer *packer;
    long granule;             // columns per packing unit (a multiple of PK_NR)
    float *packed_b;          // all of op(B), block by block
    float *packed_a;          // one A block per thread
    _Atomic long *packed;     // per block of op(B): parts packed so far
    long column_blocks;       // blocks along N per depth block
    long parts;               // packing tasks per block
    long pack_tasks;          // tasks [0, pack_tasks) pack, the rest compute parts of C
    const pk_part_of_c *compute_tasks;  // the part of C each computing task computes
    long compute_task_count;
    int threads;
    // Mixed precision (half, sgemm_half.c, or bfloat16, sgemm_bfloat16.c): each packed block is also
    // converted (64-column groups, one inverse scale each), and each thread's A block to 12-row tiles.
    const pk_reduced_arithmetic *reduced;  // NULL: float
    uint16_t *half_b;         // all of op(B) converted, block by block as packed_b
    float *b_inverse;         // per depth block, per 64-column group of N
    uint32_t *half_a;         // one converted A block per thread
    float *a_inverse;         // PK_MC per thread
} shared_b_job;

// Row tasks shrink as the product advances (guided scheduling): each takes 1/(2·threads) of the tiles
// still unassigned. The last `threads` row tiles are also split by columns (into `threads` pieces each),
// so that at the end of the product no thread waits long for another to finish a whole row tile (a
// 12×N×K piece of work: 0.15 ms for a 1536-wide product).
#define PK_MAX_ROW_TASKS 256

/// Fills `tasks` (room for PK_MAX_ROW_TASKS + threads² parts) with the computing tasks of an M×N
/// product, in the order they should be claimed; returns their count.
static long guided_tasks(long M, long N, int threads, long column_tile, pk_part_of_c *tasks) {
    const long tile = 2 * PK_MR, tiles = (M + tile - 1) / tile;
    const long split = threads > 1 && tiles > threads ? threads : 0;
    const long column_tiles = (N + column_tile - 1) / column_tile;
    const long pieces = column_tiles < threads ? column_tiles : threads;
    long count = 0, assigned = 0;
    while (assigned < tiles - split) {
        const long remaining = tiles - split - assigned;
        long size = (remaining + 2L * threads - 1) / (2L * threads);
        if (count == PK_MAX_ROW_TASKS - 1) size = remaining;
        const long end = (assigned + size) * tile;
        tasks[count++] = (pk_part_of_c){assigned * tile, end < M ? end : M, 0, N};
        assigned += size;
    }
    for (; assigned < tiles; assigned++) {
        const long row1 = (assigned + 1) * tile < M ? (assigned + 1) * tile : M;
        for (long piece = 0; piece < pieces; piece++) {
            const long col0 = column_tiles * piece / pieces * column_tile;
            const long col1 = column_tiles * (piece + 1) / pieces * column_tile;
            tasks[count++] = (pk_part_of_c){assigned * tile, row1, col0, col1 < N ? col1 : N};
        }
    }
    return count;
}

static long min_long(long a, long b) { return a < b ? a : b; }

static long round_up(long value, long multiple) { return (value + multiple - 1) / multiple * multiple; }

/// Start of block (jc, pc) in the shared buffer.
static float *block_at(const shared_b_job *job, long jc, long pc) {
    const long nc = min_long(job->N - jc, PK_NC);
    return job->packed_b + jc * job->K + round_up(nc, PK_NR) * pc;
}

/// Start of block (jc, pc) in the converted (half or bfloat16) copy of op(B), and its first 64-column group's inverse scale.
static uint16_t *half_block_at(const shared_b_job *job, long jc, long pc) {
    const long nc = min_long(job->N - jc, PK_NC);
    return job->half_b + jc * job->K + round_up(nc, PK_HALF_NR) * pc;
}
static float *half_inverse_at(const shared_b_job *job, long jc, long pc) {
    return job->b_inverse + pc / PK_KC * ((job->N + PK_HALF_NR - 1) / PK_HALF_NR) + jc / PK_HALF_NR;
}

/// Packs part `part` of block `block` (granule-aligned columns of the block's nc) and marks it done.
static void pack_part(const shared_b_job *job, long block, long part) {
    const long pc = block / job->column_blocks * PK_KC, jc = block % job->column_blocks * PK_NC;
    const long nc = min_long(job->N - jc, PK_NC), kc = min_long(job->K - pc, PK_KC);
    const long units = (nc + job->granule - 1) / job->granule;
    const long from = min_long(nc, units * part / job->parts * job->granule);
    const long to = min_long(nc, units * (part + 1) / job->parts * job->granule);
    if (from < to) {
        float *packed = block_at(job, jc, pc) + from * kc;
        job->packer->pack(job->packer->context, pc, jc + from, kc, to - from, packed);
        // Parts start on 64-column groups in reduced precision (the granule is a multiple of 64).
        if (job->reduced)
            job->reduced->pack_b(packed, kc, to - from, half_block_at(job, jc, pc) + from * kc,
                           half_inverse_at(job, jc, pc) + from / PK_HALF_NR);
    }
    atomic_fetch_add_explicit(&job->packed[block], 1, memory_order_release);
}

/// The part of C of computing task `task` against the shared op(B), block after block.
static void compute_part(const shared_b_job *job, long task) {
    const pk_part_of_c part = job->compute_tasks[task];
    if (part.row0 >= part.row1 || part.col0 >= part.col1) return;
    // Workers of this region have indices below `threads`; a larger one means the region runs serially
    // (nested) on that one thread, which may then use any block.
    const int thread = pk_parallel_thread_index();
    const size_t slot = (size_t)(thread < job->threads ? thread : 0);
    float *packed_a = job->packed_a + slot * PK_PACK_A_FLOATS;
    uint32_t *half_a = job->reduced ? job->half_a + slot * PK_PACK_A_FLOATS : NULL;
    float *a_inverse = job->reduced ? job->a_inverse + slot * PK_MC : NULL;
    // Depth blocks outermost, so the task needs the first blocks packed first, in packing order.
    for (long pc = 0, first = 0; pc < job->K; pc += PK_KC, first += job->column_blocks) {
        const long kc = min_long(job->K - pc, PK_KC);
        for (long ic = part.row0; ic < part.row1; ic += PK_MC) {
            const long mc = min_long(part.row1 - ic, PK_MC);
            pk_sgemm_pack_a_block(job->active, job->transA, job->A, job->lda, ic, pc, mc, kc, packed_a);
            if (job->reduced) job->reduced->pack_a(packed_a, mc, kc, half_a, a_inverse);
            for (long jc = part.col0 / PK_NC * PK_NC, block = first + part.col0 / PK_NC; jc < part.col1; jc += PK_NC, block++) {
                // This task's columns of the block (piece boundaries are multiples of the 32-column tile, or of
                // the 64-column group in reduced precision).
                const long from = part.col0 > jc ? part.col0 : jc;
                const long to = min_long(min_long(job->N, jc + PK_NC), part.col1);
                while (atomic_load_explicit(&job->packed[block], memory_order_acquire) < job->parts) PK_PAUSE();
                if (job->reduced) {
                    job->reduced->block_tiles(half_a, a_inverse, mc, kc, to - from, half_block_at(job, jc, pc) + (from - jc) * kc,
                                        half_inverse_at(job, jc, pc) + (from - jc) / PK_HALF_NR, job->alpha,
                                        pc == 0 ? job->beta : 1.0f, job->C + ic * job->ldc + from, job->ldc);
                    continue;
                }
                pk_sgemm_block_tiles(job->active, packed_a, mc, kc, to - from, block_at(job, jc, pc) + (from - jc) * kc,
                                     job->alpha, pc == 0 ? job->beta : 1.0f, job->C + ic * job->ldc + from, job->ldc);
            }
        }
    }
}

static void run_task(void *context, long task) {
    const shared_b_job *job = context;
    if (task < job->pack_tasks) {
        pack_part(job, task / job->parts, task % job->parts);
    } else {
        compute_part(job, task - job->pack_tasks);
    }
}

// The buffer is kept between products: allocating a few megabytes per product and freeing them among
// the step's tensors fragmented the heap (a training step's peak grew by a quarter) and faulted in fresh
// pages. One product at a time uses it; a product that finds it taken returns -1 (the caller splits C
// instead).
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static float *shared_buffer;
static size_t shared_capacity;  // floats

static long greatest_common_divisor(long a, long b) { return b == 0 ? a : greatest_common_divisor(b, a % b); }

int pk_sgemm_shared_b(pk_gemm_kernel active, int threads, const pk_reduced_arithmetic *reduced, int transA, long M, long N,
                      long K, float alpha, const float *A, long lda, const pk_b_packer *packer, long granule, float beta,
                      float *C, long ldc) {
    const int converted = reduced != NULL;
    // op(B), each thread's A block and the blocks' counters (PK_PACK_A_FLOATS and the B size are
    // multiples of 16 floats: every part stays 64-byte aligned), then in reduced precision the converted op(B)
    // with its inverse scales and each thread's converted A block with its row scales; all in place before any of C is
    // written: on failure C is untouched.
    const long column_blocks = (N + PK_NC - 1) / PK_NC, depth_blocks = (K + PK_KC - 1) / PK_KC;
    const long blocks = depth_blocks * column_blocks;
    const size_t b_floats = (size_t)round_up(N, PK_NR) * (size_t)K;
    const size_t a_floats = (size_t)threads * PK_PACK_A_FLOATS;
    const size_t counter_floats = (size_t)round_up(blocks * (long)(sizeof(_Atomic long) / sizeof(float)), 16);
    const size_t half_b_floats = converted ? (size_t)round_up(round_up(N, PK_HALF_NR) * K / 2, 16) : 0;
    const size_t b_inverse_floats = converted ? (size_t)round_up(depth_blocks * ((N + PK_HALF_NR - 1) / PK_HALF_NR), 16) : 0;
    const size_t half_a_floats = converted ? a_floats : 0;
    const size_t a_inverse_floats = converted ? (size_t)round_up((long)threads * PK_MC, 16) : 0;
    const size_t floats = b_floats + a_floats + counter_floats + half_b_floats + b_inverse_floats + half_a_floats + a_inverse_floats;
    // A float product that finds the buffer taken returns (its caller's split gives the same bits); a
    // reduced-precision one takes a buffer of its own, as falling back to float would change its result.
    float *buffer;
    const int owned = pthread_mutex_trylock(&shared_lock) != 0;
    if (owned) {
        if (!converted) return -1;
        buffer = aligned_alloc(64, floats * sizeof(float));  // every part is a multiple of 16 floats
        if (buffer == NULL) return -1;
    } else {
        if (shared_capacity < floats) {
            free(shared_buffer);
            shared_buffer = aligned_alloc(64, floats * sizeof(float));
            shared_capacity = shared_buffer != NULL ? floats : 0;
            if (shared_buffer == NULL) {
                pthread_mutex_unlock(&shared_lock);
                return -1;
            }
        }
        buffer = shared_buffer;
    }
    _Atomic long *packed = (_Atomic long *)(void *)(buffer + b_floats + a_floats);
    for (long block = 0; block < blocks; block++) atomic_init(&packed[block], 0);
    pk_part_of_c *tasks = malloc((PK_MAX_ROW_TASKS + (size_t)threads * threads) * sizeof *tasks);
    if (tasks == NULL) {
        if (owned) free(buffer); else pthread_mutex_unlock(&shared_lock);
        return -1;
    }
    // Reduced precision converts whole 64-column groups: packing parts and computing pieces start on them.
    if (converted) granule = granule / greatest_common_divisor(granule, PK_HALF_NR) * PK_HALF_NR;
    const long task_count = guided_tasks(M, N, threads, converted ? PK_HALF_NR : 2 * PK_NR, tasks);
    float *half_region = buffer + b_floats + a_floats + counter_floats;
    shared_b_job job = {active, transA, N, K, alpha, beta, A, lda, C, ldc, packer, granule, buffer,
                        buffer + b_floats, packed, column_blocks, threads, blocks * threads, tasks,
                        task_count, threads, reduced,
                        converted ? (uint16_t *)(void *)half_region : NULL,
                        converted ? half_region + half_b_floats : NULL,
                        converted ? (uint32_t *)(void *)(half_region + half_b_floats + b_inverse_floats) : NULL,
                        converted ? half_region + half_b_floats + b_inverse_floats + half_a_floats : NULL};
    pk_parallel_run(job.pack_tasks + job.compute_task_count, threads, run_task, &job);
    free(tasks);
    if (owned) free(buffer); else pthread_mutex_unlock(&shared_lock);
    return 0;
}
