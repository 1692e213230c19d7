package progress

import (
	"io"
	"sync"
)

// Terminal is a terminal that log lines and a progress bar share. A line
// logged while the bar shows takes the bar's place (the bar's line is
// cleared first), and the bar draws itself again under it at its next
// tick, within 200 ms. Written to on their own, a log line that came while
// the bar showed was appended to the bar's line.
type Terminal struct {
	mu    sync.Mutex
	w     io.Writer
	shown bool // the bar is on the cursor's line
}

// NewTerminal returns w, a terminal, for log lines and a bar to share:
// log through it, and Start draws a bar on it.
func NewTerminal(w io.Writer) *Terminal { return &Terminal{w: w} }

// clearLine takes the cursor to the start of its line and erases the line.
const clearLine = "\r\x1b[K"

// Write writes log output, clearing the bar's line first when it shows.
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shown {
		t.shown = false
		if _, err := io.WriteString(t.w, clearLine); err != nil {
			return 0, err
		}
	}
	return t.w.Write(p)
}

// barWriter is where a bar draws itself on t.
type barWriter struct{ t *Terminal }

func (b barWriter) Write(p []byte) (int, error) {
	b.t.mu.Lock()
	defer b.t.mu.Unlock()
	b.t.shown = true
	return b.t.w.Write(p)
}
