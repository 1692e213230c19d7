package sync

import (
	"strings"
	"testing"

	"github.com/cutover/cutover/checksum"
)

// A remote hasher's answer that is not a hash of the algorithm asked for
// (too long, too short, another algorithm, not hex) is a failure of that
// file, never a panic or a hash taken in part.
func TestHashedRefusesWhatIsNotAHash(t *testing.T) {
	good := checksum.Bytes(checksum.BLAKE3, []byte("x"))
	h := newHashed(checksum.BLAKE3, 6)
	for i, s := range []checksum.Sum{
		good,
		good + "00",
		good[:len(good)-2],
		checksum.Bytes(checksum.SHA256, []byte("x")),
		checksum.Sum("blake3:" + strings.Repeat("zz", 32)),
		checksum.Sum("blake3:" + strings.Repeat("ab", 64)),
	} {
		h.set(i, s, nil)
	}
	if h.fails[0] != nil || h.sum(0) != good {
		t.Fatalf("a good hash: %v, %s", h.fails[0], h.sum(0))
	}
	for i := 1; i < 6; i++ {
		if h.fails[i] == nil {
			t.Errorf("answer %d taken for a hash", i)
		}
	}
	h.set(3, good, nil) // a read here replaces a failed remote answer
	if h.fails[3] != nil || h.sum(3) != good {
		t.Fatalf("replaced: %v, %s", h.fails[3], h.sum(3))
	}
}
