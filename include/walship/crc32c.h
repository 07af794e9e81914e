/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of PostgreSQL WAL records.
 *
 * Reflected polynomial 0x82F63B78; a running value starts at
 * WS_CRC32C_INIT, is fed with ws_crc32c_update() and finished with
 * ws_crc32c_final() (PostgreSQL's INIT_CRC32C / COMP_CRC32C / FIN_CRC32C).
 * Uses the SSE 4.2 crc32 instruction when the CPU has it, else a
 * slicing-by-8 table; both give the same values.
 */
#ifndef WALSHIP_CRC32C_H
#define WALSHIP_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#define WS_CRC32C_INIT 0xFFFFFFFFu

static inline uint32_t ws_crc32c_final(uint32_t crc)
{
    return crc ^ 0xFFFFFFFFu;
}

/* Feeds len bytes into the running value crc. */
uint32_t ws_crc32c_update(uint32_t crc, const void *buf, size_t len);

/* The table implementation alone (tests compare both). */
uint32_t ws_crc32c_update_sw(uint32_t crc, const void *buf, size_t len);

#endif
