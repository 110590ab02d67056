// jemalloc's built-in options for the binaries that link kiln::allocator (kiln-scheduler,
// kiln-load); MALLOC_CONF in the environment still overrides them.
//
// thp:always: the heap in transparent huge pages. Restarting with 1,000,000 queued jobs
// spent 13% of its time in page faults of the growing heap; with 2 MiB pages it took
// 6.2 / 8.0 s instead of 8.9 / 9.7 s, for 800 MiB of RSS instead of 760 (bench/README.md).
// Debian's kernels default to THP "madvise", so jemalloc has to ask for them.

// jemalloc reads this global (its own definition is weak) before the first allocation.
extern "C" {
const char* malloc_conf = "thp:always";
}
