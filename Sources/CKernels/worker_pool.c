// The process's worker pool: persistent threads that spin briefly on a shared job word between parallel
// regions and sleep on a condition variable after that. A decoding step runs a few hundred small
// products per token, each worth a few tens of microseconds on two threads; waking a sleeping thread
// (futex, scheduler) costs about as much, so Dispatch's pool left the second core idle. Here a region's
// start is one atomic store that spinning workers see within a fraction of a microsecond.
//
// The job word packs (job number, next unclaimed task, task count). Any thread, the caller included,
// claims a task by compare-and-swap on that word, so a claim succeeds only for the job that is current;
// the job's function and context are read after a successful claim, and they cannot change until every
// claimed task has reported done. One region runs at a time: a caller that finds the pool busy (another
// thread's region) runs its tasks itself.
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "CKernels.h"

#include "cpu_pause.h"

#define PK_POOL_MAX_WORKERS 255
#define PK_TASK_BITS 20
#define PK_TASK_MASK ((1ull << PK_TASK_BITS) - 1)

/// How long an idle worker spins before it sleeps, in nanoseconds. Serial stretches between regions
/// (autograd bookkeeping, sampling a token) reach a millisecond or so; a worker that went to sleep in
/// one costs tens of microseconds to wake. Spinning 0.3 ms instead of 2 ms left a training step 15 %
/// slower and decoding at two thirds of the speed.
#ifndef PK_POOL_SPIN_NANOSECONDS
#define PK_POOL_SPIN_NANOSECONDS 2000000
#endif

static _Atomic uint64_t job_word;            // job << 40 | next << 20 | tasks
static void (*_Atomic job_function)(void *, long);
static void *_Atomic job_context;
static long *_Atomic job_flop_counter;  // the submitting thread's FLOP counter (pk_flops_counter)
static _Atomic long job_done;
static _Atomic int job_workers;              // workers that may take part in the current job
static _Atomic int sleepers;
static _Atomic int started_workers;
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER;  // one region at a time; also guards starting workers

static uint64_t pack(uint64_t job, uint64_t next, uint64_t tasks) { return job << 40 | next << PK_TASK_BITS | tasks; }
static uint64_t next_of(uint64_t word) { return (word >> PK_TASK_BITS) & PK_TASK_MASK; }
static uint64_t tasks_of(uint64_t word) { return word & PK_TASK_MASK; }

static uint64_t now_nanoseconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/// Claims and runs tasks of the current job until none is left. Returns how many this thread ran.
static long run_tasks(void) {
    long ran = 0;
    uint64_t word = atomic_load_explicit(&job_word, memory_order_acquire);
    while (next_of(word) < tasks_of(word)) {
        if (atomic_compare_exchange_weak_explicit(&job_word, &word, word + (1ull << PK_TASK_BITS), memory_order_acq_rel,
                                                  memory_order_acquire)) {
            void (*function)(void *, long) = atomic_load_explicit(&job_function, memory_order_relaxed);
            void *context = atomic_load_explicit(&job_context, memory_order_relaxed);
            // The submitting thread's FLOP counter (profiles), on whichever thread runs the task.
            long *const own_counter = pk_flops_counter();
            pk_flops_set_counter(atomic_load_explicit(&job_flop_counter, memory_order_relaxed));
            function(context, (long)next_of(word));
            pk_flops_set_counter(own_counter);
            atomic_fetch_add_explicit(&job_done, 1, memory_order_release);
            ran++;
            word = atomic_load_explicit(&job_word, memory_order_acquire);
        }
    }
    return ran;
}

static int has_work_for(int index) {
    const uint64_t word = atomic_load(&job_word);
    return next_of(word) < tasks_of(word) && index < atomic_load(&job_workers);
}

/// 0 on callers, 1 + the worker's number on the pool's workers (`pk_parallel_thread_index`).
static _Thread_local int thread_index = 0;

int pk_parallel_thread_index(void) { return thread_index; }

static void *worker_main(void *argument) {
    const int index = (int)(intptr_t)argument;
    thread_index = index + 1;
    pk_thread_set_parallel_region(1);  // tasks never open nested regions
    for (;;) {
        // Spin while work may arrive soon, checking the clock every 64 pauses.
        const uint64_t spin_end = now_nanoseconds() + PK_POOL_SPIN_NANOSECONDS;
        int found = 0;
        for (long spins = 0;; spins++) {
            if (has_work_for(index)) { found = 1; break; }
            PK_PAUSE();
            if ((spins & 63) == 63 && now_nanoseconds() > spin_end) break;
        }
        if (!found) {
            pthread_mutex_lock(&sleep_lock);
            atomic_fetch_add(&sleepers, 1);
            // Checked after announcing the sleep: a caller that published work before seeing us asleep
            // is seen here; one that publishes later sees the sleeper and signals under the lock.
            while (!has_work_for(index)) pthread_cond_wait(&wake, &sleep_lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&sleep_lock);
        }
        run_tasks();
    }
    return NULL;
}

/// Starts workers up to `count` (under submit_lock). Returns how many run.
static int ensure_workers(int count) {
    int started = atomic_load(&started_workers);
    while (started < count && started < PK_POOL_MAX_WORKERS) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attributes, 8u << 20);  // the GEMM keeps packing buffers per thread, not on the stack
        const int status = pthread_create(&thread, &attributes, worker_main, (void *)(intptr_t)started);
        pthread_attr_destroy(&attributes);
        if (status != 0) break;
        started++;
        atomic_store(&started_workers, started);
    }
    return started;
}

void pk_parallel_run(long tasks, int threads, void (*function)(void *context, long task), void *context) {
    if (tasks <= 0) return;
    const int outer = pk_thread_in_parallel_region();
    if (threads <= 1 || tasks == 1 || outer || tasks > (long)PK_TASK_MASK || pthread_mutex_trylock(&submit_lock) != 0) {
        // Serially here; still a region, so what the tasks start runs serially too.
        pk_thread_set_parallel_region(1);
        for (long task = 0; task < tasks; task++) function(context, task);
        pk_thread_set_parallel_region(outer);
        return;
    }
    const int wanted = threads - 1 < (int)tasks - 1 ? threads - 1 : (int)tasks - 1;
    const int workers = ensure_workers(wanted);
    atomic_store_explicit(&job_function, function, memory_order_relaxed);
    atomic_store_explicit(&job_context, context, memory_order_relaxed);
    atomic_store_explicit(&job_flop_counter, pk_flops_counter(), memory_order_relaxed);
    atomic_store_explicit(&job_done, 0, memory_order_relaxed);
    atomic_store_explicit(&job_workers, workers < wanted ? workers : wanted, memory_order_relaxed);
    const uint64_t job = (atomic_load_explicit(&job_word, memory_order_relaxed) >> 40) + 1;
    atomic_store(&job_word, pack(job & 0xFFFFFF, 0, (uint64_t)tasks));  // sequentially consistent: see worker_main
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    pk_thread_set_parallel_region(1);
    run_tasks();
    pk_thread_set_parallel_region(0);
    // Tasks claimed by workers may still run: wait for them (they are already under way).
    while (atomic_load_explicit(&job_done, memory_order_acquire) < tasks) PK_PAUSE();
    pthread_mutex_unlock(&submit_lock);
}
