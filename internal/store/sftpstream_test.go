package store_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/testenv"
)

// streamEnv is a real sshd serving root, and an SFTP store on it.
func streamEnv(t *testing.T) (store.Streamer, string) {
	t.Helper()
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	root := filepath.Join(s.Dir, "root")
	return s.SFTP(t, root), root
}

func writeFiles(t *testing.T, root string, files map[string]string) []store.Entry {
	t.Helper()
	var es []store.Entry
	for p, content := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		es = append(es, entryOf(t, root, p))
	}
	return es
}

func entryOf(t *testing.T, root, p string) store.Entry {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return store.Entry{Path: p, Type: store.File, Size: fi.Size(), ModTime: store.TimeOf(fi.ModTime()), Mode: fi.Mode().Perm(),
		UID: st.Uid, GID: st.Gid}
}

type got struct {
	i       int
	at      store.Entry
	content string
}

func readAll(t *testing.T, fs store.FileStream, es []store.Entry) ([]got, error) {
	t.Helper()
	var out []got
	err := fs.ReadFiles(context.Background(), es, func(i int, at store.Entry, r io.Reader) error {
		b, err := io.ReadAll(r)
		out = append(out, got{i, at, string(b)})
		return err
	})
	return out, err
}

// A stream carries any name (newlines, tabs, non-UTF-8 bytes, leading
// dashes, 200-byte names, 40 levels deep), the exact content, nanosecond
// mtimes, modes and owners, batch after batch on one channel.
func TestStreamCarriesNastyNamesAndExactMetadata(t *testing.T) {
	sr, root := streamEnv(t)
	deep := strings.Repeat("d/", 40) + "deep.txt"
	files := map[string]string{
		"plain.txt":                 "hello",
		"-dash":                     "leading dash",
		"new\nline\tand tab":        "newline",
		"bad\xffname":               "not utf-8",
		strings.Repeat("n", 200):    "long name",
		deep:                        "deep",
		"empty":                     "",
		"dir with space/big.bin":    strings.Repeat("0123456789abcdef", 200_000),
		"hard-linked/a":             "linked",
		"quote'\"$(echo no)`x`.txt": "shell characters",
	}
	es := writeFiles(t, root, files)
	// tar sends a second name of a file as a link unless told otherwise.
	if err := os.Link(filepath.Join(root, "hard-linked/a"), filepath.Join(root, "hard-linked/b")); err != nil {
		t.Fatal(err)
	}
	files["hard-linked/b"] = files["hard-linked/a"]
	es = append(es, entryOf(t, root, "hard-linked/b"))
	fs, err := sr.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	for batch := 0; batch < 3; batch++ { // one channel serves batch after batch
		out, err := readAll(t, fs, es)
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		if len(out) != len(es) {
			t.Fatalf("batch %d: %d files streamed, want %d", batch, len(out), len(es))
		}
		for k, g := range out {
			e := es[g.i]
			want := files[e.Path]
			if g.i != k || g.content != want {
				t.Fatalf("%q: index %d (want %d), content %d bytes, want %d", e.Path, g.i, k, len(g.content), len(want))
			}
			if g.at.ModTime != e.ModTime || g.at.Size != e.Size || g.at.Mode != e.Mode || g.at.UID != e.UID || g.at.GID != e.GID {
				t.Fatalf("%q: streamed %+v, listed %+v", e.Path, g.at, e)
			}
		}
	}
}

// A file that cannot be read (vanished, no permission) is left out and
// the batch is reported as not to be trusted, so its files are read one by
// one; a new stream then works.
func TestStreamWithAnUnreadableFileIsReportedAndLeftOut(t *testing.T) {
	sr, root := streamEnv(t)
	es := writeFiles(t, root, map[string]string{"a": "one", "b": "two", "c": "three"})
	os.Remove(filepath.Join(root, es[1].Path))
	fs, err := sr.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := readAll(t, fs, es)
	fs.Close()
	if !errors.Is(err, store.ErrStreamChanged) {
		t.Fatalf("want ErrStreamChanged, got %v", err)
	}
	for _, g := range out {
		if g.i == 1 {
			t.Fatal("a vanished file was streamed")
		}
	}
	fs, err = sr.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if out, err := readAll(t, fs, []store.Entry{es[0], es[2]}); err != nil || len(out) != 2 {
		t.Fatalf("a new stream: %v, %d files", err, len(out))
	}
}

// A file written to while tar reads it makes the batch untrustworthy:
// tar checks size and ctime once done. The test holds the stream after
// the first byte (the remote tar blocks on the full channel), appends to
// the file, and reads on.
func TestStreamReportsAFileChangedWhileRead(t *testing.T) {
	sr, root := streamEnv(t)
	big := strings.Repeat("x", 64<<20) // far more than the channel window and socket buffers
	es := writeFiles(t, root, map[string]string{"big": big})
	es = append(es, writeFiles(t, root, map[string]string{"after": "next"})...)
	fs, err := sr.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	err = fs.ReadFiles(context.Background(), es, func(i int, at store.Entry, r io.Reader) error {
		if es[i].Path == "big" {
			var one [1]byte
			if _, err := io.ReadFull(r, one[:]); err != nil {
				return err
			}
			f, _ := os.OpenFile(filepath.Join(root, "big"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("appended")
			f.Close()
			time.Sleep(50 * time.Millisecond)
		}
		_, err := io.Copy(io.Discard, r)
		return err
	})
	if !errors.Is(err, store.ErrStreamChanged) {
		t.Fatalf("want ErrStreamChanged, got %v", err)
	}
}

// An error from the caller stops the stream and is returned as is.
func TestStreamStopsOnTheCallersError(t *testing.T) {
	sr, root := streamEnv(t)
	es := writeFiles(t, root, map[string]string{"a": "one", "b": "two"})
	fs, err := sr.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	stop := errors.New("disk full")
	calls := 0
	err = fs.ReadFiles(context.Background(), es, func(int, store.Entry, io.Reader) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("got %v after %d calls", err, calls)
	}
}

// The first stream runs on the connection that is already open; each
// further one gets a connection of its own; a connection whose stream
// ended carries the next one.
func TestStreamsTakeTheOpenConnectionFirst(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	sr := s.SFTP(t, filepath.Join(s.Dir, "root")) // 2 connections, the first open
	open := func(wantConn, wantOpen int) store.FileStream {
		t.Helper()
		f, err := sr.OpenStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if conn, open := store.StreamConn(sr, f); conn != wantConn || open != wantOpen {
			t.Fatalf("stream on connection %d with %d open, want %d with %d open", conn, open, wantConn, wantOpen)
		}
		return f
	}
	a := open(0, 1)
	b := open(1, 2)
	c := open(0, 2) // every connection carries one: the first open one with the fewest
	a.Close()
	c.Close()
	d := open(0, 2)
	for _, f := range []store.FileStream{b, d} {
		f.Close()
	}
}
