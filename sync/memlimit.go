package sync

import (
	"runtime/debug"
	gosync "sync"
)

// bytesPerEntry is about what a sync holds per listed entry at its peak,
// while the listing's slice grows (the old array and the new one, 2.25
// entries of 80 bytes), with a path of about 40 bytes. Measured: 10^6
// entries with 14-byte paths peak at 182 MB live while listed, then hold
// 148 MB while they copy (the entry, its 24-byte action, its path).
const bytesPerEntry = 240

// memoryBase is the room kept besides the listings: buffers of the workers
// and streams, SQLite's cache, the report.
const memoryBase = 64 << 20

// holdEntries is called as listings grow: every listEntriesStep entries.
const listEntriesStep = 1 << 16

var memory struct {
	mu     gosync.Mutex
	listed int64 // entries the process's listings hold, all of them
}

// holdEntries adds n entries to what the process's listings hold and lifts
// its soft memory limit (set low by the CLI, to keep the collector's
// headroom small) to what they need, so that a tree of 10^7 files does not
// make the collector run without pause. Listings that run at once (the
// source and the target) add up. It never lowers the limit.
func holdEntries(n int) {
	memory.mu.Lock()
	defer memory.mu.Unlock()
	memory.listed += int64(n)
	want := memoryBase + memory.listed*bytesPerEntry
	if cur := debug.SetMemoryLimit(-1); want > cur {
		debug.SetMemoryLimit(want)
	}
}
