/*
 * udp — line protocol over UDP on the node's udpaddr. See udp.c.
 */
#ifndef IP_UDP_H
#define IP_UDP_H

#include <stdint.h>
#include "cfg.h"
#include "server.h"

/* Binds udpaddr (when set) and reads it on @t's loop (loop 0). Returns 0, or -1 with @err. */
int ip_udp_start(ip_thread_t *t, const cfg_node_t *node, char *err, size_t errcap);
void ip_udp_stop(void);

/* Datagrams, good lines, unparsable lines and lines every backend refused, since start. Any thread. */
void ip_udp_stats(uint64_t *datagrams, uint64_t *lines, uint64_t *bad_lines, uint64_t *refused_lines);

#endif
