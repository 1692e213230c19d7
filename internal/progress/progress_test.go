package progress

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// counter is a Counter with files and bytes done of their totals.
func counter(files, filesTotal, bytes, bytesTotal int64) *Counter {
	c := &Counter{}
	c.FilesDone.Store(files)
	c.FilesTotal.Store(filesTotal)
	c.BytesDone.Store(bytes)
	c.BytesTotal.Store(bytesTotal)
	return c
}

func TestLineShowsRateAndETA(t *testing.T) {
	c := counter(5, 10, 100<<20, 300<<20)
	// 100 MiB and 5 files in 10 s: about a third of the work, 20 s left.
	l := Line("copy", c, 10*time.Second)
	for _, want := range []string{"files 5/10", "100.0 MiB/300.0 MiB", "rate 10.0 MiB/s", "eta 20s"} {
		if !strings.Contains(l, want) {
			t.Errorf("%q lacks %q", l, want)
		}
	}
}

// Empty files have no bytes to time: the ETA and the bar go by files.
func TestEmptyFilesAreTimedByFiles(t *testing.T) {
	c := counter(250, 1000, 0, 0)
	if l := Line("copy", c, 5*time.Second); !strings.Contains(l, "eta 15s") {
		t.Errorf("%q: want eta 15s", l)
	}
	if st := status(c, 5*time.Second); st.done != 0.25 {
		t.Errorf("done %v, want 0.25", st.done)
	}
}

// A copy goes largest first: its first files are few and large, which a
// count of files alone would take for a slow start.
func TestLargestFirstIsNotTimedByItsFewFirstFiles(t *testing.T) {
	c := counter(30, 20000, 300<<20, 1500<<20)
	st := status(c, time.Second)
	if st.left < 3 || st.left > 8 || st.done < 0.1 || st.done > 0.25 {
		t.Errorf("left %.1fs done %.2f: want 3-8 s left, 10-25%% done", st.left, st.done)
	}
	if st := status(&Counter{}, time.Second); st.done != 1 || st.left != -1 {
		t.Errorf("nothing to do: done %v left %v, want 1 and unknown", st.done, st.left)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"512MB": 512e6, "2GiB": 2 << 30, "1.5G": 1.5e9, "64 KiB": 64 << 10, "1000": 1000, "1tb": 1e12, "200kib": 200 << 10} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1MB", "fast", "MB"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
}

func TestPrefixedWritesWholeLines(t *testing.T) {
	var out strings.Builder
	w := Prefixed(&out, "files home: ")
	io.WriteString(w, "listing\nlisted 3 ")
	if out.String() != "files home: listing\n" {
		t.Fatalf("an unfinished line was written: %q", out.String())
	}
	io.WriteString(w, "entries\n\nplan: 1 to copy\n")
	want := "files home: listing\nfiles home: listed 3 entries\nfiles home: \nfiles home: plan: 1 to copy\n"
	if out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
	if Prefixed(nil, "x") != nil {
		t.Fatal("a nil log must stay nil: callers test for it")
	}
}

func TestStampedStartsEachLineWithTheTime(t *testing.T) {
	var out strings.Builder
	w := Stamped(&out)
	io.WriteString(w, "listing\nlisted 3 entries\n")
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%q", out.String())
	}
	for i, want := range []string{"listing", "listed 3 entries"} {
		at, text, _ := strings.Cut(lines[i][11:], " ") // after the date
		if _, err := time.Parse("15:04:05", at); err != nil || text != want {
			t.Errorf("line %q: want a date, a time and %q", lines[i], want)
		}
	}
}

// A line logged while the bar shows gets a line of its own: the bar's line
// is cleared before it, and the bar is drawn again after it.
func TestLogLinesTakeTheBarsPlaceOnATerminal(t *testing.T) {
	var out strings.Builder
	term := NewTerminal(&out)
	screen := func() string {
		term.mu.Lock()
		defer term.mu.Unlock()
		return out.String()
	}
	waitFor := func(what string, after int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(screen()[after:], what); {
			if time.Now().After(deadline) {
				t.Fatalf("no %q after byte %d of %q", what, after, screen())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	c := counter(1, 10, 1<<20, 10<<20)
	d := Start(term, "copy", c, time.Second)
	waitFor("copy files 1/10", 0)
	fmt.Fprintln(term, "a log line")
	logged := strings.Index(screen(), "a log line")
	c.FilesDone.Store(2)
	waitFor("copy files 2/10", logged)
	d.Stop()
	s := screen()
	before, _, _ := strings.Cut(s, "a log line")
	if !strings.HasSuffix(before, clearLine) {
		t.Errorf("the log line does not follow a cleared line: %q", s)
	}
}

func TestRateReadsAsBWLimitTakesIt(t *testing.T) {
	for in, want := range map[string]string{"100MB": "100 MB/s", "1MiB": "1.05 MB/s", "200KB/s": "0.2 MB/s", "2.5G": "2.5 GB/s", "999MB": "999 MB/s"} {
		n, err := ParseRate(in)
		if got := Rate(n); err != nil || got != want {
			t.Errorf("%s: %q (%v), want %q", in, got, err, want)
		}
	}
}
