package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// MemoryCgroup makes a cgroup of its own under the test process's, whose
// processes may use at most limit bytes of memory (the kernel kills one
// that needs more, as it would a pod's container), for the test's
// lifetime. It returns a command that runs name with args in it. It
// needs root and a memory controller (cgroup v1's, or v2's delegated to
// the test's cgroup); without them the test is skipped, also in CI, since
// no package installs them (CI's machines, as root, have them).
func MemoryCgroup(t testing.TB, limit int64) func(name string, args ...string) *exec.Cmd {
	t.Helper()
	dir, file, err := newMemoryCgroup(t.Name())
	if err != nil {
		t.Skipf("no memory cgroup the test can make (%v): run the tests as root on a host with cgroup v1, or v2 with its memory controller delegated", err)
	}
	t.Cleanup(func() { os.Remove(dir) }) // once its processes are gone
	if err := os.WriteFile(filepath.Join(dir, file), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		t.Fatalf("set the memory limit of %s: %v", dir, err)
	}
	procs := filepath.Join(dir, "cgroup.procs")
	return func(name string, args ...string) *exec.Cmd {
		// The shell moves itself into the cgroup, then becomes name.
		return exec.Command("/bin/sh", append([]string{"-c", `echo $$ > "$0" && exec "$@"`, procs, name}, args...)...)
	}
}

// newMemoryCgroup makes a child of the process's memory cgroup and says
// which file holds its limit.
func newMemoryCgroup(name string) (dir, limitFile string, err error) {
	if os.Geteuid() != 0 {
		return "", "", fmt.Errorf("not root")
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	leaf := "cutover-test-" + strings.NewReplacer("/", "-", " ", "-").Replace(name) + "-" + strconv.Itoa(os.Getpid())
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var base, file string
		switch {
		case hasController(parts[1], "memory"):
			base, file = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
		case parts[0] == "0" && parts[1] == "":
			base, file = "/sys/fs/cgroup", "memory.max"
			if _, err := os.Stat(filepath.Join(base, "cgroup.controllers")); err != nil {
				base = "/sys/fs/cgroup/unified" // v2 beside v1 (hybrid)
			}
		default:
			continue
		}
		dir := filepath.Join(base, parts[2], leaf)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return "", "", err
		}
		if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
			os.Remove(dir)
			continue // a v2 hierarchy without the memory controller delegated
		}
		return dir, file, nil
	}
	return "", "", fmt.Errorf("no memory controller in /proc/self/cgroup")
}

func hasController(list, c string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == c {
			return true
		}
	}
	return false
}
