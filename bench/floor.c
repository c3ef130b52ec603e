/* The floor: the least a health check can do. Connect to 127.0.0.1:PORT, send
 * "GET / HTTP/1.0", read the status line, exit 0 on 200. Built static, like healthprobe. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr)) return 1;
    static const char REQ[] = "GET / HTTP/1.0\r\n\r\n";
    if (write(fd, REQ, sizeof REQ - 1) != sizeof REQ - 1) return 1;
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 12) return 1;
    buf[n] = 0;
    return strncmp(buf + 9, "200", 3) == 0 ? 0 : 1;
}
