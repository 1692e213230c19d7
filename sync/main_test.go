package sync

import (
	"os"
	"testing"
)

// TestMain makes every listing of a target in these tests larger than
// what is held in memory: it is sorted in runs of 3 entries on disk and
// merged back (the path of a target of more than 2^16 entries), so that
// every mirror, adoption and repair below goes through it.
func TestMain(m *testing.M) {
	targetRun = 3
	os.Exit(m.Run())
}
