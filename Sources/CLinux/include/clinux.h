#ifndef CLINUX_H
#define CLINUX_H
#include <stdint.h>
#include <sys/types.h>

/* Small wrappers for Linux calls Swift cannot reach directly (variadic or GNU-only). */

/* The kernel thread id of the calling thread (what ps -L, top -H and gdb show). */
pid_t clinux_gettid(void);

/* Names the calling thread (15 bytes at most) for the kernel and for clinux_thread_name. */
void clinux_set_thread_name(const char *name);

/* The calling thread's name: the one set above, else the kernel's (read once per thread).
   The pointer stays valid for the thread's life. */
const char *clinux_thread_name(void);

/* CRC-32C (Castagnoli) of an 8-byte value, continuing from crc: the SSE4.2 instruction where the
   CPU has it, a table otherwise. */
uint32_t clinux_crc32c_u64(uint32_t crc, uint64_t value);

/* The bucket of `key` in each of `banks` banks: CRC-32C of the key with each bank's seed, masked.
   One call per key, so the CRC instructions of all banks run back to back. */
void clinux_bucket_hashes(uint64_t key, const uint32_t *seeds, int banks, uint32_t mask, uint32_t *out);

/* Asks the CPU to start loading each candidate bucket (`keys` + bank * slots_per_bank +
   bucket * entries_per_bucket), so the banks' cache misses overlap instead of queueing. */
void clinux_prefetch_buckets(const uint64_t *keys, const uint32_t *buckets, int banks, long slots_per_bank,
                             int entries_per_bucket);

/* An AF_PACKET socket on interface `ifname`, bound, promiscuous, non-blocking, with the
   virtio-net header on every frame both ways (PACKET_VNET_HDR: the kernel's checksum and GSO
   state) and the VLAN tag the kernel took off in an auxiliary message (PACKET_AUXDATA).
   Returns the descriptor, or -errno. */
int clinux_packet_open(const char *ifname);

/* The MTU of interface `ifname` (via socket `fd`), or -errno. */
int clinux_interface_mtu(int fd, const char *ifname);

/* One received frame: where it starts in its slot, its length (-1: skipped, this host sent
   it), whether it was cut short, and the kernel's offload state (the virtio-net header's
   fields, checksum start already moved for a VLAN tag put back). */
struct clinux_frame {
    int offset;
    int length;
    int truncated;
    uint8_t flags;
    uint8_t gso_type;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
};

/* Headroom the receive functions keep in front of each slot's frame. */
#define CLINUX_SLOT_HEADROOM 16

/* Receives up to `count` frames of a packet socket opened above into slots of `stride` bytes
   at `base` (waiting at most timeout_ms for the first; the rest only if already there). A tag
   the kernel took off is put back into the frame. Returns how many slots were filled, 0 on
   timeout, -errno on error. */
int clinux_packet_receive_batch(int fd, unsigned char *base, int stride, int count, struct clinux_frame *frames, int timeout_ms);

/* Frames the kernel dropped for a packet socket since the last call (its receive buffer was
   full: PACKET_STATISTICS, which resets on reading), or -errno. */
long clinux_packet_drops(int fd);

/* Sends a frame on a packet socket opened above, with its offload state (all zero: none).
   Returns 0, or -errno. Never blocks. */
int clinux_packet_send(int fd, const void *frame, int length, uint8_t flags, uint8_t gso_type, uint16_t gso_size,
                       uint16_t csum_start, uint16_t csum_offset);

/* Receives up to `count` datagrams into slots of `stride` bytes (as above: the first waited for
   at most timeout_ms). lengths[i] is the datagram's real length (longer than the slot: cut
   short). With SO_RXQ_OVFL on the socket, *overflows becomes the kernel's count of datagrams it
   dropped for a full receive buffer (cumulative), when a message carries it. Returns how many,
   0 on timeout, -errno on error. */
int clinux_datagram_receive_batch(int fd, unsigned char *base, int stride, int count, int *lengths, int timeout_ms,
                                  unsigned *overflows);

/* The peer credentials of a Unix socket (SO_PEERCRED), laid out as the kernel's struct ucred
   (which glibc shows only with _GNU_SOURCE). */
struct clinux_credentials {
    int32_t pid;
    uint32_t uid;
    uint32_t gid;
};

#endif
