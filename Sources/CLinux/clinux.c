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
#include <sys/ioctl.h>
#include <linux/virtio_net.h>

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
    /* Options before bind: no frame arrives without its header. */
    int on = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof on) != 0) { int e = errno; close(fd); return -e; }
    if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &on, sizeof on) != 0) { int e = errno; close(fd); return -e; }
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
    /* Bursts of adverts (1,000 Masters time out together), super-frames of 64 KiB: 8 MB each
       way, best effort. */
    int size = 8 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    return fd;
}

int clinux_interface_mtu(int fd, const char *ifname) {
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, ifname, IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFMTU, &request) != 0) return -errno;
    return request.ifr_mtu;
}

#define BATCH_MAX 64

static int wait_readable(int fd, int timeout_ms) {
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int ready = poll(&p, 1, timeout_ms);
        if (ready < 0) { if (errno == EINTR) continue; return -errno; }
        return ready;
    }
}

/* Points message i at slot i (`offset` bytes in, the rest of the slot long), with its own
   control buffer (and address, when `names` is given), then receives them in one call. Returns
   how many arrived, 0 when none was waiting, -errno on error. */
static int receive_messages(int fd, struct mmsghdr *messages, struct iovec *vectors, unsigned char *base, int stride, int offset,
                            int count, char *control, size_t control_size, struct sockaddr_ll *names) {
    memset(messages, 0, sizeof(struct mmsghdr) * (size_t)count);
    for (int i = 0; i < count; i++) {
        vectors[i].iov_base = base + (long)i * stride + offset;
        vectors[i].iov_len = (size_t)(stride - offset);
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        if (names) {
            messages[i].msg_hdr.msg_name = &names[i];
            messages[i].msg_hdr.msg_namelen = sizeof names[i];
        }
        messages[i].msg_hdr.msg_control = control + (size_t)i * control_size;
        messages[i].msg_hdr.msg_controllen = control_size;
    }
    int n;
    do { n = recvmmsg(fd, messages, (unsigned)count, MSG_DONTWAIT | MSG_TRUNC, NULL); } while (n < 0 && errno == EINTR);
    if (n < 0) return (errno == EAGAIN) ? 0 : -errno;
    return n;
}

int clinux_packet_receive_batch(int fd, unsigned char *base, int stride, int count, struct clinux_frame *frames, int timeout_ms) {
    if (count > BATCH_MAX) count = BATCH_MAX;
    int ready = wait_readable(fd, timeout_ms);
    if (ready <= 0) return ready;
    struct mmsghdr messages[BATCH_MAX];
    struct iovec vectors[BATCH_MAX];
    struct sockaddr_ll from[BATCH_MAX];
    union { struct cmsghdr align; char bytes[CMSG_SPACE(sizeof(struct tpacket_auxdata))]; } control[BATCH_MAX];
    int n = receive_messages(fd, messages, vectors, base, stride, CLINUX_SLOT_HEADROOM, count, control[0].bytes, sizeof control[0], from);
    if (n <= 0) return n;
    for (int i = 0; i < n; i++) {
        struct clinux_frame *f = &frames[i];
        memset(f, 0, sizeof *f);
        unsigned char *slot = base + (long)i * stride + CLINUX_SLOT_HEADROOM;
        int received = (int)messages[i].msg_len;
        if (from[i].sll_pkttype == PACKET_OUTGOING || received < (int)sizeof(struct virtio_net_hdr)) { f->length = -1; continue; }
        f->truncated = (messages[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || received > stride - CLINUX_SLOT_HEADROOM;
        struct virtio_net_hdr header;
        memcpy(&header, slot, sizeof header);
        f->flags = header.flags;
        f->gso_type = header.gso_type;
        f->gso_size = header.gso_size;       /* little-endian on the packet socket: native here */
        f->csum_start = header.csum_start;
        f->csum_offset = header.csum_offset;
        f->offset = CLINUX_SLOT_HEADROOM + (int)sizeof header;
        f->length = received - (int)sizeof header;
        if (f->truncated) continue;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&messages[i].msg_hdr); c; c = CMSG_NXTHDR(&messages[i].msg_hdr, c)) {
            if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
            struct tpacket_auxdata aux;
            memcpy(&aux, CMSG_DATA(c), sizeof aux);
            if (!(aux.tp_status & TP_STATUS_VLAN_VALID) || f->length < 12) continue;
            /* The tag back where it was: the addresses 4 bytes earlier, the tag after them. */
            unsigned char *frame = base + (long)i * stride + f->offset;
            memmove(frame - 4, frame, 12);
            uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : 0x8100;
            frame[8] = (unsigned char)(tpid >> 8); frame[9] = (unsigned char)tpid;
            frame[10] = (unsigned char)(aux.tp_vlan_tci >> 8); frame[11] = (unsigned char)aux.tp_vlan_tci;
            f->offset -= 4;
            f->length += 4;
            if (f->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) f->csum_start += 4;
        }
    }
    return n;
}

long clinux_packet_drops(int fd) {
    struct tpacket_stats stats;
    socklen_t length = sizeof stats;
    if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &length) != 0) return -errno;
    return (long)stats.tp_drops;
}

int clinux_packet_send(int fd, const void *frame, int length, uint8_t flags, uint8_t gso_type, uint16_t gso_size,
                       uint16_t csum_start, uint16_t csum_offset) {
    struct virtio_net_hdr header;
    memset(&header, 0, sizeof header);
    header.flags = flags;
    header.gso_type = gso_type;
    header.gso_size = gso_size;
    header.csum_start = csum_start;
    header.csum_offset = csum_offset;
    struct iovec vectors[2] = { { &header, sizeof header }, { (void *)frame, (size_t)length } };
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = vectors;
    message.msg_iovlen = 2;
    ssize_t n;
    do { n = sendmsg(fd, &message, MSG_DONTWAIT); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    return 0;
}

int clinux_datagram_receive_batch(int fd, unsigned char *base, int stride, int count, int *lengths, int timeout_ms,
                                  unsigned *overflows) {
    if (count > BATCH_MAX) count = BATCH_MAX;
    int ready = wait_readable(fd, timeout_ms);
    if (ready <= 0) return ready;
    struct mmsghdr messages[BATCH_MAX];
    struct iovec vectors[BATCH_MAX];
    union { struct cmsghdr align; char bytes[CMSG_SPACE(sizeof(uint32_t))]; } control[BATCH_MAX];
    int n = receive_messages(fd, messages, vectors, base, stride, 0, count, control[0].bytes, sizeof control[0], NULL);
    if (n <= 0) return n;
    for (int i = 0; i < n; i++) {
        lengths[i] = (int)messages[i].msg_len;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&messages[i].msg_hdr); c; c = CMSG_NXTHDR(&messages[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL && overflows) memcpy(overflows, CMSG_DATA(c), sizeof(uint32_t));
        }
    }
    return n;
}
