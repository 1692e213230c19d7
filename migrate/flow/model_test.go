package flow

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/testenv"
	"github.com/cutover/cutover/sync"
	"github.com/cutover/cutover/sync/index"
)

// The files probe copies a sample with the sync's engine (tar streams from
// a real sshd) into a scratch directory beside a target that does not exist
// yet, measures both costs, and leaves nothing behind.
func TestProbeFilesMeasuresAndLeavesNothing(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	home := filepath.Join(s.Dir, "shared")
	if _, err := gentree.Tree(home, gentree.Options{Files: 400, Seed: 9, MaxBytes: 4 << 20}); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	o := sync.FilesOptions{Source: s.URL("", home), Target: filepath.Join(parent, "efs", "shared"), Workers: 4, Verify: "transferred"}
	o.SSH.KeyFile, o.SSH.KnownHosts = s.KeyFile, s.KnownHosts
	m, err := probeFiles(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if m.PerFile <= 0 || m.PerByte <= 0 || m.PerEntry <= 0 || !strings.HasPrefix(m.Basis, "probe (") {
		t.Fatalf("model %+v", m)
	}
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Fatalf("the probe left %v beside the target", left)
	}
}

// A probe never copies or reads a whole file of gigabytes: a Jira index's
// largest segment, an ISO among the attachments. Its samples take files of
// at most 64 MB; the index verify probe reads the first 64 MB of the largest.
func TestProbeSamplesLeaveOutHugeFiles(t *testing.T) {
	dir := t.TempDir()
	for name, size := range map[string]int64{"huge.pos": 5 << 30, "big.doc": 40 << 20, "mid.tim": 4 << 20, "small.si": 400} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(size) // sparse: nothing is written
		f.Close()
	}
	st := store.NewLocal(dir)
	sample, total, err := largestFiles(context.Background(), st, 8, 64<<20)
	if err != nil || len(sample) != 3 || sample[0].Path != "big.doc" || total != 40<<20+4<<20+400 {
		t.Fatalf("largest files of at most 64 MB: %v, %d bytes, %v", sample, total, err)
	}
	small, big := splitSample([]store.Entry{{Path: "iso", Size: 2 << 30}, {Path: "pdf", Size: 3 << 20}, {Path: "txt", Size: 1000}})
	if len(big) != 1 || big[0].Path != "pdf" || len(small) != 1 {
		t.Fatalf("files probe sample: small %v, big %v", small, big)
	}
	perByte, basis, err := probeIndexVerify(context.Background(), config.IndexSet{Source: dir, Target: filepath.Join(dir, "none")}, index.Options{Workers: 2})
	if err != nil || perByte <= 0 || !strings.Contains(basis, "67.1 MB of the largest files at the source") {
		t.Fatalf("index verify probe: %g s/B, %q, %v", perByte, basis, err)
	}
}
