/*
 * insn_count.c - QEMU TCG plugin (API version 1, QEMU 7.2) counting executed guest
 * instructions for the qnnc benchmarks. Built at run time by benchmarks/harness.py with
 * the host gcc (-shared -fPIC); never committed as a binary.
 *
 * Every executed instruction adds 1 to a global counter (an inline add, no callback).
 * The marker instructions `mov r10, r10` (begin, Thumb 0x46d2) and `mov r11, r11`
 * (end, 0x46db), or with `arch=riscv` the HINTs `slti x0, x0, 0x7a` (begin, 0x07a02013) and
 * `slti x0, x0, 0x7b` (end, 0x07b02013), additionally call back and log (kind, counter); regions nest, and the
 * harness turns the log into per-region counts. With `hist=on` every instruction
 * address also gets its own inline counter (for the instruction-mix cycle estimate).
 * Results go to the file named by `out=PATH` at exit.
 *
 * No QEMU header is shipped by Debian, so the few API declarations used are below
 * (they match include/qemu/qemu-plugin.h of QEMU 7.2, QEMU_PLUGIN_VERSION 1).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU plugin API v1 (subset) ---- */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* opaque here: never dereferenced */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

/* ---- state ---- */
static uint64_t total;          /* executed instructions */
static char out_path[4096];
static bool want_hist;
static bool riscv; /* arch=riscv: the RISC-V markers */

typedef struct {
    uint8_t kind; /* 'B' or 'E' */
    uint64_t count;
} event_t;
static event_t *events;
static size_t n_events, cap_events;

/* Open-addressing map: instruction address -> counter (stable storage, reused when a
 * block is translated again). */
typedef struct {
    uint64_t vaddr;
    uint64_t count;
    uint32_t size;
    uint32_t used;
} slot_t;
static slot_t *slots;
static size_t n_slots = 1u << 16, n_used;

static void on_marker(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    if (n_events == cap_events) {
        cap_events = cap_events ? cap_events * 2 : 4096;
        events = realloc(events, cap_events * sizeof *events);
        if (events == NULL) {
            abort();
        }
    }
    events[n_events].kind = (uint8_t)(uintptr_t)udata;
    events[n_events].count = total;
    ++n_events;
}

static slot_t *slot_for(uint64_t vaddr, uint32_t size)
{
    size_t i;
    if (2 * (n_used + 1) > n_slots) {
        /* Inline ops hold pointers into the table, so it never grows: it is sized at install
         * time far beyond the distinct instructions of any benchmark firmware. */
        qemu_plugin_outs("insn_count: histogram table full\n");
        abort();
    }
    i = (size_t)((vaddr >> 1) * 0x9E3779B97F4A7C15ull) & (n_slots - 1);
    while (slots[i].used && slots[i].vaddr != vaddr) {
        i = (i + 1) & (n_slots - 1);
    }
    if (!slots[i].used) {
        slots[i].used = 1;
        slots[i].vaddr = vaddr;
        slots[i].size = size;
        ++n_used;
    }
    return &slots[i];
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    size_t i;
    (void)id;
    for (i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        size_t size = qemu_plugin_insn_size(insn);
        /* size >= 2, not == 2: QEMU 7.2 appends the look-ahead halfword it reads near the end of a
         * 1 KiB page to the previous 16-bit insn's data (a marker at page offset 0x3fc shows as 4
         * bytes). 0x46xx is a 16-bit encoding, never the first half of a 32-bit Thumb insn. */
        if (riscv) {
            uint32_t op = 0;
            if (size == 4) {
                memcpy(&op, qemu_plugin_insn_data(insn), 4);
            }
            if (op == 0x07a02013u || op == 0x07b02013u) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS,
                                                       (void *)(uintptr_t)(op == 0x07a02013u ? 'B' : 'E'));
            }
        } else if (size >= 2) {
            uint16_t op;
            memcpy(&op, qemu_plugin_insn_data(insn), 2);
            if (op == 0x46d2u || op == 0x46dbu) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS,
                                                       (void *)(uintptr_t)(op == 0x46d2u ? 'B' : 'E'));
            }
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
        if (want_hist) {
            slot_t *s = slot_for(qemu_plugin_insn_vaddr(insn), (uint32_t)size);
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &s->count, 1);
        }
    }
}

static void on_exit_cb(qemu_plugin_id_t id, void *udata)
{
    FILE *f;
    size_t i;
    (void)id;
    (void)udata;
    f = fopen(out_path[0] ? out_path : "insn_count.out", "w");
    if (f == NULL) {
        qemu_plugin_outs("insn_count: cannot write the output file\n");
        return;
    }
    fprintf(f, "total %llu\n", (unsigned long long)total);
    for (i = 0; i < n_events; ++i) {
        fprintf(f, "%c %llu\n", events[i].kind, (unsigned long long)events[i].count);
    }
    if (want_hist) {
        for (i = 0; i < n_slots; ++i) {
            if (slots[i].used && slots[i].count) {
                fprintf(f, "H %llx %u %llu\n", (unsigned long long)slots[i].vaddr, slots[i].size,
                        (unsigned long long)slots[i].count);
            }
        }
    }
    fclose(f);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        } else if (strcmp(argv[i], "hist=on") == 0) {
            want_hist = true;
        } else if (strcmp(argv[i], "arch=riscv") == 0) {
            riscv = true;
        } else {
            fprintf(stderr, "insn_count: unknown argument '%s'\n", argv[i]);
            return -1;
        }
    }
    if (want_hist) {
        n_slots = 1u << 20; /* far more distinct instructions than any benchmark has */
        slots = calloc(n_slots, sizeof *slots);
        if (slots == NULL) {
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
