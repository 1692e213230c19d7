package report

import (
	"math"
	"time"

	"github.com/cutover/cutover/internal/errs"
)

// Outcome is how a run ended: the same fields, filled in the same way, in
// every command's report.
type Outcome struct {
	Status     string    `json:"status"` // ok, partial, failed, interrupted
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	DurationS  float64   `json:"duration_s"`
}

// Started returns the Outcome of a run that starts now.
func Started() Outcome { return Outcome{StartedAt: time.Now().UTC()} }

// Finish records that the run ends now, and how err ends it (nil: ok).
func (o *Outcome) Finish(err error) {
	o.FinishedAt = time.Now().UTC()
	o.DurationS = math.Round(o.FinishedAt.Sub(o.StartedAt).Seconds()*1000) / 1000
	o.Status, o.Error = errs.Status(err), ""
	switch {
	case errs.Interrupted(err):
		o.Error = "interrupted by signal"
	case err != nil:
		o.Error = err.Error()
	}
}
