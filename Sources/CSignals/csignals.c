#include "csignals.h"
#include <signal.h>

static volatile sig_atomic_t pk_requested = 0;

static void pk_on_interrupt(int signal_number) {
    (void)signal_number;
    pk_requested = 1;
    signal(SIGINT, SIG_DFL);  /* a second Ctrl-C ends the process */
}

void pk_interrupt_install(void) { signal(SIGINT, pk_on_interrupt); }
void pk_interrupt_uninstall(void) { signal(SIGINT, SIG_DFL); }
int pk_interrupt_requested(void) { return pk_requested; }
void pk_interrupt_reset(void) { pk_requested = 0; }
