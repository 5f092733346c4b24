/*
 * berth's pod infra process (the kubelet's pause container, kubernetes build/pause/linux/pause.c):
 * PID 1 of the PID namespace the apps of a `shareProcessNamespace: true` pod share. It holds
 * the namespace whatever app restarts, reaps the zombies re-parented to it, and exits 0 on
 * SIGTERM or SIGINT (a PID 1 gets only the signals it has a handler for). Built static, so
 * that its root file system is this one file (scripts/bundle.mjs, gcc -static).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void sigdown(int signo) {
  psignal(signo, "shutting down, got signal");
  exit(0);
}

static void sigreap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "-v") == 0) {
    printf("berth-pause 1\n");
    return 0;
  }
  if (getpid() != 1) fprintf(stderr, "warning: pause should be the first process\n");
  struct sigaction down = {.sa_handler = sigdown};
  struct sigaction reap = {.sa_handler = sigreap, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
  if (sigaction(SIGINT, &down, NULL) < 0) return 1;
  if (sigaction(SIGTERM, &down, NULL) < 0) return 2;
  if (sigaction(SIGCHLD, &reap, NULL) < 0) return 3;
  for (;;) pause();
  fprintf(stderr, "error: infinite loop terminated\n");
  return 42;
}
