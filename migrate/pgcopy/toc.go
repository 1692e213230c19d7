package pgcopy

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// entry is one item of pg_dump's plain output: the SQL that follows a
// "-- Name: …; Type: …; Schema: …" header.
type entry struct {
	Seq    int    // position in the dump
	Name   string // as the header gives it (e.g. "jiraissue pk_jiraissue")
	Type   string // INDEX, CONSTRAINT, FK CONSTRAINT, TRIGGER, TABLE, …
	Schema string
	SQL    string
}

// key identifies an entry for the state across runs of the same dump.
func (e entry) key() string { return fmt.Sprintf("%05d %s %s %s", e.Seq, e.Type, e.Schema, e.Name) }

var tocHeader = regexp.MustCompile(`^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: .*$`)

// restrictCmd matches the psql meta-commands that recent pg_dump releases
// write at the start and end of a dump; they cannot run over the protocol.
var restrictCmd = regexp.MustCompile(`^\\(un)?restrict [A-Za-z0-9]+$`)

// parseDump splits a plain pg_dump into its preamble (the SET statements
// every session needs) and its entries. Bodies are kept verbatim (comment
// lines inside function bodies included).
func parseDump(dump []byte) (preamble string, entries []entry, err error) {
	sc := bufio.NewScanner(bytes.NewReader(dump))
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	var cur *entry
	var body, pre strings.Builder
	flush := func() {
		if cur != nil {
			cur.SQL = trimLeadingComments(body.String())
			if cur.SQL != "" {
				entries = append(entries, *cur)
			}
		}
		body.Reset()
	}
	prevDashes := false
	for sc.Scan() {
		line := sc.Text()
		if prevDashes {
			if m := tocHeader.FindStringSubmatch(line); m != nil {
				flush()
				cur = &entry{Seq: len(entries), Name: m[1], Type: m[2], Schema: m[3]}
				prevDashes = false
				continue
			}
		}
		prevDashes = line == "--"
		if restrictCmd.MatchString(line) {
			continue
		}
		if cur == nil {
			if strings.HasPrefix(line, "--") {
				continue
			}
			pre.WriteString(line)
			pre.WriteByte('\n')
		} else {
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return "", nil, err
	}
	return strings.TrimSpace(pre.String()), entries, nil
}

var (
	createIndexOn = regexp.MustCompile(`(?s)^CREATE (?:UNIQUE )?INDEX \S+ ON (?:ONLY )?(\S+) `)
	addKey        = regexp.MustCompile(`(?s)^ALTER TABLE ONLY (\S+)\s+ADD CONSTRAINT (\S+) (PRIMARY KEY|UNIQUE) `)
)

// indexTable returns the table an INDEX entry builds on.
func indexTable(sql string) string {
	if m := createIndexOn.FindStringSubmatch(sql); m != nil {
		return m[1]
	}
	return ""
}

// trimLeadingComments drops the blank and "--" lines that close an entry's
// header, so that the SQL starts with its statement.
func trimLeadingComments(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\n")
		if !strings.HasPrefix(s, "--") {
			return strings.TrimSpace(s)
		}
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return ""
		}
		s = s[i+1:]
	}
}
