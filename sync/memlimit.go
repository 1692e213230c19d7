package sync

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	gosync "sync"
	"unsafe"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"golang.org/x/sys/unix"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/store"
)

// What a sync holds, per entry, beyond memoryBase: measured with 10^6 empty
// files (14-byte paths), the first sync holds 148 MB live while it copies
// (the entry, 80 bytes; its path; its action, 24) and peaks at 182 MB
// while the listing's slice grows; a rerun holds 107 MB. The figures leave
// the collector room, also for paths of 40 bytes and more.
const (
	bytesPerListed = 160 // an entry of a listing, with its path
	pathIncluded   = 40  // the length of path (and link target) that bytesPerListed allows for
	bytesPerAction = 40  // an action of the plan
	// a file whose content files verify compares: its hash on each side
	// (32 bytes), its path handed to a remote hasher, a pointer
	bytesPerCompared = 64
)

// memoryBase is the room kept besides the listings: buffers of the workers
// and streams, SQLite's cache, the report.
const memoryBase = 64 << 20

// listEntriesStep is the least a listing's slice grows by.
const listEntriesStep = 1 << 13

// holdStep is how much a growing listing takes between calls of hold, so
// that it stops in time under a cgroup's limit.
const holdStep = 1 << 20

// entrySize is the size of a listing's element, path aside.
const entrySize = int64(unsafe.Sizeof(store.Entry{}))

var memory struct {
	mu   gosync.Mutex
	held int64
}

// hold adds n bytes to what the process's listings and plans hold and
// lifts its soft memory limit (set low by the CLI, to keep the collector's
// headroom small) to memoryBase plus all of it, so that a tree of 10^7
// files does not make the collector run without pause. Listings that run
// at once (the source and the target) add up; what a run held is not
// given back (a process runs one command). It never lowers the limit.
//
// Under a cgroup's memory limit (a pod's), the soft limit stays at 90% of
// it, and once the estimate passes that, hold measures what the process
// holds after a collection; when that and alloc (an array about to be
// allocated while the one it replaces is still live) would come within 5%
// of the limit, or 8 MiB (what the kernel keeps for the process: page
// tables, the names of the files it looked at), it adds nothing and
// returns a fatal error, before the kernel kills the process with no
// report and no word of why.
func hold(n, alloc int64) error {
	memory.mu.Lock()
	defer memory.mu.Unlock()
	want := memoryBase + memory.held + n
	if c := memoryCap(); c > 0 && want+alloc > SoftMemoryLimit(want+alloc) {
		if used := inUse(); used+alloc > c-max(c/20, 8<<20) {
			return errs.Fatalf("this run holds %s of memory and needs more, and its cgroup allows %s (a pod's resources.limits.memory, a systemd unit's MemoryMax): give it more memory, or sync the tree in parts with --include and --exclude",
				progress.Bytes(used), progress.Bytes(c))
		}
		want = SoftMemoryLimit(want)
	}
	memory.held += n
	if cur := debug.SetMemoryLimit(-1); want > cur {
		debug.SetMemoryLimit(want)
	}
	return nil
}

// inUse collects the garbage, gives the memory it freed back to the
// system, and says how much anonymous memory the process then has
// resident (what a cgroup's limit cannot reclaim); 0 when it cannot tell.
// Memory given back with MADV_FREE (under GODEBUG=madvdontneed=0) stays
// resident until the kernel needs it, and is reclaimed before a cgroup's
// limit is hit: it is counted out (LazyFree).
func inUse() int64 {
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return 0
	}
	anon, lazy := kbField(b, "Anonymous:"), kbField(b, "LazyFree:")
	return max(0, anon-lazy)
}

// kbField is the value of the field named name (with its colon) in a
// /proc file of "name: N kB" lines, in bytes; 0 when it is not there.
func kbField(b []byte, name string) int64 {
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// memoryCap is the most memory the process may use: the limit of its
// cgroup (a pod's resources.limits.memory, a systemd unit's MemoryMax),
// read once; 0 when there is none.
var memoryCap = gosync.OnceValue(func() int64 {
	l, err := memlimit.FromCgroup()
	if err != nil || l == 0 || l > 1<<62 {
		return 0
	}
	return int64(l)
})

// SoftMemoryLimit is want as a soft memory limit: no more than 90% of the
// process's cgroup limit, if it has one, so that the collector works
// harder before the kernel would kill.
func SoftMemoryLimit(want int64) int64 {
	if c := memoryCap(); c > 0 {
		return min(want, c/10*9)
	}
	return want
}

// memoryUse is what the process has taken so far.
func memoryUse() Memory {
	m := Memory{LimitBytes: memoryCap()}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		m.MaxResidentBytes = ru.Maxrss << 10 // KiB on Linux
	}
	return m
}

// logMemoryCap says what the process's cgroup allows it, when it has a
// limit.
func logMemoryCap(o *FilesOptions) {
	if c := memoryCap(); c > 0 {
		o.logf("memory: this process's cgroup allows it %s", progress.Bytes(c))
	}
}
