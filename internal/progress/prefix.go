package progress

import (
	"bytes"
	"io"
	"sync"
	"time"
)

// Prefixed returns a writer that starts every line written to w with
// prefix, for parts that log to one stream at once (presync and final run
// their file sets, databases and indexes side by side). Whole lines only
// reach w, so lines of different parts never interleave. Progress written
// through it is plain lines, never a bar: one terminal line cannot hold
// several bars.
func Prefixed(w io.Writer, prefix string) io.Writer {
	if w == nil {
		return nil
	}
	p := []byte(prefix)
	return &prefixed{w: w, prefix: func() []byte { return p }}
}

// Stamped returns a writer that starts every line written to w with the
// date and time, for logs that are read afterwards (not a terminal): a
// migration night's log says when each step happened.
func Stamped(w io.Writer) io.Writer {
	return &prefixed{w: w, prefix: func() []byte { return time.Now().AppendFormat(nil, "2006-01-02 15:04:05 ") }}
}

type prefixed struct {
	mu     sync.Mutex
	w      io.Writer
	prefix func() []byte
	part   []byte // the unfinished line
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.part = append(p.part, b...)
			break
		}
		line := append(append(p.prefix(), p.part...), b[:i+1]...)
		p.part = p.part[:0]
		b = b[i+1:]
		if _, err := p.w.Write(line); err != nil {
			return n - len(b), err
		}
	}
	return n, nil
}
