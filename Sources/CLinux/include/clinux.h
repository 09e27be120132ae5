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

/* An AF_PACKET socket on interface `ifname`, bound, promiscuous, non-blocking. Returns the
   descriptor, or -errno. */
int clinux_packet_open(const char *ifname);

/* Receives one frame (waiting at most timeout_ms); skips frames this host sent. Returns the
   length, 0 on timeout, -errno on error. */
int clinux_packet_receive(int fd, unsigned char *buffer, int capacity, int timeout_ms);

#endif
