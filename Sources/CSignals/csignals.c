#include "csignals.h"
#include <signal.h>

static volatile sig_atomic_t pk_requested = 0;
static int pk_installs = 0;

static void pk_on_interrupt(int signal_number) {
    (void)signal_number;
    pk_requested = 1;
    signal(SIGINT, SIG_DFL);  /* a second Ctrl-C ends the process */
}

void pk_interrupt_install(void) {
    if (__atomic_fetch_add(&pk_installs, 1, __ATOMIC_SEQ_CST) == 0) {
        pk_requested = 0;
        signal(SIGINT, pk_on_interrupt);
        signal(SIGUSR1, pk_on_interrupt);  /* what mpirun forwards to every process of a job */
    }
}

void pk_interrupt_uninstall(void) {
    if (__atomic_sub_fetch(&pk_installs, 1, __ATOMIC_SEQ_CST) == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGUSR1, SIG_DFL);
    }
}

int pk_interrupt_requested(void) { return pk_requested; }

static volatile sig_atomic_t pk_stop = 0;

static void pk_on_stop(int signal_number) {
    pk_stop = 1;
    signal(signal_number, SIG_DFL);  /* a second signal ends the process */
}

void pk_stop_signals_install(void) {
    pk_stop = 0;
    signal(SIGINT, pk_on_stop);
    signal(SIGTERM, pk_on_stop);
}

int pk_stop_requested(void) { return pk_stop; }
