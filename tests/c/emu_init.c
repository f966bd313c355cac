/*
 * emu_init.c - the first and only process of the small Linux that
 * scripts/check-avx512 boots in an emulator: runs /paths_agree with this
 * program's own arguments (the kernel passes what follows "--" on its
 * command line), its output on the first serial port, then powers the
 * machine off so that the emulator exits.
 *
 * The last line on the serial port is "EMU_EXIT=<status>" (128 + signal
 * if the program was killed). As process 1 it must never return: the
 * kernel would panic instead of powering off.
 *
 *   gcc -Os -static -o emu_init emu_init.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void power_off(void)
{
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

/* The serial port, with output post-processing off (no "\n" -> "\r\n"):
 * the host's file then holds the program's bytes as written. */
static int open_serial(void)
{
    mkdir("/dev", 0755);
    if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0 && errno != EBUSY)
        return -1;
    int fd = open("/dev/ttyS0", O_WRONLY | O_NOCTTY);
    struct termios t;
    if (fd >= 0 && tcgetattr(fd, &t) == 0) {
        t.c_oflag &= ~(tcflag_t)OPOST;
        tcsetattr(fd, TCSANOW, &t);
    }
    return fd;
}

int main(int argc, char **argv)
{
    int out = open_serial();
    if (out < 0)
        power_off(); /* nothing to report on: the script sees no EMU_EXIT line */
    mkdir("/proc", 0755);
    mount("proc", "/proc", "proc", 0, NULL); /* OpenMP counts CPUs there */

    argv[0] = "/paths_agree";
    int status = 0, code = 127;
    pid_t child = fork();
    if (child == 0) {
        dup2(out, 1);
        dup2(out, 2);
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0)
            dup2(in, 0);
        char *env[] = {"PATH=/", NULL};
        execve(argv[0], argv, env);
        dprintf(2, "emu_init: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    (void)argc;
    while (child > 0) {
        pid_t done = wait(&status);
        if (done == child) {
            code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (done < 0 && errno != EINTR)
            break;
    }
    dprintf(out, "EMU_EXIT=%d\n", code);
    tcdrain(out);
    power_off();
    return 0;
}
