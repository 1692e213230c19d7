package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitAndConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cutover.yaml")
	out, code := cutover(t, "init", "--product", "confluence", "-c", cfg)
	if code != 0 || !strings.Contains(out, "cutover plan") {
		t.Fatalf("init: %d %s", code, out)
	}
	b, _ := os.ReadFile(cfg)
	if !strings.Contains(string(b), "sslmode=verify-full") || !strings.Contains(string(b), `"temp/**"`) || !strings.Contains(string(b), "2001") {
		t.Fatalf("the confluence template:\n%s", b)
	}
	if _, code := cutover(t, "init", "-c", cfg); code != 3 {
		t.Errorf("init over an existing file: exit %d, want 3", code)
	}
	if out, code := cutover(t, "init", "--product", "bamboo", "-c", filepath.Join(dir, "x.yaml")); code != 2 {
		t.Errorf("unknown product: exit %d %s", code, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("workers: 4\nfiles:\n  - name: home\n    source: /a\n    target: /b\n    excludes: [\"tmp/**\"]\n"), 0o644)
	for _, cmd := range []string{"plan", "presync", "final", "status"} {
		out, code := cutover(t, cmd, "-c", bad)
		if code != 2 || !strings.Contains(out, "line 6: field excludes not found") {
			t.Errorf("%s with a bad config: exit %d\n%s", cmd, code, out)
		}
	}
	if out, code := cutover(t, "plan", "-c", filepath.Join(dir, "missing.yaml")); code != 2 {
		t.Errorf("missing config: exit %d %s", code, out)
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("files:\n  - name: home\n    source: /a\n    target: /b\n"), 0o644)
	if out, code := cutover(t, "presync", "-c", good, "--bwlimit", "fast"); code != 2 || !strings.Contains(out, `--bwlimit: "fast" is not a rate`) {
		t.Errorf("presync --bwlimit fast: exit %d %s", code, out)
	}
}
