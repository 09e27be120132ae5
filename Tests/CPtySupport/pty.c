#define _GNU_SOURCE
#include "cptysupport.h"
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

pid_t cpty_spawn(const char *path, char *const argv[], char *const envp[], int *master) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -1;
    if (grantpt(m) != 0 || unlockpt(m) != 0) { close(m); return -1; }
    const char *name = ptsname(m);
    if (name == NULL) { close(m); return -1; }
    struct winsize size = { .ws_row = 40, .ws_col = 120 };
    ioctl(m, TIOCSWINSZ, &size);
    pid_t pid = fork();
    if (pid < 0) { close(m); return -1; }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* as a login shell would start it */
        setsid();
        int s = open(name, O_RDWR); /* becomes the controlling terminal */
        if (s < 0) _exit(127);
        ioctl(s, TIOCSCTTY, 0);
        dup2(s, 0); dup2(s, 1); dup2(s, 2);
        if (s > 2) close(s);
        execve(path, argv, envp);
        _exit(127);
    }
    *master = m;
    return pid;
}
