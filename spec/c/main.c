/*
** main.c: the runner of the C tests (build/ctest/run [name...]). Each test
** runs in a child process with a watchdog (uv:test/runner.h), so a crash
** or a hang fails that test only; the last line printed is
** "N passed, M failed".
*/
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctest.h"

#define WATCHDOG_SECONDS 30

typedef struct ct_test {
  const char *name;
  int (*fn)(void);
} ct_test;

#define CTEST_ENTRY(name) {#name, test_##name},
static const ct_test tests[] = { TEST_LIST(CTEST_ENTRY) {NULL, NULL} };

static int selected(int argc, char **argv, const char *name) {
  int i;
  if (argc < 2) return 1;
  for (i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

int main(int argc, char **argv) {
  int passed = 0, failed = 0, n = 0;
  const ct_test *t;
  signal(SIGPIPE, SIG_IGN);
  for (t = tests; t->name != NULL; t++) {
    pid_t pid;
    int status = 0;
    if (!selected(argc, argv, t->name)) continue;
    n++;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
      perror("fork");
      return 2;
    }
    if (pid == 0) {
      int rc;
      alarm(WATCHDOG_SECONDS);
      rc = t->fn();
      fflush(stdout);
      exit(rc == 0 ? 0 : 1);
    }
    while (waitpid(pid, &status, 0) < 0) {}
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      printf("ok %d - %s\n", n, t->name);
      passed++;
    } else if (WIFEXITED(status)) {
      printf("not ok %d - %s (exit status %d)\n", n, t->name,
             WEXITSTATUS(status));
      failed++;
    } else {
      printf("not ok %d - %s (signal %d%s)\n", n, t->name,
             WTERMSIG(status),
             WTERMSIG(status) == SIGALRM ? ": timed out" : "");
      failed++;
    }
  }
  printf("%d passed, %d failed\n", passed, failed);
  fflush(stdout);
  return failed == 0 && n > 0 ? 0 : 1;
}
