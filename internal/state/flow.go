package state

import (
	"context"
	"fmt"
	"time"
)

// FlowRun is one presync or final run of a whole installation.
type FlowRun struct {
	ID         int64
	Phase      string // presync, final
	Started    time.Time
	Finished   time.Time
	Status     string
	PredictedS float64
	ActualS    float64
	Verdict    string
	Parts      []FlowPart
}

// FlowPart is one part (a file set, a database, an index set) of a flow run.
type FlowPart struct {
	Kind       string // files, database, index
	Name       string
	PredictedS float64
	ActualS    float64
	Status     string
	Bytes      int64 // moved by this part
	Items      int64 // files or rows moved
}

// BeginFlow records the start of a presync or final.
func (s *State) BeginFlow(ctx context.Context, phase string, predicted float64) (int64, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO flow_runs(phase, started_at, status, predicted_s) VALUES (?,?,?,?)`,
		phase, time.Now().UTC().Format(time.RFC3339Nano), "running", predicted)
	if err != nil {
		return 0, fmt.Errorf("state: %w", err)
	}
	return res.LastInsertId()
}

// FinishFlow records a flow run's outcome and its parts.
func (s *State) FinishFlow(ctx context.Context, r FlowRun) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE flow_runs SET finished_at=?, status=?, actual_s=?, verdict=? WHERE id=?`,
		time.Now().UTC().Format(time.RFC3339Nano), r.Status, r.ActualS, r.Verdict, r.ID); err != nil {
		return err
	}
	for _, p := range r.Parts {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO flow_parts(flow_id, kind, name, predicted_s, actual_s, status, bytes, items)
			VALUES (?,?,?,?,?,?,?,?)`, r.ID, p.Kind, p.Name, p.PredictedS, p.ActualS, p.Status, p.Bytes, p.Items); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Flows lists the flow runs, oldest first, with their parts.
func (s *State) Flows(ctx context.Context) ([]FlowRun, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, phase, started_at, COALESCE(finished_at, ''), status, predicted_s, actual_s, verdict FROM flow_runs ORDER BY id`)
	if err != nil {
		return nil, err
	}
	var out []FlowRun
	for rows.Next() {
		var r FlowRun
		var st, fin string
		if err := rows.Scan(&r.ID, &r.Phase, &st, &fin, &r.Status, &r.PredictedS, &r.ActualS, &r.Verdict); err != nil {
			rows.Close()
			return nil, err
		}
		r.Started, _ = time.Parse(time.RFC3339Nano, st)
		r.Finished, _ = time.Parse(time.RFC3339Nano, fin)
		out = append(out, r)
	}
	rows.Close()
	for i := range out {
		prs, err := s.db.QueryContext(ctx, `SELECT kind, name, predicted_s, actual_s, status, bytes, items FROM flow_parts WHERE flow_id=? ORDER BY kind, name`, out[i].ID)
		if err != nil {
			return nil, err
		}
		for prs.Next() {
			var p FlowPart
			if err := prs.Scan(&p.Kind, &p.Name, &p.PredictedS, &p.ActualS, &p.Status, &p.Bytes, &p.Items); err != nil {
				prs.Close()
				return nil, err
			}
			out[i].Parts = append(out[i].Parts, p)
		}
		prs.Close()
	}
	return out, nil
}
