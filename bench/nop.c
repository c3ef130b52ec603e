/* The least any process costs: a static program that only exits (bench/run.sh's `nop` row),
 * or, given an argument, one that first starts a thread that only waits, as a watchdog
 * thread does, and exits without joining it (`nop-thread`: the least such a thread costs).
 * Built with musl-gcc like the floor, so the table shows what healthprobe pays beyond these. */
#include <pthread.h>
#include <unistd.h>

static void *idle(void *arg) {
    (void)arg;
    for (;;) pause();
    return 0;
}

int main(int argc, char **argv) {
    (void)argv;
    if (argc > 1) {
        pthread_t thread;
        if (pthread_create(&thread, 0, idle, 0)) return 1;
    }
    return 0;
}
