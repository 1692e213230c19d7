package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const jiraIndexes = "../../testdata/jira811-home/jira-home-node1/caches/indexesV1"

func TestIndexCommandsExitCodesAndReports(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "node2", "indexesV1")
	js, md := filepath.Join(dir, "ship.json"), filepath.Join(dir, "ship.md")

	out, code := cutover(t, "index", "ship", jiraIndexes, dst, "--report", js, "--report-md", md)
	if code != 0 {
		t.Fatalf("ship: exit %d\n%s", code, out)
	}
	var rep struct {
		Status  string `json:"status"`
		Indexes []map[string]any
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.Status != "ok" || len(rep.Indexes) != 6 {
		t.Fatalf("report: %v %s", err, b)
	}
	for _, key := range []string{"files_reused", "files_shipped", "bytes_shipped", "bytes_total", "duration_s"} {
		if _, ok := rep.Indexes[0][key]; !ok {
			t.Errorf("the ship report lacks %s per index", key)
		}
	}
	if m, _ := os.ReadFile(md); !strings.Contains(string(m), "| issues | ok | segments_x |") {
		t.Errorf("markdown report:\n%s", m)
	}

	// Damage one file: verify exits 1 naming it; repair fixes it (exit 0).
	victim := filepath.Join(dst, "issues", "_12.fdt")
	b, err = os.ReadFile(victim)
	if err != nil {
		entries, _ := os.ReadDir(filepath.Join(dst, "issues"))
		t.Fatalf("%v (have %v)", err, entries)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(victim, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := cutover(t, "index", "verify", dst); code != 0 {
		t.Fatalf("footer-only verify cannot see a flipped byte mid-file, yet exit %d\n%s", code, out)
	}
	out, code = cutover(t, "index", "verify", "--full", dst)
	if code != 1 || !strings.Contains(out, "_12.fdt") {
		t.Fatalf("verify --full: exit %d, want 1 naming _12.fdt\n%s", code, out)
	}
	out, code = cutover(t, "index", "repair", jiraIndexes, dst)
	if code != 0 || !strings.Contains(out, "damaged before repair: _12.fdt") {
		t.Fatalf("repair: exit %d\n%s", code, out)
	}
	if out, code := cutover(t, "index", "verify", "--full", dst); code != 0 {
		t.Fatalf("after repair: exit %d\n%s", code, out)
	}

	// Usage and refused preconditions.
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"index", "ship", jiraIndexes}, 2},
		{[]string{"index", "ship", "--rollback", jiraIndexes, dst}, 2},
		{[]string{"index", "verify", "--fulll", dst}, 2},
		{[]string{"index", "verify", filepath.Join(dir, "nowhere")}, 3},
		{[]string{"index", "verify", dir + "/ship.json"}, 3},
		{[]string{"index", "verify", filepath.Join(dir)}, 0}, // finds node2/indexesV1/*
		{[]string{"index", "snapshot", "sftp://u@h/x"}, 2},
		{[]string{"index", "restore-snapshot", filepath.Join(dir, "none.tar.sz"), dst}, 3},
	} {
		if out, code := cutover(t, c.args...); code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s", c.args, code, c.code, out)
		}
	}
	if out, code := cutover(t, "index", "ship", "--help"); code != 0 || !strings.Contains(out, "130  interrupted") || !strings.Contains(out, "--rollback") {
		t.Errorf("help: %d\n%s", code, out)
	}
}
