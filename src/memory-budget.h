/* memory-budget.h - one budget of bytes that every decode reserves from
 * before it decodes, so that N workers on N large images together stay
 * within max_memory, decoders that allocate outside GraphicsMagick's
 * accounting (libjpeg's coefficients, libwebp's buffers) included. Knows
 * nothing of images. Every function is thread-safe.
 *
 * A reservation that does not fit waits until enough is released; one that
 * could never fit (larger than the whole budget) is refused at once. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct MemoryBudget MemoryBudget;

/* total: bytes. Returns 0 or -ENOMEM / -EINVAL (total 0). */
int memory_budget_new(uint64_t total, MemoryBudget **ret);
MemoryBudget *memory_budget_free(MemoryBudget *b);      /* NULL-safe; returns NULL; nothing may be reserved */

/* Changes the total (a reload): reservations held stay; waiters are woken. */
void memory_budget_set_total(MemoryBudget *b, uint64_t total);

/* Reserves bytes, waiting while the budget is short; gives up when *cancel
 * becomes true (checked at least every 100 ms; may be NULL). Returns 0,
 * -EFBIG when bytes is more than the whole budget (nothing waited for), or
 * -ECANCELED. */
int memory_budget_reserve(MemoryBudget *b, uint64_t bytes, const atomic_bool *cancel);

/* Gives back what memory_budget_reserve() took. */
void memory_budget_release(MemoryBudget *b, uint64_t bytes);

/* Bytes reserved now, and the total. */
uint64_t memory_budget_used(MemoryBudget *b);
uint64_t memory_budget_total(MemoryBudget *b);

/* The budget max_memory = auto gives: half the machine's memory, or three
 * quarters of the memory cgroup's limit (systemd's MemoryMax=) when that is
 * lower. */
uint64_t memory_budget_auto(void);
