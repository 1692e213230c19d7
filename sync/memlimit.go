package sync

import (
	"runtime/debug"
	gosync "sync"
)

// What a sync holds, per entry, beyond memoryBase: measured with 10^6 empty
// files (14-byte paths), the first sync holds 148 MB live while it copies
// (the entry, 80 bytes; its path; its action, 24) and peaks at 182 MB
// while the listing's slice grows; a rerun holds 107 MB. The figures leave
// the collector room, also for paths of 40 bytes and more.
const (
	bytesPerListed = 160 // an entry of a listing, with its path
	bytesPerAction = 40  // an action of the plan
	// a file whose content files verify compares: its hash on each side
	// (32 bytes), its path handed to a remote hasher, a pointer
	bytesPerCompared = 64
)

// memoryBase is the room kept besides the listings: buffers of the workers
// and streams, SQLite's cache, the report.
const memoryBase = 64 << 20

// listEntriesStep is how often a growing listing calls hold.
const listEntriesStep = 1 << 16

var memory struct {
	mu   gosync.Mutex
	held int64
}

// hold adds n bytes to what the process's listings and plans hold and
// lifts its soft memory limit (set low by the CLI, to keep the collector's
// headroom small) to memoryBase plus all of it, so that a tree of 10^7
// files does not make the collector run without pause. Listings that run
// at once (the source and the target) add up. It never lowers the limit.
func hold(n int64) {
	memory.mu.Lock()
	defer memory.mu.Unlock()
	memory.held += n
	want := memoryBase + memory.held
	if cur := debug.SetMemoryLimit(-1); want > cur {
		debug.SetMemoryLimit(want)
	}
}
