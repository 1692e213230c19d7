package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/testenv"
)

// A run in a cgroup whose memory limit its listing would outgrow (a pod's
// resources.limits.memory) stops with exit 3, says why and writes its
// report, before it copies anything; without the check the kernel kills
// it (exit 137, no report). A small tree syncs under the same limit.
func TestListingThatOutgrowsTheMemoryLimitStopsCleanly(t *testing.T) {
	const limit = 48 << 20
	run := testenv.MemoryCgroup(t, limit)
	dir := t.TempDir()

	// 15,000 empty files whose paths are 3.6 KB long (fifteen names of
	// 240 bytes): 54 MB of paths alone, where the process may use 48 MB.
	big := filepath.Join(dir, "big")
	long := func(i int) string { return fmt.Sprintf("%0240d", i) }
	trunk := strings.Repeat(long(0)+"/", 12)
	for d := range 150 {
		sub := filepath.Join(big, trunk, long(d/10), long(d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			f, err := os.Create(filepath.Join(sub, long(d*100+i)))
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	dst, rep := filepath.Join(dir, "dst"), filepath.Join(dir, "r.json")
	// Listed over SFTP, as a shared home is: a local listing would also
	// charge the kernel's cache of the 15,000 inodes and their long names
	// to the cgroup, which the check does not count.
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	out, code := exitOf(t, run(bin, "files", "sync", s.URL("", big), dst, "--state", filepath.Join(dir, "st"), "--report", rep, "--report-md", rep+".md",
		"--ssh-key", s.KeyFile, "--known-hosts", s.KnownHosts))
	if code != 3 || !strings.Contains(out, "its cgroup allows 48.0 MiB") || !strings.Contains(out, "give it more memory") {
		t.Fatalf("exit %d, want 3 with the cgroup's limit named:\n%s", code, out)
	}
	if n := countFiles(dst); n != 0 {
		t.Fatalf("%d files copied before the run stopped", n)
	}
	var r struct {
		Status, Error string
		Memory        struct {
			MaxResident int64 `json:"max_resident_bytes"`
			Limit       int64 `json:"limit_bytes"`
		}
	}
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Status != "failed" || !strings.Contains(r.Error, "48.0 MiB") ||
		r.Memory.Limit != limit || r.Memory.MaxResident <= 0 {
		t.Fatalf("report: %v %s", err, b)
	}
	if md, _ := os.ReadFile(rep + ".md"); !strings.Contains(string(md), "of the 48.0 MiB its cgroup allows") {
		t.Fatalf("markdown: %s", md)
	}

	small, sdst := filepath.Join(dir, "small"), filepath.Join(dir, "sdst")
	gentree.Tree(small, gentree.Options{Files: 2000, Seed: 5, MedianKiB: 8, Sigma: 1})
	if out, code := exitOf(t, run(bin, "files", "sync", small, sdst, "--state", filepath.Join(dir, "st2"))); code != 0 {
		t.Fatalf("a small tree under the same limit: exit %d\n%s", code, out)
	}
	if d := testenv.TreeDiff(t, small, sdst, true, nil); len(d) > 0 {
		t.Fatalf("differences: %v", d)
	}
}
