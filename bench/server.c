/* A fast, deterministic loopback server for the benchmarks: binds 127.0.0.1:0, prints the
 * port, then answers every connection with one fixed HTTP/1.0 response and closes it. One
 * thread, no allocation per request, so what the benchmark measures is the client. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESPONSE[] =
    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) || listen(fd, 512)) {
        perror("bind/listen");
        return 1;
    }
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    char buf[4096];
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) continue;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* Read the request head (one read is enough for these small requests; a tcp probe
         * sends nothing and closes, so the read returns 0). */
        ssize_t n = read(c, buf, sizeof buf);
        if (n > 0) write(c, RESPONSE, sizeof RESPONSE - 1);
        close(c);
    }
}
