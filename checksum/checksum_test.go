package checksum

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriterMatchesReader(t *testing.T) {
	data := bytes.Repeat([]byte("cutover"), 100000)
	var out bytes.Buffer
	w := NewWriter(BLAKE3, &out)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	s, n, err := Reader(BLAKE3, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatal(err, n)
	}
	if w.Sum() != s || !bytes.Equal(out.Bytes(), data) {
		t.Fatal("tee hash differs from direct hash")
	}
	if s.Algorithm() != BLAKE3 || !strings.HasPrefix(string(s), "blake3:") {
		t.Fatal(s)
	}
	// Known answer: BLAKE3 of the empty input.
	e, _, _ := Reader(BLAKE3, bytes.NewReader(nil))
	if e != "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" {
		t.Fatal(e)
	}
	h, _, _ := Reader(SHA256, strings.NewReader("abc"))
	if h != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatal(h)
	}
}

func TestContentHashIsXXH3128(t *testing.T) {
	if Content != XXH3 {
		t.Fatal(Content)
	}
	// Known answers of XXH3-128 (xxhsum -H2): the empty input, and "abc".
	if e := Bytes(Content, nil); e != "xxh3-128:99aa06d3014798d86001c324468d497f" {
		t.Fatal(e)
	}
	if s := Bytes(Content, []byte("abc")); s != "xxh3-128:06b05ab6733a618578af5f94892f3950" {
		t.Fatal(s)
	}
	// A writer with no algorithm named uses Content.
	if w := NewWriter("", nil); w.Sum().Algorithm() != XXH3 {
		t.Fatal(w.Sum())
	}
}

// A hasher given back with Release starts afresh for its next writer.
func TestReleasedHashersStartAfresh(t *testing.T) {
	for _, a := range []Algorithm{XXH3, BLAKE3, SHA256} {
		for i := 0; i < 3; i++ {
			w := NewWriter(a, nil)
			w.Write([]byte("left over from the last file"))
			w.Release()
		}
		w := NewWriter(a, nil)
		w.Write([]byte("next"))
		h := New(a)
		h.Write([]byte("next"))
		if got, want := w.Sum(), Make(a, h.Sum(nil)); got != want {
			t.Fatalf("%s: a released hasher gave %s, want %s", a, got, want)
		}
	}
}
