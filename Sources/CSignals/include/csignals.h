#ifndef PEFTKIT_CSIGNALS_H
#define PEFTKIT_CSIGNALS_H

/// Installs a SIGINT handler that only records the request (async-signal-safe); a second Ctrl-C
/// restores the default action, so it terminates as usual.
void pk_interrupt_install(void);
/// Restores the default SIGINT action.
void pk_interrupt_uninstall(void);
/// 1 when Ctrl-C was pressed since the last reset.
int pk_interrupt_requested(void);
/// Clears the request.
void pk_interrupt_reset(void);

#endif
