#define _GNU_SOURCE
#include "clinux.h"
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <poll.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

static __thread pid_t cached_tid;

pid_t clinux_gettid(void) {
    if (cached_tid == 0) cached_tid = (pid_t)syscall(SYS_gettid);
    return cached_tid;
}

static __thread char thread_name[16];

void clinux_set_thread_name(const char *name) {
    strncpy(thread_name, name, sizeof(thread_name) - 1);
    thread_name[sizeof(thread_name) - 1] = 0;
    pthread_setname_np(pthread_self(), thread_name);
}

const char *clinux_thread_name(void) {
    if (thread_name[0] == 0) {
        if (pthread_getname_np(pthread_self(), thread_name, sizeof(thread_name)) != 0 || thread_name[0] == 0) {
            strcpy(thread_name, "?");
        }
    }
    return thread_name;
}

/* CRC is linear: the CRCs of one key under two seeds differ by a constant, so seeds alone would
   give every bank the same bucket pattern. Multiplying the key by a different odd constant per
   bank first makes the banks' hashes independent. */
static inline uint64_t bank_multiplier(int bank) {
    return 0x9E3779B97F4A7C15ull * (uint64_t)(2 * bank + 1) | 1;
}

/* Table for the software fallback (reflected polynomial 0x82F63B78). */
static uint32_t crc_table[256];
static int has_sse42;

/* Runs at load time, before any thread can call in. */
__attribute__((constructor)) static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    has_sse42 = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

static uint32_t crc32c_soft(uint32_t crc, uint64_t value) {
    for (int i = 0; i < 8; i++) {
        crc = crc_table[(crc ^ (uint32_t)(value & 0xff)) & 0xff] ^ (crc >> 8);
        value >>= 8;
    }
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, uint64_t value) {
    return (uint32_t)__builtin_ia32_crc32di(crc, value);
}

__attribute__((target("sse4.2")))
static void bucket_hashes_hw(uint64_t key, const uint32_t *seeds, int banks, uint32_t mask, uint32_t *out) {
    for (int b = 0; b < banks; b++) out[b] = (uint32_t)__builtin_ia32_crc32di(seeds[b], key * bank_multiplier(b)) & mask;
}

void clinux_bucket_hashes(uint64_t key, const uint32_t *seeds, int banks, uint32_t mask, uint32_t *out) {
    if (has_sse42) { bucket_hashes_hw(key, seeds, banks, mask, out); return; }
    for (int b = 0; b < banks; b++) out[b] = crc32c_soft(seeds[b], key * bank_multiplier(b)) & mask;
}

uint32_t clinux_crc32c_u64(uint32_t crc, uint64_t value) {
    return has_sse42 ? crc32c_hw(crc, value) : crc32c_soft(crc, value);
}
#else
void clinux_bucket_hashes(uint64_t key, const uint32_t *seeds, int banks, uint32_t mask, uint32_t *out) {
    for (int b = 0; b < banks; b++) out[b] = crc32c_soft(seeds[b], key * bank_multiplier(b)) & mask;
}
uint32_t clinux_crc32c_u64(uint32_t crc, uint64_t value) { return crc32c_soft(crc, value); }
#endif

void clinux_prefetch_buckets(const uint64_t *keys, const uint32_t *buckets, int banks, long slots_per_bank,
                             int entries_per_bucket) {
    for (int b = 0; b < banks; b++) {
        __builtin_prefetch(keys + b * slots_per_bank + (long)buckets[b] * entries_per_bucket);
    }
}

int clinux_packet_open(const char *ifname) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) return -errno;
    unsigned index = if_nametoindex(ifname);
    if (index == 0) { int e = errno; close(fd); return -e; }
    struct sockaddr_ll address;
    memset(&address, 0, sizeof address);
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = (int)index;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) { int e = errno; close(fd); return -e; }
    struct packet_mreq membership;
    memset(&membership, 0, sizeof membership);
    membership.mr_ifindex = (int)index;
    membership.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &membership, sizeof membership) != 0) { int e = errno; close(fd); return -e; }
    /* Bursts of adverts (1,000 Masters time out together): 4 MB, best effort. */
    int size = 4 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    return fd;
}

int clinux_packet_receive(int fd, unsigned char *buffer, int capacity, int timeout_ms) {
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int ready = poll(&p, 1, timeout_ms);
        if (ready < 0) { if (errno == EINTR) continue; return -errno; }
        if (ready == 0) return 0;
        struct sockaddr_ll from;
        socklen_t length = sizeof from;
        /* MSG_TRUNC: the frame's real length, so that one longer than the buffer is dropped
           rather than delivered cut short. */
        ssize_t n = recvfrom(fd, buffer, (size_t)capacity, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &length);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return -errno;
        }
        if (from.sll_pkttype == PACKET_OUTGOING) continue;  /* our own transmissions */
        if (n > capacity) continue;
        return (int)n;
    }
}
