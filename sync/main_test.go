package sync

import (
	"os"
	"testing"
)

// TestMain makes every listing of a target in these tests larger than
// what is held in memory: it is sorted in runs of 3 entries on disk and
// merged back (the path of a target of more than 2^16 entries), so that
// every mirror, adoption and repair below goes through it. Likewise the
// source's listing past 8 entries: every tree below is synced in ranges of
// about 4 (see ranges.go), so that each case crosses ranges.
func TestMain(m *testing.M) {
	targetRun = 3
	sourceRun = 8
	os.Exit(m.Run())
}
