#ifndef PEFTKIT_CSIGNALS_H
#define PEFTKIT_CSIGNALS_H

/// Installs SIGINT and SIGUSR1 handlers that only record the request (async-signal-safe); a second
/// Ctrl-C gets the default action, so it terminates as usual. SIGUSR1 is the signal `mpirun`
/// forwards to every process of a job (it ends the job on SIGINT). Calls nest: the first installs (and clears
/// any old request), the matching last `pk_interrupt_uninstall` restores the default action.
void pk_interrupt_install(void);
/// Undoes one `pk_interrupt_install`.
void pk_interrupt_uninstall(void);
/// 1 when Ctrl-C was pressed (or SIGUSR1 arrived) since the outermost install.
int pk_interrupt_requested(void);

/// Installs handlers for SIGINT and SIGTERM that only record the request (for a server that stops
/// gracefully on either); a second signal gets the default action.
void pk_stop_signals_install(void);
/// 1 when SIGINT or SIGTERM arrived since `pk_stop_signals_install`.
int pk_stop_requested(void);

#endif
