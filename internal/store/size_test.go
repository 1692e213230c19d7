package store

import (
	"testing"
	"time"
	"unsafe"
)

// A listing of 10^6 entries holds 10^6 of them (a run with no state, two
// listings): the issue bounds such a sync to 500 MB.
func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(Entry{}); n > 80 {
		t.Fatalf("Entry takes %d bytes, want at most 80", n)
	}
}

func TestTime(t *testing.T) {
	for _, tm := range []time.Time{time.Unix(0, 0), time.Unix(-1, 999_999_999), time.Unix(-2, 1), time.Unix(4102444800, 1), time.Unix(1700000000, 123456789)} {
		got := TimeOf(tm)
		if got.Unix() != tm.Unix() || got.UnixNano() != tm.UnixNano() || !got.Time().Equal(tm) {
			t.Errorf("%v: Unix %d UnixNano %d Time %v", tm, got.Unix(), got.UnixNano(), got.Time())
		}
	}
	if ft, err := parseFindTime("1700000000.1234567890"); err != nil || ft != TimeOf(time.Unix(1700000000, 123456789)) {
		t.Errorf("parseFindTime: %v %v", ft, err)
	}
}
