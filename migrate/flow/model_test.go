package flow

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/testenv"
	"github.com/cutover/cutover/sync"
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
