package filter

import "testing"

func TestRules(t *testing.T) {
	var f Filter
	for _, r := range []struct {
		inc bool
		p   string
	}{{true, "caches/indexsnapshots/**"}, {false, "caches/**"}, {false, "tmp"}, {false, "*.log"}, {false, "export/"}, {false, "/data/a?c"}, {false, "**/thumbs/*.tmp"}} {
		if err := f.Add(r.inc, r.p); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		p    string
		dir  bool
		want bool
	}{
		{"caches/indexsnapshots/IndexSnapshot_1.tar.sz", false, true},
		{"caches/indexsnapshots", true, false},
		{"caches/other/x", false, false},
		{"caches", true, true},
		{"tmp", true, false},
		{"tmp/a/b", false, false},
		{"data/tmp", true, false},
		{"data/tmp/x", false, false},
		{"log/atlassian-jira.log", false, false},
		{"data/attachments/a b.png", false, true},
		{"export", true, false},
		{"export/x", false, false},
		{"other/export", false, true},
		{"data/abc", false, false},
		{"x/data/abc", false, true},
		{"data/a/c", false, true},
		{"data/attachments/T/1/thumbs/x.tmp", false, false},
		{"thumbs/y.tmp", false, false},
		{"name\nwith newline.log", false, false},
	}
	for _, c := range cases {
		if got := f.Included(c.p, c.dir); got != c.want {
			t.Errorf("Included(%q) = %v, want %v", c.p, got, c.want)
		}
	}
	var empty Filter
	if !empty.Included("anything", false) {
		t.Fatal("empty filter must include")
	}
	if err := f.Add(false, "a[b"); err == nil {
		t.Fatal("want error for unclosed class")
	}
}
