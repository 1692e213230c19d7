package testenv

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Lucene runs a real Lucene (Java) for tests: IndexFiles to make indexes,
// CheckIndex as the oracle of every index cutover writes.
type Lucene struct {
	Version string // "8" or "4.10"
	CP      string // class path
}

// Lucene8 finds Debian's liblucene8-java jars (named …-8.7.0.jar, Lucene 8.8).
func Lucene8(t testing.TB) *Lucene {
	t.Helper()
	var jars []string
	for _, j := range []string{"core", "backward-codecs", "demo", "analyzers-common", "queryparser"} {
		m, _ := filepath.Glob("/usr/share/java/lucene-" + j + "-8*.jar")
		if len(m) == 0 {
			Missing(t, "Lucene 8 (lucene-"+j+"-8*.jar)", "apt-get install liblucene8-java default-jre-headless")
			return nil
		}
		jars = append(jars, m[0])
	}
	needJava(t)
	return &Lucene{Version: "8", CP: strings.Join(jars, ":")}
}

// Lucene4 finds the Lucene 4.10 jars that scripts/ensure-deps.sh unpacks
// into .cache/lucene4.10 (liblucene4.10-java conflicts with liblucene8-java
// as an installed package, so it is downloaded and unpacked instead).
func Lucene4(t testing.TB) *Lucene {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), ".cache", "lucene4.10", "usr", "share", "java")
	var jars []string
	for _, j := range []string{"core", "demo", "analyzers-common", "queryparser"} {
		p := filepath.Join(dir, "lucene-"+j+"-4.10.4.jar")
		if _, err := os.Stat(p); err != nil {
			Missing(t, "Lucene 4.10 jars in "+dir, "scripts/ensure-deps.sh test (apt-get download liblucene4.10-java; dpkg -x)")
			return nil
		}
		jars = append(jars, p)
	}
	needJava(t)
	return &Lucene{Version: "4.10", CP: strings.Join(jars, ":")}
}

func needJava(t testing.TB) {
	if _, err := exec.LookPath("java"); err != nil {
		Missing(t, "java", "apt-get install default-jre-headless")
	}
}

// RepoRoot returns the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Cmd returns a command running a Lucene class.
func (l *Lucene) Cmd(class string, args ...string) *exec.Cmd {
	return exec.Command("java", append([]string{"-cp", l.CP, class}, args...)...)
}

// IndexFiles runs Lucene's demo indexer: one commit per run; update
// replaces documents with the same path (deletions in older segments).
func (l *Lucene) IndexFiles(t testing.TB, index, docs string, update bool) {
	t.Helper()
	args := []string{"-index", index, "-docs", docs}
	if update {
		args = append(args, "-update")
	}
	if out, err := l.Cmd("org.apache.lucene.demo.IndexFiles", args...).CombinedOutput(); err != nil {
		t.Fatalf("IndexFiles %s: %v\n%s", docs, err, tail(out))
	}
}

// CheckIndex runs Lucene's CheckIndex on dir and returns its verdict.
func (l *Lucene) CheckIndex(dir string) (bool, string) {
	out, err := l.Cmd("org.apache.lucene.index.CheckIndex", dir).CombinedOutput()
	return err == nil && strings.Contains(string(out), "No problems were detected"), string(out)
}

// MustCheckIndex fails the test unless CheckIndex passes on dir.
func (l *Lucene) MustCheckIndex(t testing.TB, dir string) {
	t.Helper()
	if ok, out := l.CheckIndex(dir); !ok {
		t.Fatalf("Lucene %s CheckIndex %s failed:\n%s", l.Version, dir, tail([]byte(out)))
	}
}

func tail(b []byte) string {
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

var words = strings.Fields(`jira issue comment worklog change sprint board epic story task bug release
version component priority status resolution assignee reporter watcher label filter dashboard gadget
project workflow transition screen field scheme permission notification index lucene segment merge`)

// WriteDocs writes n text documents of about size bytes each into dir.
func WriteDocs(t testing.TB, dir string, n, size int, seed int64) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.Reset()
		for b.Len() < size {
			b.WriteString(words[r.Intn(len(words))])
			fmt.Fprintf(&b, "%d ", r.Intn(1000))
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("doc-%05d.txt", i)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
