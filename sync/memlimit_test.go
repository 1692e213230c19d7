package sync

import (
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// Under GODEBUG=madvdontneed=0 (see the README's memory section) the
// runtime gives memory back with MADV_FREE, which leaves it resident until
// the kernel needs it: what inUse counts against a cgroup's limit must
// leave it out, or a run in a tight pod would stop for memory it no
// longer holds. The test runs itself again under that setting.
func TestInUseLeavesOutMemoryGivenBack(t *testing.T) {
	if os.Getenv("CUTOVER_TEST_LAZYFREE") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestInUseLeavesOutMemoryGivenBack$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "CUTOVER_TEST_LAZYFREE=1", "GODEBUG=madvdontneed=0")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		t.Logf("%s", out)
		return
	}
	const size = 256 << 20
	before := inUse()
	b := make([]byte, size)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	require.Greater(t, inUse()-before, int64(size)*9/10, "held")
	runtime.KeepAlive(b)
	after := inUse() // collects, and gives back
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	rssAnon := kbField(status, "RssAnon:")
	t.Logf("before %d MB, after %d MB, RssAnon %d MB", before>>20, after>>20, rssAnon>>20)
	require.Less(t, after-before, int64(size)/10, "given back, counted out")
	// The pages freed lazily are still resident: what the test is about.
	// (A kernel short of memory may have taken them already.)
	if rssAnon-before < size/2 {
		t.Log("the kernel took the freed pages back already")
	}
}
