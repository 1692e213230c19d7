// Package report writes a run's outcome for machines (JSON) and for the
// change ticket (Markdown). Reports are written also when a run stops on an
// error, so the caller fills in what it has. Paths that are not valid UTF-8
// carry their raw bytes base64-encoded in path_b64.
package report

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Item is a path with the reason it is listed.
type Item struct {
	Path    string `json:"path"`
	PathB64 string `json:"path_b64,omitempty"`
	Reason  string `json:"reason"`
}

// NewItem builds an Item, adding path_b64 when p is not valid UTF-8.
func NewItem(p, reason string) Item {
	it := Item{Path: strings.ToValidUTF8(p, "\uFFFD"), Reason: reason}
	if !utf8.ValidString(p) {
		it.PathB64 = base64.StdEncoding.EncodeToString([]byte(p))
	}
	return it
}

// WriteJSON writes v as indented JSON to path atomically (no-op for "").
func WriteJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return writeAtomic(path, append(b, '\n'))
}

// WriteText writes s to path atomically (no-op for "").
func WriteText(path, s string) error {
	if path == "" {
		return nil
	}
	return writeAtomic(path, []byte(s))
}

func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	f, err := os.CreateTemp(dir, ".report-*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("report: %w", err)
	}
	f.Close()
	os.Chmod(f.Name(), 0o644)
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// MDEscape makes s safe inside a Markdown table cell or code span.
func MDEscape(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	r := strings.NewReplacer("|", `\|`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "`", "'")
	return r.Replace(s)
}
