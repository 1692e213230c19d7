package lucene

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seeds adds every file of the real Jira indexes with the given suffix.
func seeds(f *testing.F, match func(name string) bool) {
	err := filepath.Walk(jiraIndexes, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && match(fi.Name()) {
			b, rerr := os.ReadFile(p)
			if rerr == nil {
				f.Add(b)
			}
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

func FuzzParseCommit(f *testing.F) {
	seeds(f, func(n string) bool { return strings.HasPrefix(n, "segments_") })
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommit("segments_x", b)
		if err == nil && c == nil {
			t.Fatal("nil commit without error")
		}
	})
}

func FuzzParseSegmentInfo(f *testing.F) {
	seeds(f, func(n string) bool { return strings.HasSuffix(n, ".si") })
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseSegmentInfo(SegmentRef{Name: "_3", Codec: "Lucene70"}, b)
		ParseSegmentInfo(SegmentRef{Name: "_3", Codec: "Lucene99"}, b)
	})
}

func FuzzParseCFE(f *testing.F) {
	seeds(f, func(n string) bool { return strings.HasSuffix(n, ".cfe") || strings.HasSuffix(n, ".si") })
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseCFE(SegmentRef{Name: "_3"}, b)
	})
}

func FuzzParseHeaderAndFooter(f *testing.F) {
	seeds(f, func(n string) bool { return true })
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseHeader(b, true)
		ParseHeader(b, false)
		if len(b) >= FooterLen {
			ParseFooter(b[len(b)-FooterLen:])
		}
		w := newCRCWriter(int64(len(b)), []CFEntry{{Name: "_3.x", Offset: 3, Length: int64(len(b)) / 2}}, nil)
		w.Write(b)
	})
}
