#ifndef CPTYSUPPORT_H
#define CPTYSUPPORT_H
#include <sys/types.h>

/* Test support: start a program on a new pseudo-terminal, as a terminal user would.
   The child becomes a session leader with the terminal as its controlling terminal, so
   Ctrl-C typed into the master reaches it as SIGINT. Returns the child's pid (or -1) and the
   master descriptor in *master. */
pid_t cpty_spawn(const char *path, char *const argv[], char *const envp[], int *master);

#endif
